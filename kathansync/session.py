"""One run of the pipeline, stage by stage: settings, load, fetch, plan, apply, write back.

The CLI decides what to print and which exit code to return; this module decides what happens,
in pipeline order, and reports side remarks (warnings, adoptions, ids written) through `info`.
It imports the heavy stages lazily, like the CLI, so that `kathansync --help` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.errors import ApiError, ConfigError, KathansyncError, ManifestError

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.client import KathanClient
    from kathansync.config import Config
    from kathansync.manifest import LoadResult
    from kathansync.models import Manifest
    from kathansync.plan import Change, FingerprintKeys, Plan
    from kathansync.planfile import SavedPlan

Report = Callable[[str], None]
# (label, total) -> a context manager yielding a function to call once per item done.
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[], None]]]


def _quiet(_: str) -> None:
    pass


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[], None]]:
    yield lambda: None


@dataclass(frozen=True)
class Settings:
    """Where this run reads manifests from and which API it talks to."""

    api_url: str
    manifests: Path
    environment: str | None
    variables: Mapping[str, str]
    config: Config


def resolve_settings(
    *,
    directory: Path | None,
    env: str | None,
    api_url: str | None,
    environ: Mapping[str, str],
    cwd: Path,
) -> Settings:
    """The API URL, first found: --api-url; the api_url of the selected environment (naming an
    environment is a deliberate choice, stronger than a variable exported in some shell);
    KATHAN_API_URL; kathansync.yaml's top-level api_url; the seed's URL."""
    from kathansync.client import API_URL_ENV, DEFAULT_API_URL
    from kathansync.config import load_config

    config = load_config(cwd)
    selected = config.select(env)
    url = (
        api_url or selected.api_url or environ.get(API_URL_ENV) or config.api_url or DEFAULT_API_URL
    )
    manifests = directory or selected.manifests
    return Settings(url.rstrip("/"), manifests, selected.env, selected.vars, config)


@dataclass(frozen=True)
class Network:
    """How hard to push the API: requests in flight, retries after the first try, seconds."""

    parallelism: int = 8
    max_retries: int = 4  # 5 tries in all
    timeout: float = 10.0


@dataclass(frozen=True)
class Connection:
    """A client, plus the API key's one other use: keying plan fingerprints (never printed)."""

    client: KathanClient
    api_key: str = field(repr=False)

    def keys(self, salt: str | None = None) -> FingerprintKeys:
        from kathansync.planfile import new_keys

        return new_keys(self.api_key, salt=salt)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


@dataclass(frozen=True)
class PlanRun:
    """A plan and the manifests it was made from (with adopted ids filled in)."""

    plan: Plan
    manifests: list[Manifest]
    keys: FingerprintKeys  # what `plan --out` needs to save it

    def pending(self, refused: Collection[str] = ()) -> list[Change]:
        """What apply will act on: the changes (adoptions included), and the refused ones."""
        return [c for c in self.plan.changes if c.has_changes or c.handle in refused]


class Session:
    def __init__(
        self,
        settings: Settings,
        *,
        info: Report = _quiet,
        log: Report = _quiet,
        progress: ProgressFactory | None = None,
    ) -> None:
        self.settings = settings
        self.info = info  # remarks for the user (stderr)
        self.log = log  # verbose detail (stderr, --verbose)
        self.progress = progress or _no_progress  # "fetching 37/1000" while a long fetch runs

    def quietly(self) -> Session:
        """This session without remarks: for a re-check whose remarks were already made."""
        return Session(self.settings, log=self.log, progress=self.progress)

    # --- LOAD -> DESIRED ---------------------------------------------------------------------

    def load_result(self, *, strict: bool = False) -> LoadResult:
        """Every manifest and every problem; a mistake in a manifest is a Problem, not a raise."""
        from kathansync.manifest import load_manifests

        settings = self.settings
        if not settings.manifests.is_dir():
            raise ConfigError(
                f"manifests directory {settings.manifests} does not exist (see --dir)"
            )
        return load_manifests(
            settings.manifests,
            env=settings.environment,
            variables=settings.variables,
            strict=strict,
            root=settings.config.root if settings.config.path else None,
            environments=settings.config.environments or None,
        )

    def load(self) -> list[Manifest]:
        """The manifests, or ManifestError with every problem: before any network request."""
        return self.accept(self.load_result())

    def accept(self, result: LoadResult) -> list[Manifest]:
        """The loaded manifests when nothing is wrong (warnings are remarks), else ManifestError."""
        if result.errors:
            raise ManifestError(result.problems)
        for warning in result.warnings:
            self.info(str(warning))
        return result.manifests

    # --- FETCH -------------------------------------------------------------------------------

    def connect(self, network: Network | None = None) -> Connection:
        """A client for the selected API; missing credentials fail here, before any request."""
        from kathansync.client import Credentials, KathanClient, RetryPolicy

        network = network or Network()
        credentials = Credentials.from_env(os.environ)
        client = KathanClient(
            self.settings.api_url,
            credentials,
            timeout=network.timeout,
            retry=RetryPolicy(max_tries=network.max_retries + 1),
            parallelism=network.parallelism,
            log=self.log,
        )
        return Connection(client, credentials.api_key)

    def fetch(
        self,
        client: KathanClient,
        manifests: Sequence[Manifest],
        listed: Sequence[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The remote object of every manifest that has an id; any failure stops the run.

        A list already fetched (GET /assistants, for adoption or prune) is reused.
        """
        ids = [m.id for m in manifests if m.id]
        with self.progress("fetching", len(ids)) as tick:
            fetched = client.fetch_assistants(ids, listed=listed, on_each=tick)
        failed = [
            (m.handle, result)
            for m in manifests
            if m.id and isinstance(result := fetched[m.id], ApiError)
        ]
        if failed:
            raise KathansyncError(_fetch_failure(failed, self.settings.api_url))
        return {i: r for i, r in fetched.items() if not isinstance(r, ApiError)}

    # --- PLAN --------------------------------------------------------------------------------

    def plan(
        self,
        conn: Connection,
        manifests: list[Manifest],
        *,
        targets: Sequence[str] = (),
        only: Sequence[Manifest] | None = None,
        prune: bool = False,
        force: bool = False,
        salt: str | None = None,
        fingerprint: Collection[str] = (),
    ) -> PlanRun:
        """Adopt, fetch and diff the selected manifests; with `prune`, plan deletes too.

        `manifests` is every manifest (ids other manifests claim, and what prune keeps);
        `targets` (handles) or `only` (manifests) narrow what is planned. `fingerprint` names
        handles to fingerprint even when unchanged (see `replan_saved`).
        """
        from kathansync.adopt import adopt, find_adoptions
        from kathansync.plan import make_plan

        if prune and targets:
            # Whether an assistant is referenced depends on every manifest (ids and names).
            raise ConfigError("--prune looks at every manifest: it cannot be used with --target")
        selected = list(only) if only is not None else select(manifests, targets)
        listed = self._list_if_needed(conn.client, selected, prune)
        adoptions = find_adoptions(
            [m for m in selected if not m.id],
            listed or [],
            claimed=[m.id for m in manifests if m.id],
        )
        for handle, remote in adoptions.items():
            self.info(f"{handle}: adopts the existing assistant {remote['id']} (same name)")
        selected = adopt(selected, adoptions)
        remotes = self.fetch(conn.client, selected, listed)
        keys = conn.keys(salt)
        deletes = self._deletes(listed or [], manifests, keys, force) if prune else []
        plan = make_plan(
            selected,
            remotes,
            api_url=self.settings.api_url,
            keys=keys,
            environment=self.settings.environment,
            deletes=deletes,
            adopted=frozenset(adoptions),
            fingerprint=fingerprint,
        )
        return PlanRun(plan, selected, keys)

    def _list_if_needed(
        self, client: KathanClient, selected: Sequence[Manifest], prune: bool
    ) -> list[dict[str, Any]] | None:
        """The remote list, needed to prune and to adopt by name before a create (None: not
        needed, or the API cannot list)."""
        if not prune and all(m.id for m in selected):
            return None
        listed = client.list_assistants()
        if listed is None:
            if prune:
                raise ConfigError("--prune needs GET /assistants, which this API does not answer")
            self.info("the API cannot list assistants: adoption by name was not checked")
        return listed

    def _deletes(
        self,
        listed: list[dict[str, Any]],
        manifests: list[Manifest],
        keys: FingerprintKeys,
        force: bool,
    ) -> list[Change]:
        """Deletes for remote assistants no manifest references, by id or (adoption) by name."""
        from kathansync.adopt import adopt, find_adoptions
        from kathansync.prune import DEFAULT_THRESHOLD, plan_deletes

        claimed = [m.id for m in manifests if m.id]
        adoptions = find_adoptions([m for m in manifests if not m.id], listed, claimed=claimed)
        threshold = self.settings.config.prune_threshold
        return plan_deletes(
            listed,
            adopt(manifests, adoptions),
            force=force,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            keys=keys,
        )

    # --- SAVED PLAN -> fresh plan with stale ones refused ----------------------------------

    def replan_saved(
        self, conn: Connection, manifests: list[Manifest], saved: SavedPlan
    ) -> tuple[PlanRun, dict[str, Outcome]]:
        """Recompute the saved plan from fresh inputs; refuse each assistant that moved since.

        An assistant is applied only when the remote and desired digests still match the
        saved ones: then the recomputed PUT body is the one the reviewer saw.
        """
        from kathansync.apply import stale_outcome
        from kathansync.plan import Action, Plan

        entries = {entry["handle"]: entry for entry in saved.entries}
        planned = {
            h for h, e in entries.items() if e["action"] != Action.NO_OP.value or e.get("adopted")
        }
        prunes = any(e["action"] == Action.DELETE.value for e in entries.values())
        run = self.plan(
            conn,
            manifests,
            only=[m for m in manifests if m.handle in planned],  # no-ops need no re-check
            prune=prunes,
            force=True,  # the threshold was checked when the plan was made and reviewed
            salt=saved.salt,
            fingerprint=planned,  # so a stale message names only the fields that moved
        )
        fresh = {c.handle: c for c in run.plan.changes}
        refused: dict[str, Outcome] = {}
        for handle in sorted(planned):
            outcome = stale_outcome(entries[handle], fresh.get(handle))
            if outcome:
                refused[handle] = outcome
        # Only what the saved plan planned is applied: a difference that appeared since waits
        # for the next plan, and a refused assistant is reported, never sent.
        changes = [change for change in run.plan.changes if change.handle in planned]
        changes += [_from_entry(entries[h]) for h in refused if h not in fresh]
        changes += [_from_entry(e) for h, e in entries.items() if h not in planned]  # no-ops
        changes.sort(key=lambda c: (c.action is Action.DELETE, c.handle))
        plan = Plan(tuple(changes), run.plan.api_url, run.plan.environment)
        return replace(run, plan=plan), refused

    # --- APPLY -> VERIFY -> write back -------------------------------------------------------

    def apply(
        self,
        conn: Connection,
        run: PlanRun,
        refused: Mapping[str, Outcome],
        *,
        on_done: Callable[[Outcome], None] | None = None,
        on_start: Callable[[Change], None] | None = None,
    ) -> list[Outcome]:
        """Send every planned change; every assistant in the plan gets an Outcome, by handle."""
        from kathansync.apply import Outcome, Status, apply_changes

        pending = run.pending(refused)
        outcomes = apply_changes(
            pending, conn.client, refused=refused, on_done=on_done, on_start=on_start
        )
        outcomes += [
            Outcome(c.handle, c.id, c.action, Status.UNCHANGED)
            for c in run.plan.changes
            if not c.has_changes and c.handle not in refused
        ]
        return sorted(outcomes, key=lambda o: o.handle)

    def write_back_ids(self, run: PlanRun, outcomes: Sequence[Outcome]) -> list[str]:
        """Created and adopted ids belong in the manifests: the manifests are the state.

        Called after the outcomes are shown, so a file that cannot be written never hides what
        happened remotely. Returns one message per id that could not be written.
        """
        from kathansync.apply import Status
        from kathansync.plan import Action
        from kathansync.writeback import write_id

        by_handle = {m.handle: m for m in run.manifests}
        adopted = {c.handle for c in run.plan.changes if c.adopted}
        failed: list[str] = []
        for outcome in outcomes:
            # A create exists once the server answered with an id, converged or not: without
            # the id in the manifest, the next plan would create it again.
            created = outcome.action is Action.CREATE and outcome.status is not Status.FAILED
            kept = outcome.handle in adopted and outcome.status.ok
            if not outcome.id or not (created or kept):
                continue
            manifest = by_handle[outcome.handle]
            try:
                write_id(Path(manifest.file), outcome.id, env=self.settings.environment)
            except (KathansyncError, OSError) as error:
                failed.append(
                    f"{manifest.file}: could not write id {outcome.id} ({error}); add"
                    f" `id: {outcome.id}` by hand, or the next plan will adopt it by name"
                )
                continue
            self.info(f"{manifest.file}: wrote id {outcome.id}; commit this change.")
        return failed


def _fetch_failure(failed: Sequence[tuple[str, ApiError]], api_url: str) -> str:
    """One line per assistant, or one line for all when they failed alike (a wrong URL, a bad
    key, the API down), with a hint when every assistant is 'not found'."""
    reasons = {error.reason for _, error in failed}
    if len(failed) > 1 and len(reasons) == 1:
        lines = [f"all {len(failed)} assistants: {reasons.pop()}"]
    else:
        lines = [str(error.for_handle(handle)) for handle, error in failed]
    if len(failed) > 1 and all(error.status == 404 for _, error in failed):
        lines.append(f"every assistant is 'not found': is the API URL right? ({api_url})")
    return "could not read the remote state:\n  " + "\n  ".join(lines)


def select(manifests: list[Manifest], targets: Sequence[str]) -> list[Manifest]:
    """The manifests named by --target (all when none); an unknown handle is an error."""
    if not targets:
        return manifests
    from kathansync.suggest import did_you_mean

    by_handle = {m.handle: m for m in manifests}
    for target in targets:
        if target not in by_handle:
            hint = did_you_mean(target, by_handle)
            raise ConfigError(f"--target {target}: no manifest has this handle{hint}")
    wanted = set(targets)
    return [m for m in manifests if m.handle in wanted]


def _from_entry(entry: Mapping[str, Any]) -> Change:
    """A saved-plan entry as it was planned: a no-op, or one refused because it is gone."""
    from kathansync.plan import Action, Change

    return Change(entry["handle"], entry.get("file"), entry.get("id"), Action(entry["action"]))
