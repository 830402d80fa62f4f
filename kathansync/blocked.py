"""Why an assistant is held back, or a run stops, before anything is sent: the wording.

An id the API does not know and a create that may already have landed hold back one assistant
(the others are still planned); a failure every assistant shares is said once, not per handle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kathansync.apply import Outcome, Status
from kathansync.errors import ApiError
from kathansync.models import Manifest
from kathansync.plan import Action
from kathansync.state import PendingCreate

ID_PLACEHOLDER = "<id>"


def unknown_id(manifest: Manifest, api_url: str) -> Outcome:
    """A manifest whose id the API answers 404 for: what to do about it."""
    message = (
        f"{manifest.handle}: assistant {manifest.id} not found at {api_url} (HTTP 404); nothing"
        f" is planned for it. If it was deleted, remove `id:` from {manifest.file} to create it"
        " again; if it exists under another id, `kathansync import` that one to adopt it"
    )
    return Outcome(
        manifest.handle, manifest.id, Action.UPDATE, Status.FAILED, message, http_status=404
    )


def held_create(pending: PendingCreate) -> Outcome:
    """A create refused because an earlier POST for the same handle got no answer."""
    name = f" named {pending.name!r}" if pending.name else ""
    message = (
        f"{pending.handle}: an earlier create (sent {pending.sent_at}) got no answer and may"
        f" still appear; not creating it again until GET /assistants lists an assistant{name}"
        " (then it is adopted). If it never will, apply with --force-create"
    )
    return Outcome(pending.handle, None, Action.CREATE, Status.FAILED, message)


def held_creates(
    selected: Sequence[Manifest], pending: Mapping[str, PendingCreate]
) -> dict[str, Outcome]:
    """handle -> the Outcome holding back each create whose earlier POST got no answer."""
    return {
        m.handle: held_create(pending[m.handle])
        for m in selected
        if not m.id and m.handle in pending
    }


def fetch_failure(failed: Sequence[tuple[str, str, ApiError]], api_url: str) -> str:
    """Failures of reading the remote state, (handle, id, error) each: a failure shared by
    several assistants (a bad key, the API down) is said once for all of them, with a hint
    when every assistant is 'not found'."""
    groups: dict[str, list[tuple[str, ApiError]]] = {}
    for handle, assistant_id, error in failed:
        shared = error.reason.replace(assistant_id, ID_PLACEHOLDER)
        groups.setdefault(shared, []).append((handle, error))
    lines = []
    for shared, members in groups.items():
        if len(members) == 1:
            handle, error = members[0]
            lines.append(str(error.for_handle(handle)))
        elif len(members) == len(failed):
            lines.append(f"all {len(failed)} assistants: {shared}")
        else:
            handles = ", ".join(handle for handle, _ in members)
            lines.append(f"{len(members)} assistants ({handles}): {shared}")
    if len(failed) > 1 and all(error.status == 404 for _, _, error in failed):
        lines.append(f"every assistant is 'not found': is the API URL right? ({api_url})")
    return "could not read the remote state:\n  " + "\n  ".join(lines)
