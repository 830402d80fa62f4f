"""A restore run, stage by stage: the remote now, the restore plan, the re-check of a reviewed
or saved one, and after the apply the new ids and the reminder that the manifests did not move.

Applying itself is the session's `apply`: the same retries, verification and backup first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.backup.files import BackupError, backups_dir, find_backup, load_backup, public_url
from kathansync.backup.restore import RestoreRequest, plan_restore, recheck, selected
from kathansync.errors import ApiError, KathansyncError

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.client import KathanClient
    from kathansync.models import Manifest
    from kathansync.planfile import SavedPlan
    from kathansync.session import Connection, PlanRun, Session

SCHEMA_FILE = "kathan-api-schema.json"  # `schema --update` writes it beside kathansync.yaml


def fetch_current(client: KathanClient, ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Each id's remote object now, None when it is gone: one list request when the API lists,
    else one GET per id (a 404 is "gone"; any other failure stops the restore)."""
    listed = client.list_assistants() if ids else []
    if listed is not None:
        by_id = {str(item.get("id", "")).lower(): item for item in listed}
        return {i: by_id.get(i.lower()) for i in ids}
    current: dict[str, dict[str, Any] | None] = {}
    for assistant_id, result in client.fetch_assistants(ids).items():
        if isinstance(result, ApiError) and result.status != 404:
            raise KathansyncError(f"could not read the remote state: {result}")
        current[assistant_id] = None if isinstance(result, ApiError) else result
    return current


def make_restore_plan(
    session: Session, conn: Connection, request: RestoreRequest, salt: str | None = None
) -> PlanRun:
    """The restore plan of `request` against the remote now (`salt`: a saved plan's)."""
    from kathansync.session import PlanRun

    backup, settings = request.backup, session.settings
    if backup.data.get("api_url") != public_url(settings.api_url):
        raise BackupError(
            f"backup {backup.id} was taken against {backup.data.get('api_url')}, not"
            f" {public_url(settings.api_url)}: select that API (--env / --api-url)"
        )
    if backup.data.get("environment") != settings.environment:
        raise BackupError(
            f"backup {backup.id} was taken in environment {backup.data.get('environment')!r},"
            f" not {settings.environment!r} (see --env)"
        )
    ids = [e["id"] for e in backup.entries if e.get("id")]
    ids += [c["id"] for c in backup.created if request.delete_created]
    current = fetch_current(conn.client, list(dict.fromkeys(ids)))
    manifests = _manifests(session)
    keys = conn.keys(salt)
    plan = plan_restore(
        request,
        current,
        keys=keys,
        api_url=settings.api_url,
        environment=settings.environment,
        sensitive_by_id={m.id: m.sensitive for m in manifests if m.id},
        extra_fields=_schema_fields(settings.config.root),
    )
    return PlanRun(plan, manifests, keys)


def recheck_restore(
    session: Session, conn: Connection, request: RestoreRequest, saved: SavedPlan
) -> tuple[PlanRun, dict[str, Outcome]]:
    """A reviewed or saved restore plan, re-planned now: what moved since is refused (stale)."""
    from dataclasses import replace

    fresh = make_restore_plan(session, conn, request, salt=saved.salt)
    plan, refused = recheck(saved.entries, fresh.plan)
    return replace(fresh, plan=plan), refused


def _manifests(session: Session) -> list[Manifest]:
    """Today's manifests, for masking and the id write-back. A restore is for bad days: a
    manifest that does not load must not stop it, so problems are only a remark."""
    try:
        result = session.load_result()
    except KathansyncError as error:
        session.info(f"manifests not read ({error}): no id write-back")
        return []
    if result.errors:
        session.info("some manifests do not load: ids are written back only into the others")
    return result.manifests


def _schema_fields(root: Path) -> frozenset[str]:
    """Top-level fields the API's saved schema documents (restored as backed up)."""
    try:
        data = json.loads((root / SCHEMA_FILE).read_text(encoding="utf-8"))
        return frozenset(data["schema"]["properties"])
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()


# --- saved restore plans -------------------------------------------------------------------


def save_restore_plan(run: PlanRun, request: RestoreRequest, path: Path) -> None:
    """A plan file `apply FILE` recognises as a restore: the plan, plus what to restore from."""
    from kathansync.atomic import write_atomic
    from kathansync.planfile import plan_file_data

    data = plan_file_data(run.plan, run.keys)
    data["restore_of"] = request.backup.id
    data["backup_file"] = str(request.backup.path.resolve())
    data["targets"] = list(request.targets)
    data["delete_created"] = request.delete_created
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def request_from_saved(saved: SavedPlan, session: Session) -> RestoreRequest:
    """The restore a saved restore plan was made for: its backup, targets and options."""
    data = saved.data
    path = Path(str(data.get("backup_file", "")))
    if path.is_file():
        backup = load_backup(path)
    else:
        backup = find_backup(backups_dir(session.settings.config), str(data["restore_of"]))
    if backup.id != data["restore_of"]:
        raise BackupError(f"{path}: is not backup {data['restore_of']}")
    targets = tuple(str(t) for t in data.get("targets", []))
    return RestoreRequest(backup, targets, bool(data.get("delete_created")))


# --- after the apply -------------------------------------------------------------------------


def after_restore(
    session: Session, run: PlanRun, request: RestoreRequest, outcomes: Sequence[Outcome]
) -> tuple[list[str], list[str]]:
    """(remarks, errors): the new id of each re-created assistant, written into any manifest
    that points at its old id (as a create's id is), and the reminder about the manifests."""
    from kathansync.apply import Status
    from kathansync.plan import Action
    from kathansync.writeback import write_id

    old_ids = {e["handle"]: e["id"] for e in request.backup.entries}
    remarks: list[str] = []
    errors: list[str] = []
    for outcome in outcomes:
        if outcome.action is not Action.CREATE or outcome.status is Status.FAILED:
            continue
        old = old_ids.get(outcome.handle)
        remarks.append(f"{outcome.handle}: re-created with a new id {outcome.id} (was {old})")
        for manifest in _pointing_at(run.manifests, old):
            try:
                write_id(Path(manifest.file), str(outcome.id), env=session.settings.environment)
            except (KathansyncError, OSError) as error:
                errors.append(f"{manifest.file}: could not write id {outcome.id} ({error})")
                continue
            remarks.append(f"{manifest.file}: wrote id {outcome.id}; commit this change.")
    remarks.append(reminder(request))
    return remarks, errors


def _pointing_at(manifests: Sequence[Manifest], old_id: str | None) -> list[Manifest]:
    return [m for m in manifests if old_id and m.id and m.id.lower() == old_id.lower()]


def reminder(request: RestoreRequest) -> str:
    """Restore moves the remote, never the manifests: say what the next apply would do."""
    backup = request.backup
    entries, created = selected(request)
    who = ", ".join(sorted({str(e["handle"]) for e in [*entries, *created]}))
    git = backup.data.get("git") or {}
    commit = git.get("commit") if isinstance(git, Mapping) else None
    revert = f"revert the commit ({commit[:12]})" if commit else "revert their change"
    return (
        f"the manifests still say what the apply of backup {backup.id} sent ({who}): {revert},"
        " or the next apply will redo it"
    )
