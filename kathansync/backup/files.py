"""Backup files: one JSON file per apply, written before its first request, kept 0600.

A backup holds, for every assistant an apply is about to update or delete, the remote object
exactly as fetched for the plan (every field, the server's real values, secrets included: hence
mode 0600 and a folder that is never committed), plus when, the API URL (no credentials), the
environment, the git commit and branch, the plan's summary and, after the apply, the ids of the
assistants it created. Files are named by UTC time, so a plain sort is the history.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kathansync.atomic import write_atomic
from kathansync.backup.gitinfo import git_state
from kathansync.errors import KathansyncError
from kathansync.state import state_folder, write_once

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.plan import Change, Plan
    from kathansync.settings import Settings

KIND = "kathansync-backup"
FORMAT_VERSION = "1"
# 20261129T153801.123456Z-3fa9c2.json: time first so names sort as time; the 6 hex digits are
# the short id people type (`restore 3fa9c2`).
_NAME = re.compile(r"(\d{8}T\d{6}\.\d{6}Z)-([0-9a-f]{6})\.json")


class BackupError(KathansyncError):
    """A backup that cannot be written (nothing is sent then), found, or read."""


@dataclass(frozen=True)
class Backup:
    """One backup file as read: its path and its JSON."""

    path: Path
    data: Mapping[str, Any]
    # The file's text as this run wrote it (None when read back): record_outcomes keeps the
    # remote objects as written instead of encoding them again.
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def entries(self) -> list[Mapping[str, Any]]:
        """The assistants backed up: handle, file, id, action, sensitive paths, remote object."""
        return list(self.data.get("assistants", []))

    @property
    def created(self) -> list[Mapping[str, Any]]:
        """The assistants the apply created: handle, file, id."""
        return list(self.data.get("created", []))

    @property
    def commit(self) -> str | None:
        git = self.data.get("git") or {}
        return git.get("commit") if isinstance(git, Mapping) else None

    def counts(self) -> dict[str, int]:
        actions = [entry.get("action") for entry in self.entries]
        return {
            "updated": actions.count("update"),
            "deleted": actions.count("delete"),
            "created": len(self.created),
        }

    def summary_dict(self) -> dict[str, Any]:
        """What `history --format json` shows of a backup: everything but the remote objects."""
        git = self.data.get("git") or {}
        return {
            "id": self.id,
            "when": self.data.get("when"),
            "environment": self.data.get("environment"),
            "api_url": self.data.get("api_url"),
            "commit": git.get("commit"),
            "branch": git.get("branch"),
            "counts": self.counts(),
            "restore_of": self.data.get("restore_of"),
            "file": str(self.path),
        }


def public_url(url: str) -> str:
    """The API URL without userinfo, query or fragment: a backup never holds credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


def back_up(
    settings: Settings,
    plan: Plan,
    pending: Sequence[Change],
    refused: Mapping[str, Outcome],
    restore_of: str | None,
    info: Callable[[str], None],
) -> Backup | None:
    """The apply hook: back up what is about to be sent (None: nothing will be), say where.

    Raises BackupError, before any request, when the file cannot be written."""
    # An adoption with no difference is pending (its id is written back) but sends nothing.
    sent = [c for c in pending if c.action.value != "no-op" and c.handle not in refused]
    if not sent:
        return None
    directory = settings.backups_dir
    if directory.is_relative_to(settings.state_dir):
        state_folder(settings.state_dir)  # with the .gitignore that keeps backups/ out of git
    taken = write_backup(
        directory,
        plan=plan,
        changes=sent,
        root=settings.root,
        keep=settings.config.backup_keep,
        restore_of=restore_of,
    )
    info(f"backup {taken.id} written ({taken.path}); undo with: kathansync restore {taken.id}")
    return taken


def write_backup(
    directory: Path,
    *,
    plan: Plan,
    changes: Sequence[Change],
    root: Path,
    keep: int,
    restore_of: str | None = None,
    now: datetime | None = None,
) -> Backup:
    """Write the backup of `changes` (the ones about to be sent) and apply retention.

    Raises BackupError when the file cannot be written: the caller then sends nothing.
    """
    now = now or datetime.now(UTC)
    short_id = secrets.token_hex(3)
    path = directory / f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{short_id}.json"
    git = git_state(root)
    data: dict[str, Any] = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "id": short_id,
        "when": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "api_url": public_url(plan.api_url),
        "environment": plan.environment,
        "git": None if git is None else {"commit": git.commit, "branch": git.branch},
        "summary": plan.summary(),
        "restore_of": restore_of,
        "assistants": [_entry(c) for c in changes if c.action.value in ("update", "delete")],
        "created": [],
    }
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _ignore_all(directory)
        text = _write(path, data)
    except OSError as error:
        raise BackupError(
            f"cannot write the backup in {directory}: {error.strerror or error}; nothing was sent"
            " (fix the folder, set `backups: dir:` in kathansync.yaml, or apply --no-backup)"
        ) from None
    prune_backups(directory, keep)
    return Backup(path, data, text)


def _ignore_all(directory: Path) -> None:
    """A `.gitignore` of `*` in the backups folder: wherever `backups: dir:` puts it, the
    server's real values never reach a commit (under .kathansync/, its .gitignore says so too)."""
    write_once(
        directory / ".gitignore",
        "# kathansync backups hold the server's real values: never committed\n*\n",
    )


def _entry(change: Change) -> dict[str, Any]:
    return {
        "handle": change.handle,
        "file": change.file,
        "id": change.id,
        "action": change.action.value,
        "sensitive": sorted(change.sensitive),
        "remote": dict(change.remote or {}),
    }


# Lists of objects written one object a line: json.dumps(indent=) runs the pure-Python
# encoder (0.1 s for the 1,000 remote objects of a big apply, before its first request); one
# line an object is the C encoder's (15 ms), and a line per assistant reads well with grep.
_ONE_A_LINE = frozenset({"assistants", "created"})


def _encode(data: Mapping[str, Any], *, ascii_only: bool = False) -> str:
    """The file's text: an object of indented keys, the big lists one object a line."""
    items = []
    for key, value in data.items():
        if key in _ONE_A_LINE and isinstance(value, list) and value:
            rows = ",\n".join(f"    {json.dumps(v, ensure_ascii=ascii_only)}" for v in value)
            text = f"[\n{rows}\n  ]"
        else:  # JSON strings hold no raw newline: every "\n" here is layout
            text = json.dumps(value, indent=2, ensure_ascii=ascii_only).replace("\n", "\n  ")
        items.append(f"  {json.dumps(key, ensure_ascii=ascii_only)}: {text}")
    return "{\n" + ",\n".join(items) + "\n}\n"


def _write(path: Path, data: Mapping[str, Any], text: str | None = None) -> str:
    text = _encode(data) if text is None else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from the server: UTF-8 cannot hold it
        text = _encode(data, ascii_only=True)  # JSON's \udc80 escape can, and reads back
    write_atomic(path, text, mode=0o600)
    return text


# The last key of a backup as write_backup lays it out, before the apply.
_CREATED_LAST = '  "created": []\n}\n'


def _with_outcomes(backup: Backup, data: Mapping[str, Any]) -> str:
    """_encode(data) for `data` = the backup's own with "created" filled in and "outcomes"
    added after it, from the text already written: only the new tail is encoded."""
    tail = {key: data[key] for key in ("created", "outcomes")}
    text = backup.text
    keys = list(data)
    if text is None or not text.endswith(_CREATED_LAST) or keys[-2:] != list(tail):
        return _encode(data)
    # Both are _encode objects: the tail's "{\n" gives way to the text before "created".
    return text[: -len(_CREATED_LAST)] + _encode(tail)[2:]


def record_outcomes(
    backup: Backup, outcomes: Sequence[Outcome], info: Callable[[str], None]
) -> Backup:
    """Add the ids the apply created (a create the server answered, converged or not) and
    every assistant's status. An unwritable file now only costs `restore --delete-created`,
    so it is a remark through `info`, not a raise: the apply already happened."""
    data = dict(backup.data)
    data["created"] = [
        {"handle": o.handle, "id": o.id}
        for o in outcomes
        if o.action.value == "create" and o.id and o.status.value != "failed"
    ]
    data["outcomes"] = {o.handle: o.status.value for o in outcomes}
    try:
        text = _write(backup.path, data, _with_outcomes(backup, data))
    except OSError as error:
        info(
            f"Error: {backup.path}: could not record the created ids"
            f" ({error.strerror or error}): `restore --delete-created` will not know them"
        )
        return Backup(backup.path, data)
    return Backup(backup.path, data, text)


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (only files named like ours); the deleted."""
    names = sorted(p.name for p in directory.iterdir() if _NAME.fullmatch(p.name))
    doomed = [directory / name for name in names[: max(0, len(names) - keep)]]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def list_backups(directory: Path) -> list[Backup]:
    """Every readable backup, oldest first (files that are not ours are passed over)."""
    if not directory.is_dir():
        return []
    found: list[Backup] = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if _NAME.fullmatch(path.name):
            try:
                found.append(load_backup(path))
            except BackupError:
                continue
    return found


def load_backup(path: Path) -> Backup:
    """Read one backup file; BackupError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path}: no such backup file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackupError(f"{path}: not a readable kathansync backup ({error})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise BackupError(f"{path}: not a kathansync backup (made by `apply`)")
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path}: backup format {data.get('format_version')!r} is not supported")
    if not _well_formed(data):
        raise BackupError(f"{path}: the backup is incomplete or was edited")
    return Backup(path, data)


def _well_formed(data: Mapping[str, Any]) -> bool:
    """Every key history and restore read has its type: an edited file is refused, not a crash."""
    entries, created = data.get("assistants"), data.get("created")
    if not isinstance(entries, list) or not isinstance(created, list):
        return False
    git = data.get("git")
    return (
        isinstance(data.get("id"), str)
        and (git is None or isinstance(git, dict))
        and all(_entry_ok(e) for e in entries)
        and all(_entry_ok(e) and isinstance(e["id"], str) for e in created)
    )


def _entry_ok(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("handle"), str)
        and isinstance(entry.get("id", ""), (str, type(None)))
        and "id" in entry
        and isinstance(entry.get("remote", {}), dict)
        and isinstance(sensitive := entry.get("sensitive", []), list)
        and all(isinstance(path, str) for path in sensitive)
    )


def find_backup(directory: Path, ref: str) -> Backup:
    """A backup by short id (or a unique start of one), file name, or path."""
    as_path = Path(ref)
    if as_path.suffix == ".json" and (as_path.is_file() or len(as_path.parts) > 1):
        return load_backup(as_path)
    known = list_backups(directory)
    matches = [b for b in known if b.id.startswith(ref.lower()) or b.path.name == ref]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        hint = "; `kathansync history` lists them" if known else f" (no backups in {directory})"
        raise BackupError(f"no backup {ref!r}{hint}")
    ids = ", ".join(b.id for b in matches)
    raise BackupError(f"{ref!r} names several backups ({ids}): give more of the id")
