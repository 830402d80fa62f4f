"""APPLY -> VERIFY: send each planned change, check the answer, one Outcome per assistant.

Nothing here raises for a single assistant's failure: an HTTP error, a stale plan or a server
that did not take a value are all Outcomes, so one bad assistant never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kathansync.diff import diff_leaves, value_at
from kathansync.errors import ApiError
from kathansync.plan import FORMAT_VERSION, SENSITIVE, Action, Change, Plan

if TYPE_CHECKING:
    from kathansync.client import KathanClient


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
    """`message` without the interpolated values the change sends (a server may echo them)."""
    secrets: list[str] = []
    for path in change.sensitive:
        value = value_at(change.payload, tuple(path.split(".")))
        values = value if isinstance(value, list) else [value]
        secrets += [v for v in values if isinstance(v, str) and len(v) >= 3]
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: no partial leftovers
        message = message.replace(secret, SENSITIVE)
    return message


def _show(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- Saved plans: is what the plan was based on still true? ----------------------------------


def stale_outcome(saved: Mapping[str, Any], fresh: Change | None) -> Outcome | None:
    """Compare one assistant's saved-plan entry with a fresh plan of it; None when still valid.

    `saved` is the plan file's entry: handle, id, action, and the fingerprints of the remote and
    the desired leaves the plan was computed from.
    """
    handle, assistant_id = saved["handle"], saved.get("id")
    action = Action(saved["action"])

    def stale(why: str, paths: Sequence[str] = ()) -> Outcome:
        message = f"{handle}: stale plan: {why}"
        if paths:
            message += f" ({', '.join(paths)})"
        message += "; nothing was sent for it. Run plan again."
        return Outcome(handle, assistant_id, action, Status.STALE, message, tuple(paths))

    if fresh is None and action is Action.DELETE:
        return stale("it is no longer planned for deletion (a manifest manages it, or it is gone)")
    if fresh is None:
        return stale("the manifest was removed since the plan")
    if fresh.id != assistant_id:
        return stale("the manifest's id changed since the plan")
    moved = _moved(saved.get("desired_fingerprints", {}), fresh.desired_fingerprints)
    if moved:
        return stale("the manifest changed since the plan", moved)
    moved = _moved(saved.get("remote_fingerprints", {}), fresh.remote_fingerprints)
    if moved:
        return stale("the remote changed since the plan", moved)
    if fresh.action is not action:
        return stale(f"it now plans as {fresh.action.value}, not {action.value}")
    return None


def _moved(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
