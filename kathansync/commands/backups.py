"""history and restore: the backups taken before each apply, and the way back, shown as a plan."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kathansync.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    FORMATS,
    Options,
    common_options,
    network_from,
    network_options,
    options_from,
    render_outcomes_for,
    render_plan_for,
    session_for,
    target_option,
)

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.backup.files import Backup
    from kathansync.backup.restore import RestoreRequest
    from kathansync.run import ApiAccess, Planned, Run

# --- history ---------------------------------------------------------------------------------


@click.command()
@click.option("--env", envvar="KATHANSYNC_ENV", help="Only the backups of this environment.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def history(env: str | None, fmt: str) -> int:
    """List the backups taken before each apply, newest first.

    One line per backup: time (UTC), short id, environment, commit (branch), what the apply
    updated, deleted and created. Undo one with `kathansync restore ID`.

    \b
    Examples:
      kathansync history
      kathansync history --env production --format json
    """
    from kathansync.backup.files import list_backups
    from kathansync.settings import resolve_settings

    settings = resolve_settings(
        directory=None, env=env, api_url=None, environ=os.environ, cwd=Path.cwd()
    )  # --env is checked against kathansync.yaml here
    directory = settings.backups_dir
    backups = [b for b in reversed(list_backups(directory)) if env is None or _env(b) == env]
    if fmt == "json":
        data = {"format_version": "1", "backups": [b.summary_dict() for b in backups]}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif not backups:
        click.echo(f"No backups in {directory}.")
    for backup in backups if fmt == "text" else []:
        click.echo(history_line(backup))
    return EXIT_OK


def backup_note(backup: Backup | None, environ: Mapping[str, str]) -> str:
    """A line for the apply's markdown job summary: which backup to restore, and where it is."""
    if backup is None:
        return ""
    run_id = environ.get("GITHUB_RUN_ID")
    where = f" (artifact `kathansync-backup-{run_id}`)" if run_id else ""
    return (
        f"\nBackup taken before this apply: `{backup.id}`{where}."
        f" Undo with `kathansync restore {backup.id}` (docs/restore.md).\n"
    )


def _env(backup: Backup) -> str | None:
    value = backup.data.get("environment")
    return value if isinstance(value, str) else None


def history_line(backup: Backup) -> str:
    """`2026-11-29 15:38:01Z  3fa9c2  staging  3d72684 (main)  2 updated, 0 deleted, 1 created`"""
    info = backup.summary_dict()
    when = str(info["when"] or "?").replace("T", " ")
    commit = str(info["commit"] or "-")[:7] + (f" ({info['branch']})" if info["branch"] else "")
    counts = ", ".join(f"{n} {what}" for what, n in info["counts"].items())
    line = f"{when}  {info['id']}  {info['environment'] or '-'}  {commit}  {counts}"
    return line + (f"  (restore of {info['restore_of']})" if info["restore_of"] else "")


# --- restore ---------------------------------------------------------------------------------


@click.command()
@click.argument("backup_ref", metavar="BACKUP")
@common_options
@target_option
@click.option(
    "--delete-created", is_flag=True, help="Also delete the assistants that apply created."
)
@click.option("--auto-approve", is_flag=True, help="Do not ask for 'yes'.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the restore plan for `apply FILE` instead of applying it.",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@network_options
def restore(
    backup_ref: str,
    targets: tuple[str, ...],
    delete_created: bool,
    auto_approve: bool,
    out: Path | None,
    fmt: str,
    **kwargs: Any,
) -> int:
    """Put the remote back as a backup holds it, shown as a plan first.

    BACKUP is a short id from `kathansync history` or a backup file. `~` fields that differ
    from the backup, `+` assistants to re-create (they get a new id), `-` with
    --delete-created the assistants the apply created. The manifests are not changed.

    \b
    Examples:
      kathansync history
      kathansync restore 3fa9c2
      kathansync restore 3fa9c2 --out undo.json && kathansync apply undo.json
    """
    from kathansync.backup.files import find_backup
    from kathansync.backup.restore import RestoreRequest

    opts = options_from(kwargs)
    session = session_for(opts)
    backup = find_backup(session.settings.backups_dir, backup_ref)
    request = RestoreRequest(backup, targets, delete_created)
    # Applied under the apply lock, as `apply` is; a plan only saved (--out) needs none.
    lock = nullcontext() if out else session.locked(f"kathansync restore {backup.id}")
    with lock, session.connect(network_from(kwargs)) as conn:
        return _restore(session, conn, request, out, auto_approve, fmt, opts)


def _restore(
    session: Run,
    conn: ApiAccess,
    request: RestoreRequest,
    out: Path | None,
    auto_approve: bool,
    fmt: str,
    opts: Options,
) -> int:
    from kathansync.backup.restoring import make_restore_plan, recheck_restore, save_restore_plan
    from kathansync.commands.sync import confirm_plan, show_plan

    run = make_restore_plan(session, conn, request)
    if out:
        click.echo(render_plan_for(run.plan, fmt, opts), nl=False)
        save_restore_plan(run, request, out)
        opts.info(f"Saved the restore plan to {out}; apply it with: kathansync apply {out}")
        return EXIT_OK
    refused: dict[str, Outcome] = {}
    if run.plan.has_changes and not auto_approve:
        if not confirm_plan(run.plan, fmt, opts):
            return EXIT_ERROR
        # As apply does: only what the person saw is sent; what moved meanwhile is refused.
        quiet = session.quietly()
        run, refused = recheck_restore(quiet, conn, request, run.plan, run.keys.salt)
    elif run.plan.has_changes:
        show_plan(run.plan, fmt, opts)
    return _apply_restore(session, conn, run, refused, request, fmt, opts)


def _apply_restore(
    session: Run,
    conn: ApiAccess,
    run: Planned,
    refused: dict[str, Outcome],
    request: RestoreRequest,
    fmt: str,
    opts: Options,
    backup: bool = True,
) -> int:
    """Apply like `apply` (a backup first), then the new ids and the reminder."""
    from kathansync.apply import succeeded
    from kathansync.backup.restoring import after_restore

    if not run.pending(refused) and not run.blocked:
        if fmt == "text":
            click.echo("No changes. The remote already matches the backup.")
        return EXIT_OK
    with opts.progress("restoring", len(run.pending(refused))) as tick:
        outcomes = session.apply(
            conn,
            run,
            refused,
            on_done=lambda _: tick(),
            backup=backup,
            restore_of=request.backup.id,
        )
    click.echo(render_outcomes_for(run.plan, outcomes, fmt, opts), nl=False)
    remarks, errors = after_restore(session, run, request, outcomes)
    for remark in remarks:  # not opts.info: -q must not hide that the manifests disagree
        click.echo(remark, err=True)
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    return EXIT_OK if succeeded(outcomes) and not errors else EXIT_ERROR


def is_restore_plan(path: Path) -> bool:
    """Does this plan file come from `restore --out`? (An unreadable one is left to load_plan.)"""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("restore_of"), str)


def apply_saved_restore(
    session: Run, planfile: Path, fmt: str, opts: Options, kwargs: dict[str, Any]
) -> int:
    """`apply FILE` for a plan made by `restore --out FILE` (`kwargs`: apply's options), under
    the apply lock: re-planned from its backup, every assistant that moved since refused."""
    from kathansync.backup.restoring import load_restore_plan, recheck_restore
    from kathansync.commands.sync import show_plan

    with session.locked(f"kathansync apply {planfile}"):
        saved, request = load_restore_plan(planfile, session.settings)
        with session.connect(network_from(kwargs)) as conn:
            run, refused = recheck_restore(session, conn, request, saved.as_plan(), saved.salt)
            if run.plan.has_changes:
                show_plan(run.plan, fmt, opts)  # what is being applied, as `apply FILE` does
            backup = not kwargs["no_backup"]
            return _apply_restore(session, conn, run, refused, request, fmt, opts, backup)
