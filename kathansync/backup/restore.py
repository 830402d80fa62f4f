"""RESTORE (pure): the way back from the remote as it is now to a backup, as an ordinary Plan.

For each assistant in the backup: `~` every field whose current value differs from the
backed-up one (every field a PUT accepts, the ones no manifest manages included), `+` the
assistants that are gone (re-created with their backed-up fields, under their old name), and
with `delete_created`, `-` the assistants the apply created. Each change is planned by the same
`plan_assistant` as a manifest, the backed-up object standing in for the manifest, so diffing,
minimal bodies, fingerprints for a saved plan and masking are those of every plan.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kathansync.apply import Outcome, stale_outcome
from kathansync.backup.files import Backup, BackupError
from kathansync.models import NULLABLE_FIELDS, AssistantSpec, Manifest, Spec
from kathansync.plan import Action, Change, FingerprintKeys, Plan, plan_assistant, plan_delete
from kathansync.plan.diff import iter_leaves
from kathansync.plan.saved import as_reviewed

# Backed-up values masked in a restore plan even when no `${VAR}` produced them: a webhook URL
# often carries a token in its query string (docs/restore.md).
SECRET_FIELDS = frozenset({"call_actions.webhook_url"})


@dataclass(frozen=True)
class RestoreRequest:
    """What to restore from a backup: which assistants, and whether to delete created ones."""

    backup: Backup
    targets: Sequence[str] = ()
    delete_created: bool = False


def restorable(remote: Mapping[str, Any], extra_fields: Collection[str] = ()) -> dict[str, Any]:
    """The part of a backed-up object a PUT accepts: the body's fields (sub-fields of objects
    too), plus `extra_fields` the API's saved schema documents (dotted: `voice.new_setting`).
    A null is kept only where the request may say null; elsewhere it is the server's "unset",
    which a PUT cannot send."""
    fields = AssistantSpec.model_fields
    kept: dict[str, Any] = {}
    for key, value in remote.items():
        if key in extra_fields and key not in fields:
            kept[key] = value
        if key not in fields or (value is None and key not in NULLABLE_FIELDS):
            continue
        model = fields[key].annotation
        if isinstance(model, type) and issubclass(model, Spec) and isinstance(value, Mapping):
            kept[key] = {
                k: v
                for k, v in value.items()
                if (k in model.model_fields or f"{key}.{k}" in extra_fields) and v is not None
            }
        else:
            kept[key] = value
    return kept


def selected(request: RestoreRequest) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(backed-up entries, created entries) named by the targets (a handle or an id)."""
    backup = request.backup
    entries, created = backup.entries, backup.created if request.delete_created else []
    if not request.targets:
        return entries, created
    known = {e.get("handle") for e in [*entries, *backup.created]}
    known |= {e.get("id") for e in [*entries, *backup.created]}
    for target in request.targets:
        if target not in known:
            raise BackupError(f"--target {target}: not in backup {backup.id}")
    wanted = set(request.targets)
    return (
        [e for e in entries if {e.get("handle"), e.get("id")} & wanted],
        [e for e in created if {e.get("handle"), e.get("id")} & wanted],
    )


def plan_restore(
    request: RestoreRequest,
    current: Mapping[str, Mapping[str, Any] | None],
    *,
    keys: FingerprintKeys,
    api_url: str,
    environment: str | None,
    sensitive_by_id: Mapping[str, frozenset[str]] | None = None,
    extra_fields: Collection[str] = (),
) -> Plan:
    """The restore plan. `current` maps each backed-up and created id to its remote object now
    (None: gone). `sensitive_by_id`: paths today's manifests interpolate, masked too."""
    entries, created = selected(request)
    sensitive_by_id = sensitive_by_id or {}
    changes = [
        _plan_entry(e, current, keys, sensitive_by_id, extra_fields) for e in entries if e["id"]
    ]
    for entry in created:
        now = current.get(entry["id"])
        if now is None:  # deleted since: nothing to undo
            changes.append(Change(entry["handle"], None, entry["id"], Action.NO_OP))
        else:
            changes.append(replace(plan_delete(now, keys), handle=entry["handle"]))
    changes.sort(key=lambda c: (c.action is Action.DELETE, c.handle))
    return Plan(tuple(changes), api_url=api_url, environment=environment)


def _plan_entry(
    entry: Mapping[str, Any],
    current: Mapping[str, Mapping[str, Any] | None],
    keys: FingerprintKeys,
    sensitive_by_id: Mapping[str, frozenset[str]],
    extra_fields: Collection[str],
) -> Change:
    desired = restorable(entry.get("remote") or {}, extra_fields)
    leaves = {".".join(path) for path, _ in iter_leaves(desired)}
    sensitive = frozenset(entry.get("sensitive", ())) | sensitive_by_id.get(
        entry["id"], frozenset()
    )
    stand_in = Manifest(
        handle=entry["handle"],
        file=entry.get("file") or "",
        id=entry["id"],
        desired=desired,
        sensitive=(sensitive | SECRET_FIELDS) & leaves,
    )
    remote = current.get(entry["id"])
    change = plan_assistant(stand_in, remote, keys, fingerprint=True)
    # Re-created under its old name; the id it had is gone for good (the server picks a new one).
    name = desired.get("name") if remote is None else None
    return replace(change, file=entry.get("file"), name=name)


def recheck(reviewed: Plan, fresh: Plan) -> tuple[Plan, dict[str, Outcome]]:
    """A reviewed (or saved) restore plan against a fresh one, by the same stale check as every
    plan: what moved since is refused per assistant (nothing sent for it); a difference that
    appeared since waits for the next restore."""
    plan, stale = as_reviewed(reviewed, fresh)
    refused: dict[str, Outcome] = {}
    for handle, reason in stale.items():
        outcome = stale_outcome(reason)
        # The way forward is a fresh restore plan, not a fresh plan of the manifests.
        message = (outcome.message or "").replace("Run plan again.", "Run restore again.")
        refused[handle] = replace(outcome, message=message)
    return plan, refused
