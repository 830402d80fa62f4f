"""A restore run, stage by stage: the remote now, the restore plan, the re-check of a reviewed
or saved one, and after the apply the new ids and the reminder that the manifests did not move.

Applying itself is `Run.apply`: the same retries, verification and backup first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.backup.files import BackupError, find_backup, load_backup, public_url
from kathansync.backup.restore import RestoreRequest, plan_restore, recheck, selected
from kathansync.errors import ApiError, KathansyncError, PlanFileError
from kathansync.run import Planned

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.models import Manifest
    from kathansync.plan import Plan
    from kathansync.plan.saved import SavedPlan
    from kathansync.remote.client import KathanClient
    from kathansync.run import ApiAccess, Run
    from kathansync.settings import Settings


def fetch_current(client: KathanClient, ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Each id's remote object now, None when it is gone (a 404); any other failure stops the
    restore. Many ids: one list walk, then a GET for each id the list lacks; a list can lag
    behind the API or be cut short, and an id taken for gone would be created a second time."""
    current: dict[str, dict[str, Any] | None] = {}
    for assistant_id, result in client.fetch_assistants(ids).items():
        if isinstance(result, ApiError) and result.status != 404:
            raise KathansyncError(f"could not read the remote state: {result}")
        current[assistant_id] = None if isinstance(result, ApiError) else result
    return current


def make_restore_plan(
    run: Run, api: ApiAccess, request: RestoreRequest, salt: str | None = None
) -> Planned:
    """The restore plan of `request` against the remote now (`salt`: a reviewed plan's)."""
    backup, settings = request.backup, run.settings
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
    current = fetch_current(api.client, list(dict.fromkeys(ids)))
    manifests = _manifests(run)
    keys = api.keys(salt)
    plan = plan_restore(
        request,
        current,
        keys=keys,
        api_url=settings.api_url,
        environment=settings.environment,
        sensitive_by_id={m.id: m.sensitive for m in manifests if m.id},
        extra_fields=_schema_fields(settings.root),
    )
    plan, held = _hold_unanswered(settings, plan)
    return Planned(plan, manifests, keys, held)


def _hold_unanswered(settings: Settings, plan: Plan) -> tuple[Plan, dict[str, Outcome]]:
    """Re-creates whose earlier POST got no answer, held back (they may have landed): a second
    restore must not make the assistant twice. The others are planned."""
    from dataclasses import replace

    from kathansync.apply import Outcome, Status
    from kathansync.plan import Action
    from kathansync.state import PendingCreates

    pending = PendingCreates(settings.state_dir)
    earlier = pending.for_target(settings.api_url, settings.environment)
    held = {
        c.handle: Outcome(
            c.handle,
            None,
            Action.CREATE,
            Status.FAILED,
            f"{c.handle}: an earlier re-create (sent {earlier[c.handle].sent_at}) got no answer"
            f" and may have landed: not sent again. If GET /assistants has no {c.name!r}, remove"
            f" its entry from {pending.path} and restore again",
        )
        for c in plan.changes
        if c.action is Action.CREATE and c.handle in earlier
    }
    kept = tuple(c for c in plan.changes if c.handle not in held)
    return replace(plan, changes=kept), held


def recheck_restore(
    run: Run, api: ApiAccess, request: RestoreRequest, reviewed: Plan, salt: str
) -> tuple[Planned, dict[str, Outcome]]:
    """A reviewed or saved restore plan, re-planned now: what moved since is refused (stale).

    The restore's `Run.recheck`: a restore plan is made from a backup, not from manifests."""
    from dataclasses import replace

    fresh = make_restore_plan(run, api, request, salt=salt)
    plan, refused = recheck(reviewed, fresh.plan)
    return replace(fresh, plan=plan), refused


def _manifests(run: Run) -> list[Manifest]:
    """Today's manifests, for masking and the id write-back. A restore is for bad days: a
    manifest that does not load must not stop it, so problems are only a remark."""
    try:
        result = run.load_result()
    except KathansyncError as error:
        run.info(f"manifests not read ({error}): no id write-back")
        return []
    if result.errors:
        run.info("some manifests do not load: ids are written back only into the others")
    return result.manifests


def _schema_fields(root: Path) -> frozenset[str]:
    """Fields the API's saved schema documents and the models lack, dotted, at the top level
    and inside known objects (`voice.new_setting`): restored as backed up."""
    from kathansync.load.apischema import ApiSchemaError, load_api_schema

    try:
        schema = load_api_schema(root)
    except ApiSchemaError:  # validate says what is wrong with it; a restore needs none of it
        return frozenset()
    if schema is None:
        return frozenset()
    return frozenset(".".join(path) for path in schema.extra_fields())


# --- saved restore plans -------------------------------------------------------------------


def save_restore_plan(planned: Planned, request: RestoreRequest, path: Path) -> None:
    """A plan file `apply FILE` recognises as a restore: the plan, plus what to restore from."""
    from kathansync.atomic import write_atomic
    from kathansync.plan.saved import plan_file_data

    data = plan_file_data(planned.plan, planned.keys)
    data["restore_of"] = request.backup.id
    data["backup_file"] = str(request.backup.path.resolve())
    data["targets"] = list(request.targets)
    data["delete_created"] = request.delete_created
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def load_restore_plan(path: Path, settings: Settings) -> tuple[SavedPlan, RestoreRequest]:
    """A saved restore plan, read by the typed plan-file reader (refused whole when made for
    another API, environment or version), and the restore it was made for."""
    from kathansync.plan.saved import SavedPlan

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PlanFileError(f"{path}: not a readable kathansync plan ({error})") from None
    saved = SavedPlan.from_dict(path, data)
    saved.check_target(api_url=settings.api_url, environment=settings.environment)
    return saved, _request_from(path, data, settings)


def _request_from(path: Path, data: Mapping[str, Any], settings: Settings) -> RestoreRequest:
    """The backup, targets and options a saved restore plan names."""
    restore_of, backup_file = data.get("restore_of"), data.get("backup_file", "")
    targets, delete_created = data.get("targets", []), data.get("delete_created", False)
    typed = isinstance(restore_of, str) and isinstance(backup_file, str)
    typed = typed and isinstance(targets, list) and all(isinstance(t, str) for t in targets)
    if not typed or not isinstance(delete_created, bool):
        raise PlanFileError(f"{path}: the restore plan's backup keys were edited")
    backup_path = Path(str(backup_file))
    if backup_path.is_file():
        backup = load_backup(backup_path)
    else:  # moved with the repository: look it up by id where backups live now
        backup = find_backup(settings.backups_dir, str(restore_of))
    if backup.id != restore_of:
        raise BackupError(f"{backup.path}: is not backup {restore_of}")
    return RestoreRequest(backup, tuple(targets), delete_created)


# --- after the apply -------------------------------------------------------------------------


def after_restore(
    run: Run, planned: Planned, request: RestoreRequest, outcomes: Sequence[Outcome]
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
        for manifest in _pointing_at(planned.manifests, old):
            try:
                write_id(
                    Path(manifest.file),
                    str(outcome.id),
                    env=run.settings.environment,
                    replaces=old,  # the id it points at is the one this restore re-created
                )
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
