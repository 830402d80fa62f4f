"""The conductor: one run of the pipeline, stage by stage — load, plan, apply, write back.

The CLI decides what to print and which exit code to return; a `Run` decides what happens, in
pipeline order, and reports side remarks (warnings, adoptions, ids written) through `info`.
Only the HTTP client is imported lazily, so that `validate` never pays for httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.apply import Outcome, Status, apply_changes, stale_outcome
from kathansync.errors import ApiError, ConfigError, KathansyncError, ManifestError
from kathansync.manifest import LoadResult, load_manifests
from kathansync.models import Manifest
from kathansync.plan import Action, Change, FingerprintKeys, Plan, make_plan
from kathansync.plan.adopt import adopt, find_adoptions
from kathansync.plan.prune import DEFAULT_THRESHOLD, plan_deletes
from kathansync.plan.saved import new_keys, stale_reason
from kathansync.settings import Network, Settings
from kathansync.suggest import did_you_mean

if TYPE_CHECKING:
    from kathansync.client import KathanClient

Report = Callable[[str], None]
# (label, total) -> a context manager yielding a function to call once per item done.
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[], None]]]
Remote = Mapping[str, Any]


def _quiet(_: str) -> None:
    pass


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[], None]]:
    yield lambda: None


@dataclass(frozen=True)
class ApiAccess:
    """How a run reaches the API: the client, and the key's one other use (never printed):
    keying plan fingerprints."""

    client: KathanClient
    api_key: str = field(repr=False)

    def keys(self, salt: str | None = None) -> FingerprintKeys:
        return new_keys(self.api_key, salt=salt)

    def __enter__(self) -> ApiAccess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


@dataclass(frozen=True)
class Planned:
    """A plan and the manifests it was made from (with adopted ids filled in)."""

    plan: Plan
    manifests: list[Manifest]
    keys: FingerprintKeys  # what `plan --out` needs to save it

    def pending(self, refused: Collection[str] = ()) -> list[Change]:
        """What apply will act on: the changes (adoptions included), and the refused ones."""
        return [c for c in self.plan.changes if c.has_changes or c.handle in refused]


class Run:
    """One command's run: its settings, and where its remarks and progress go."""

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

    def quietly(self) -> Run:
        """This run without remarks: for a re-check whose remarks were already made."""
        return Run(self.settings, log=self.log, progress=self.progress)

    # --- LOAD -> DESIRED ---------------------------------------------------------------------

    def load_result(self, *, strict: bool = False) -> LoadResult:
        """Every manifest and every problem; a mistake in a manifest is a Problem, not a raise."""
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
            root=settings.repository,
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

    # --- CONNECT -----------------------------------------------------------------------------

    def connect(self, network: Network | None = None) -> ApiAccess:
        """A client for the selected API; missing credentials fail here, before any request."""
        from kathansync.client import Credentials, KathanClient, RetryPolicy

        network = network or Network()
        credentials = Credentials.from_env(self.settings.environ)
        client = KathanClient(
            self.settings.api_url,
            credentials,
            timeout=network.timeout,
            retry=RetryPolicy(max_tries=network.max_retries + 1),
            parallelism=network.parallelism,
            log=self.log,
        )
        return ApiAccess(client, credentials.api_key)

    # --- PLAN: select, list, adopt, fetch, diff ----------------------------------------------

    def plan(
        self,
        api: ApiAccess,
        manifests: list[Manifest],
        *,
        targets: Sequence[str] = (),
        only: Sequence[Manifest] | None = None,
        prune: bool = False,
        force: bool = False,
        salt: str | None = None,
        fingerprint: Collection[str] = (),
    ) -> Planned:
        """The plan of the selected manifests, in five stages, each a call:

        1. select: the manifests named by `targets` (or exactly `only`); `manifests` is every
           manifest, for the ids others claim and for what prune keeps;
        2. list:   GET /assistants, when adoption (a manifest without an id) or prune needs it;
        3. adopt:  a manifest without an id takes over the one remote with its name;
        4. fetch:  the remote object of every selected manifest with an id;
        5. diff:   one Change per manifest (plus deletes, with `prune`) -> Plan.

        `fingerprint` names handles to fingerprint even when unchanged (see `recheck`).
        """
        if prune and targets:
            # Whether an assistant is referenced depends on every manifest (ids and names).
            raise ConfigError("--prune looks at every manifest: it cannot be used with --target")
        selected = list(only) if only is not None else select(manifests, targets)
        listed = self._list(api.client, selected, prune)
        selected, adopted = self._adopt(selected, manifests, listed)
        remotes = self.fetch(api.client, selected, listed)
        keys = api.keys(salt)
        deletes = self._deletes(listed or [], manifests, keys, force) if prune else []
        plan = make_plan(
            selected,
            remotes,
            api_url=self.settings.api_url,
            keys=keys,
            environment=self.settings.environment,
            deletes=deletes,
            adopted=adopted,
            fingerprint=fingerprint,
        )
        return Planned(plan, selected, keys)

    def _list(
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

    def _adopt(
        self,
        selected: list[Manifest],
        manifests: Sequence[Manifest],
        listed: Sequence[Remote] | None,
    ) -> tuple[list[Manifest], frozenset[str]]:
        """The selected manifests with adopted ids filled in, and the handles that adopted."""
        adoptions = find_adoptions(
            [m for m in selected if not m.id],
            listed or [],
            claimed=[m.id for m in manifests if m.id],
        )
        for handle, remote in adoptions.items():
            self.info(f"{handle}: adopts the existing assistant {remote['id']} (same name)")
        return adopt(selected, adoptions), frozenset(adoptions)

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

    def _deletes(
        self,
        listed: list[dict[str, Any]],
        manifests: list[Manifest],
        keys: FingerprintKeys,
        force: bool,
    ) -> list[Change]:
        """Deletes for remote assistants no manifest references, by id or (adoption) by name."""
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

    # --- RECHECK: a reviewed plan against fresh state, stale assistants refused --------------

    def recheck(
        self, api: ApiAccess, manifests: list[Manifest], reviewed: Plan, salt: str
    ) -> tuple[Planned, dict[str, Outcome]]:
        """Re-plan what `reviewed` plans from fresh inputs; refuse each assistant that moved.

        `reviewed` is a saved plan (`apply PLANFILE`) or the plan a person just said `yes` to.
        Only its changes are fetched again (no-ops need no re-check). An assistant is applied
        only when the remote and desired digests still match: then the recomputed PUT body is
        the one the reviewer saw.
        """
        by_handle = {c.handle: c for c in reviewed.changes}
        planned = {h for h, c in by_handle.items() if c.has_changes}
        again = self.plan(
            api,
            manifests,
            only=[m for m in manifests if m.handle in planned],
            prune=any(c.action is Action.DELETE for c in reviewed.changes),
            force=True,  # the threshold was checked when the plan was made and reviewed
            salt=salt,
            fingerprint=planned,  # so a stale message names only the fields that moved
        )
        fresh = {c.handle: c for c in again.plan.changes}
        refused: dict[str, Outcome] = {}
        for handle in sorted(planned):
            stale = stale_reason(by_handle[handle], fresh.get(handle))
            if stale:
                refused[handle] = stale_outcome(stale)
        # Only what was reviewed is applied: a difference that appeared since waits for the
        # next plan, and a refused assistant is reported, never sent.
        changes = [c for c in again.plan.changes if c.handle in planned]
        changes += [by_handle[h] for h in refused if h not in fresh]
        changes += [c for h, c in by_handle.items() if h not in planned]  # the no-ops
        changes.sort(key=lambda c: (c.action is Action.DELETE, c.handle))
        plan = Plan(tuple(changes), again.plan.api_url, again.plan.environment)
        return replace(again, plan=plan), refused

    # --- APPLY -> VERIFY -> write back -------------------------------------------------------

    def apply(
        self,
        api: ApiAccess,
        planned: Planned,
        refused: Mapping[str, Outcome],
        *,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Send every planned change; every assistant in the plan gets an Outcome, by handle."""
        pending = planned.pending(refused)
        outcomes = apply_changes(pending, api.client, refused=refused, on_done=on_done)
        outcomes += [
            Outcome(c.handle, c.id, c.action, Status.UNCHANGED)
            for c in planned.plan.changes
            if not c.has_changes and c.handle not in refused
        ]
        return sorted(outcomes, key=lambda o: o.handle)

    def write_back_ids(self, planned: Planned, outcomes: Sequence[Outcome]) -> list[str]:
        """Created and adopted ids belong in the manifests: the manifests are the state.

        Called after the outcomes are shown, so a file that cannot be written never hides what
        happened remotely. Returns one message per id that could not be written.
        """
        from kathansync.writeback import write_id  # ruamel round-trip: only after an apply

        by_handle = {m.handle: m for m in planned.manifests}
        adopted = {c.handle for c in planned.plan.changes if c.adopted}
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
    by_handle = {m.handle: m for m in manifests}
    for target in targets:
        if target not in by_handle:
            hint = did_you_mean(target, by_handle)
            raise ConfigError(f"--target {target}: no manifest has this handle{hint}")
    wanted = set(targets)
    return [m for m in manifests if m.handle in wanted]
