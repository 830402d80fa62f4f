"""APPLY -> VERIFY: send each planned change, check the answer, one Outcome per assistant.

Nothing here raises for a single assistant's failure: an HTTP error, a stale plan or a server
that did not take a value are all Outcomes, so one bad assistant never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kathansync.errors import ApiError
from kathansync.plan import FORMAT_VERSION, SENSITIVE, Action, Change, Plan
from kathansync.plan.diff import diff_leaves
from kathansync.plan.saved import Stale

if TYPE_CHECKING:
    from kathansync.remote.client import KathanClient


# The client's wording for a create that may have landed (see KathanClient.create_assistant).
MAYBE_CREATED = "may have been created"


class Status(StrEnum):
    APPLIED = "applied"
    CREATED = "created"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    STALE = "stale"
    FAILED = "failed"
    NOT_CONVERGED = "did-not-converge"

    @property
    def ok(self) -> bool:
        return self in {Status.APPLIED, Status.CREATED, Status.DELETED, Status.UNCHANGED}


@dataclass(frozen=True)
class Outcome:
    handle: str
    id: str | None
    action: Action
    status: Status
    message: str | None = None
    paths: tuple[str, ...] = ()
    http_status: int | None = None
    # A create with no clear answer (the POST timed out, or its answer was unreadable): the
    # assistant may exist, so the run remembers it rather than creating it again. Not in the
    # JSON result: the message says it.
    maybe_created: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "id": self.id,
            "action": self.action.value,
            "status": self.status.value,
            "message": self.message,
            "paths": list(self.paths),
            "http_status": self.http_status,
        }


def stale_outcome(stale: Stale) -> Outcome:
    """The outcome of an assistant that moved since it was planned: nothing is sent for it."""
    change = stale.change
    return Outcome(
        change.handle, change.id, change.action, Status.STALE, stale.message, stale.paths
    )


def result_dict(plan: Plan, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The serialised apply result (`apply --format json`), same family as Plan.to_dict()."""
    summary = {status.value.replace("-", "_"): 0 for status in Status}
    for outcome in outcomes:
        summary[outcome.status.value.replace("-", "_")] += 1
    return {
        "format_version": FORMAT_VERSION,
        "environment": plan.environment,
        "api_url": plan.api_url,
        "outcomes": [o.to_dict() for o in outcomes],
        "summary": summary,
    }


def succeeded(outcomes: Sequence[Outcome]) -> bool:
    return all(o.status.ok for o in outcomes)


def apply_changes(
    changes: Sequence[Change],
    client: KathanClient,
    *,
    refused: Mapping[str, Outcome] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_start: Callable[[Change], None] | None = None,
) -> list[Outcome]:
    """Apply every change concurrently; outcomes come back in the order of `changes`.

    `refused` holds outcomes decided before sending (stale plans): nothing is sent for those.
    `on_start` hears of each change before its request, so an interrupted apply can tell what
    was in flight from what was never sent.
    """
    refused = refused or {}

    def run(change: Change) -> Outcome:
        if on_start:
            on_start(change)
        try:
            outcome = refused.get(change.handle) or _apply_one(change, client)
        except Exception as error:  # a bug must not hide the outcomes of the others
            message = f"{change.handle}: unexpected error: {type(error).__name__}: {error}"
            outcome = Outcome(
                change.handle, change.id, change.action, Status.FAILED, _scrub(message, change)
            )
        if on_done:
            on_done(outcome)
        return outcome

    return client.run_concurrently(run, list(changes))


def _apply_one(change: Change, client: KathanClient) -> Outcome:
    if change.action is Action.NO_OP:
        return Outcome(change.handle, change.id, change.action, Status.UNCHANGED)
    try:
        if change.action is Action.DELETE:
            assert change.id is not None
            client.delete_assistant(change.id)
            return Outcome(change.handle, change.id, change.action, Status.DELETED)
        if change.action is Action.CREATE:
            response = client.create_assistant(change.payload)
            done = Status.CREATED
        else:
            assert change.id is not None
            response = client.update_assistant(change.id, change.payload)
            done = Status.APPLIED
    except ApiError as error:
        # A server may echo a value it rejected: never print an interpolated one.
        return Outcome(
            change.handle,
            change.id,
            change.action,
            Status.FAILED,
            message=_scrub(str(error.for_handle(change.handle)), change),
            http_status=error.status,
            maybe_created=change.action is Action.CREATE and MAYBE_CREATED in error.reason,
        )
    assistant_id = change.id or _str_or_none(response.get("id"))
    return _verify(change, response, assistant_id, done)


def _verify(
    change: Change, response: Mapping[str, Any], assistant_id: str | None, done: Status
) -> Outcome:
    """Did the server keep what was sent? Every leaf of the body is checked, the siblings sent
    back inside whole objects too: a server that dropped one lost data the manifest never
    mentioned, and must not pass silently."""
    drift = diff_leaves(change.payload, response)
    if not drift:
        paths = tuple(f.path for f in change.fields)
        return Outcome(change.handle, assistant_id, change.action, done, paths=paths)
    shown = [
        f"{d.dotted} = {SENSITIVE if d.dotted in change.sensitive else _show(d.before)}"
        for d in drift
    ]
    return Outcome(
        change.handle,
        assistant_id,
        change.action,
        Status.NOT_CONVERGED,
        message=f"{change.handle}: the server's answer differs from what was sent: "
        + ", ".join(shown),
        paths=tuple(d.dotted for d in drift),
    )


def _scrub(message: str, change: Change) -> str:
    """`message` without the interpolated values the change sends, in any form a server may
    echo them (case changed, JSON-escaped, cut off)."""
    from kathansync.remote.redact import scrub, sensitive_values

    return scrub(message, sensitive_values(change.payload, change.sensitive), marker=SENSITIVE)


def _show(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
