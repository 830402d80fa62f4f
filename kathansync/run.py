"""The conductor: one run of the pipeline, stage by stage — load, plan, apply, write back.

The CLI decides what to print and which exit code to return; a `Run` decides what happens, in
pipeline order, and reports side remarks (warnings, adoptions, ids written) through `info`.
Only the HTTP client is imported lazily, so that `validate` never pays for httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kathansync.apply import Outcome, Status, apply_changes, stale_outcome
from kathansync.backup.files import Backup, back_up, record_outcomes
from kathansync.blocked import fetch_failure, held_creates, unknown_id
from kathansync.connect import ApiAccess, connect
from kathansync.errors import ApiError, ConfigError, KathansyncError, ManifestError
from kathansync.load import LoadResult
from kathansync.models import Manifest
from kathansync.plan import Action, Change, FingerprintKeys, Plan, PlansAhead, make_plan
from kathansync.plan.adopt import adopt, find_adoptions
from kathansync.plan.prune import DEFAULT_THRESHOLD, plan_deletes
from kathansync.plan.saved import as_reviewed
from kathansync.plan.select import select
from kathansync.record import record_ids
from kathansync.remote.redact import sensitive_values, with_parts
from kathansync.settings import Network, Settings, load_result
from kathansync.state import PendingCreates, apply_lock, creates_settled

if TYPE_CHECKING:
    from kathansync.remote.client import KathanClient

__all__ = ["ApiAccess", "Planned", "Run"]

Report = Callable[[str], None]
# (label, total) -> a context manager yielding a function to call once per item done.
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[], None]]]


def _quiet(_: str) -> None:
    pass


@contextmanager
def _no_progress(label: str, total: int) -> Iterator[Callable[[], None]]:
    yield lambda: None


@dataclass(frozen=True)
class Planned:
    """A plan and the manifests it was made from (with adopted ids filled in)."""

    plan: Plan
    manifests: list[Manifest]
    keys: FingerprintKeys  # what `plan --out` needs to save it
    # Selected assistants that could not be planned (an id the API does not know, a create
    # that may already have landed): failed outcomes, reported while the others are planned.
    blocked: Mapping[str, Outcome] = field(default_factory=dict)

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
        self.last_backup: Backup | None = None  # taken by this run's last apply (issue 15)
        self._early: tuple[Network, ApiAccess] | None = None  # see walking

    def quietly(self) -> Run:
        """This run without remarks: for a re-check whose remarks were already made."""
        return Run(self.settings, log=self.log, progress=self.progress)

    def locked(self, command: str) -> AbstractContextManager[None]:
        """One apply at a time per repository: `.kathansync/lock`, held for the whole block."""
        return apply_lock(self.settings.state_dir, command)

    # --- LOAD -> DESIRED ---------------------------------------------------------------------

    def load_result(self, *, strict: bool = False) -> LoadResult:
        """Every manifest and every problem; a mistake in a manifest is a Problem, not a raise."""
        return load_result(self.settings, strict=strict)

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
        """A client for the selected API; missing credentials fail here, before any request.
        Inside `walking`, the client already walking the list (same network)."""
        network = network or Network()
        early, self._early = self._early, None
        if early is not None and early[0] == network:
            return early[1]
        if early is not None:
            early[1].__exit__()
        return connect(self.settings, network, self.info, self.log)

    @contextmanager
    def walking(self, network: Network, access: ApiAccess | None) -> Iterator[None]:
        """`access`, a client already walking GET /assistants (connect.listing_early, started
        before this module was imported), is the one `connect` takes in the block; else it is
        stopped at the block's end, unsaid."""
        self._early = None if access is None else (network, access)
        try:
            yield
        finally:
            if self._early is not None and access is not None:  # never connected: not read
                self._early = None
                access.__exit__()

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
        force_create: bool = False,
    ) -> Planned:
        """The plan of the selected manifests, in five stages, each a call:

        1. select: the manifests named by `targets` (or exactly `only`); `manifests` is every
           manifest, for the ids others claim and for what prune keeps;
        2. list:   GET /assistants, when adoption (a manifest without an id) or prune needs it;
        3. adopt:  a manifest without an id takes over the one remote with its name;
        4. fetch:  the remote object of every selected manifest with an id;
        5. diff:   one Change per manifest (plus deletes, with `prune`) -> Plan.

        A manifest whose id the API does not know, or whose earlier create may still land
        (unless `force_create`), is held back as `blocked`. `fingerprint`: see `recheck`.
        """
        selected = _selected(manifests, targets, only, prune)
        secrets = (v for m in manifests for v in sensitive_values(m.desired, m.sensitive))
        api.client.add_secrets(with_parts(secrets, self.settings.variables, self.settings.environ))
        listed = self._list(api.client, selected, prune)
        selected, adopted = self._adopt(selected, manifests, listed)
        held = {} if force_create else self._held_creates(selected)
        keys = api.keys(salt)
        ahead = PlansAhead(selected, keys, adopted=adopted, fingerprint=fingerprint)
        if api.early is not None:  # while the list walked early still arrives, plan what came
            api.early.meanwhile(ahead.add)
        remotes, unknown = self._fetch_known(api.client, selected, listed)
        blocked = {**held, **unknown}
        deletes = self._deletes(listed or [], manifests, keys, force) if prune else []
        plan = make_plan(
            [m for m in selected if m.handle not in blocked],
            remotes,
            api_url=self.settings.api_url,
            keys=keys,
            environment=self.settings.environment,
            deletes=deletes,
            adopted=adopted,
            fingerprint=fingerprint,
            ahead=ahead,
        )
        return Planned(plan, selected, keys, blocked)

    def _list(
        self, client: KathanClient, selected: Sequence[Manifest], prune: bool
    ) -> list[dict[str, Any]] | None:
        """The remote list, needed to prune and to adopt by name before a create (None: not
        needed; empty: the API cannot list)."""
        if not prune and all(m.id for m in selected):
            return None
        listed = client.list_assistants(expected=len({m.id for m in selected if m.id}))
        if listed is None:
            if prune:
                raise ConfigError("--prune needs GET /assistants, which this API does not answer")
            self.info("the API cannot list assistants: adoption by name was not checked")
            return []  # the fetch then GETs each id, rather than asking for the list again
        return listed

    def _adopt(
        self,
        selected: list[Manifest],
        manifests: Sequence[Manifest],
        listed: Sequence[Mapping[str, Any]] | None,
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
        """The remote object of every manifest that has an id; any failure stops the run."""
        remotes, unknown = self._fetch_known(client, manifests, listed)
        if unknown:
            lines = [o.message or o.handle for o in unknown.values()]
            raise KathansyncError("could not read the remote state:\n  " + "\n  ".join(lines))
        return remotes

    def _fetch_known(
        self,
        client: KathanClient,
        manifests: Sequence[Manifest],
        listed: Sequence[dict[str, Any]] | None,
    ) -> tuple[dict[str, Any], dict[str, Outcome]]:
        """The remote object of every manifest with an id, and (handle -> failed outcome) for
        the ids the API does not know: those are held back, the others still planned.

        Any other failure stops the run, said once when every assistant failed alike; every
        id unknown at once reads as a wrong URL, and stops too. A list already fetched (GET
        /assistants, for adoption or prune) is reused.
        """
        ids = [m.id for m in manifests if m.id]
        with self.progress("fetching", len(ids)) as tick:
            fetched = client.fetch_assistants(ids, listed=listed, on_each=tick)
        failed = [
            (m, result) for m in manifests if m.id and isinstance(result := fetched[m.id], ApiError)
        ]
        unknown: dict[str, Outcome] = {}
        every_id_unknown = len(failed) == len(ids) > 1
        if all(error.status == 404 for _, error in failed) and not every_id_unknown:
            unknown = {m.handle: unknown_id(m, self.settings.api_url) for m, _ in failed}
        elif failed:
            triples = [(m.handle, m.id or "", error) for m, error in failed]
            raise KathansyncError(fetch_failure(triples, self.settings.api_url))
        return {i: r for i, r in fetched.items() if not isinstance(r, ApiError)}, unknown

    def _held_creates(self, selected: Sequence[Manifest]) -> dict[str, Outcome]:
        """Creates refused because an earlier POST for the handle got no answer."""
        if all(m.id for m in selected):
            return {}
        pending = PendingCreates(self.settings.state_dir)
        return held_creates(
            selected, pending.for_target(self.settings.api_url, self.settings.environment)
        )

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
        self,
        api: ApiAccess,
        manifests: list[Manifest],
        reviewed: Plan,
        salt: str,
        *,
        force_create: bool = False,
    ) -> tuple[Planned, dict[str, Outcome]]:
        """Re-plan what `reviewed` plans from fresh inputs; refuse each assistant that moved.

        `reviewed` is a saved plan (`apply PLANFILE`) or the plan a person just said `yes` to.
        Only its changes are fetched again (no-ops need no re-check). An assistant is applied
        only when the remote and desired digests still match: then the recomputed PUT body is
        the one the reviewer saw.
        """
        planned = {c.handle for c in reviewed.changes if c.has_changes}
        again = self.plan(
            api,
            manifests,
            only=[m for m in manifests if m.handle in planned],
            prune=any(c.action is Action.DELETE for c in reviewed.changes),
            force=True,  # the threshold was checked when the plan was made and reviewed
            salt=salt,
            fingerprint=planned,  # so a stale message names only the fields that moved
            force_create=force_create,
        )
        # Only what was reviewed is applied; a refused assistant is reported, never sent.
        plan, stale = as_reviewed(reviewed, again.plan, again.blocked)
        refused = {**again.blocked, **{h: stale_outcome(s) for h, s in stale.items()}}
        return replace(again, plan=plan, blocked={}), refused

    # --- APPLY -> VERIFY -> write back -------------------------------------------------------

    def apply(
        self,
        api: ApiAccess,
        planned: Planned,
        refused: Mapping[str, Outcome],
        *,
        on_done: Callable[[Outcome], None] | None = None,
        on_start: Callable[[Change], None] | None = None,
        backup: bool = True,
        restore_of: str | None = None,
    ) -> list[Outcome]:
        """Send every planned change, after a backup of the remote objects it changes (none
        written: BackupError, nothing sent); every assistant in the plan gets an Outcome.

        A create with no clear answer is remembered in `.kathansync/pending-creates.json`, and
        forgotten once a create or an adoption of that handle succeeds.
        """
        pending = planned.pending(refused)
        taken = None
        if backup:  # before the first request: no backup, no request
            taken = back_up(self.settings, planned.plan, pending, refused, restore_of, self.info)
        self.last_backup = taken  # its outcomes are recorded below, or by a Ctrl-C's handler
        outcomes = apply_changes(
            pending, api.client, refused=refused, on_done=on_done, on_start=on_start
        )
        if taken is not None:  # the ids created, for `restore --delete-created`
            self.last_backup = record_outcomes(taken, outcomes, self.info)
        outcomes += [
            Outcome(c.handle, c.id, c.action, Status.UNCHANGED)
            for c in planned.plan.changes
            if not c.has_changes and c.handle not in refused
        ]
        outcomes += planned.blocked.values()
        self._remember_creates(planned, outcomes)
        # The plan's order: by handle, deletes last (a delete's handle is its id).
        return sorted(outcomes, key=lambda o: (o.action is Action.DELETE, o.handle))

    def _remember_creates(self, planned: Planned, outcomes: Sequence[Outcome]) -> None:
        maybe, done = creates_settled(planned.plan.changes, planned.manifests, outcomes)
        if maybe or done:
            settings = self.settings
            PendingCreates(settings.state_dir).update(
                settings.api_url, settings.environment, add=maybe, remove=done
            )

    def write_back_ids(self, planned: Planned, outcomes: Sequence[Outcome]) -> list[str]:
        """Created and adopted ids into their manifests (see record.py); one message per id
        that could not be written."""
        adopted = {c.handle for c in planned.plan.changes if c.adopted}
        return record_ids(
            planned.manifests, adopted, outcomes, env=self.settings.environment, info=self.info
        )


def _selected(
    manifests: list[Manifest], targets: Sequence[str], only: Sequence[Manifest] | None, prune: bool
) -> list[Manifest]:
    """Stage 1: the manifests named by `targets`, or exactly `only`."""
    if prune and targets:
        # Whether an assistant is referenced depends on every manifest (ids and names).
        raise ConfigError("--prune looks at every manifest: it cannot be used with --target")
    return list(only) if only is not None else select(manifests, targets)
