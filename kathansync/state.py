"""LOCAL STATE in `.kathansync/` at the repository root: the apply lock, and pending creates.

Never committed (the folder's own `.gitignore` names these files). Two applies on one
repository would each create the same new assistants and overwrite each other's ids, so an
apply holds the lock for its whole run; `fcntl.flock` on an open file is released by the
kernel when the process ends, however it ends, so a crash never leaves the repository locked.
A create whose POST got no answer may still land: it is remembered here, and not sent again
until a list shows it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.atomic import write_atomic
from kathansync.errors import KathansyncError

if TYPE_CHECKING:  # not at run time: the manifest cache saves through state_folder (validate)
    from kathansync.apply import Outcome
    from kathansync.models import Manifest
    from kathansync.plan import Change

LOCK_NAME = "lock"
PENDING_NAME = "pending-creates.json"
# Named one by one, not `*`: the folder may also hold files meant to be committed (the editor
# schema, docs/editors.md). `init` writes the same names into the root .gitignore.
LOCAL_FILES = ("lock", "pending-creates.json", "backups/", "cache/")
LOCAL_IGNORE = "# kathansync's local state: never committed\n" + "".join(
    f"{name}\n" for name in LOCAL_FILES
)


class LockHeld(KathansyncError):
    """Another process is applying to this repository."""


def state_folder(state_dir: Path) -> Path:
    """`.kathansync/`, created on first use with a `.gitignore` that keeps it out of git.

    Never a symlink: a branch can commit one, and the lock, the pending creates and the
    backups (the server's real values) would be written wherever it points."""
    if os.path.islink(state_dir):
        raise KathansyncError(
            f"{state_dir} is a symbolic link: kathansync keeps its lock, pending creates and"
            " backups only in a real folder (remove the link). Nothing was sent."
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    write_once(state_dir / ".gitignore", LOCAL_IGNORE)
    return state_dir


def write_once(path: Path, text: str) -> None:
    """Write `path` unless something is there already, a symlink included, dangling or not.

    `exists()` is False for a dangling symlink, and writing through it would create its target
    wherever it points, outside the repository too: linking the new file into place never
    follows one (EEXIST).
    """
    if not os.path.lexists(path):
        # FileExistsError: another process wrote it a moment ago; left as it is.
        with suppress(FileExistsError):
            write_atomic(path, text, overwrite=False)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def apply_lock(state_dir: Path, command: str) -> Iterator[None]:
    """Hold `.kathansync/lock` for the block; LockHeld naming the holder when another has it."""
    path = state_folder(state_dir) / LOCK_NAME
    try:  # never through a symlink: the lock file is truncated and written below
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise KathansyncError(
            f"{path}: cannot open the apply lock ({error.strerror}); it must be a plain file:"
            " remove it. Nothing was sent."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(
                f"another apply is running on this repository ({_holder(fd)}); nothing was"
                f" sent. Wait for it to finish, then plan again. (lock: {path})"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({**holder, "since": _now()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # the lock is released by the close below
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote into the file (best effort: it may be writing)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "holder unknown"
    return (
        f"pid {data.get('pid')} on {data.get('host')}, `{data.get('command')}`,"
        f" since {data.get('since')}"
    )


# --- Creates whose answer never came ---------------------------------------------------------


@dataclass(frozen=True)
class PendingCreate:
    """A POST /assistants that may have landed: the handle is not created again until seen."""

    api_url: str
    environment: str | None
    handle: str
    name: str | None
    sent_at: str

    def is_for(self, api_url: str, environment: str | None) -> bool:
        return self.api_url == api_url and self.environment == environment


class PendingCreates:
    """`.kathansync/pending-creates.json`: read once, changed in memory, saved atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PENDING_NAME
        self.entries = _read_pending(self.path)

    def for_target(self, api_url: str, environment: str | None) -> dict[str, PendingCreate]:
        """handle -> pending create, for one API and environment."""
        return {p.handle: p for p in self.entries if p.is_for(api_url, environment)}

    def update(
        self,
        api_url: str,
        environment: str | None,
        *,
        add: Sequence[tuple[str, str | None]] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """Remember `add` (handle, name) and forget `remove` (handles) for this target."""
        gone = set(remove) | {handle for handle, _ in add}
        kept = [
            p for p in self.entries if not (p.is_for(api_url, environment) and p.handle in gone)
        ]
        now = _now()
        kept += [PendingCreate(api_url, environment, h, n, now) for h, n in add]
        if kept == self.entries:
            return
        self.entries = kept
        state_folder(self.path.parent)
        data = {"format_version": "1", "creates": [asdict(p) for p in kept]}
        write_atomic(self.path, json.dumps(data, indent=2) + "\n")


def creates_settled(
    changes: Sequence[Change], manifests: Sequence[Manifest], outcomes: Sequence[Outcome]
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(handle, name) of the creates an apply may have made without saying so, and the handles
    whose create or adoption is now known (to forget)."""
    from kathansync.plan import Action

    adopted = {c.handle for c in changes if c.adopted}
    names = {m.handle: m.desired.get("name") for m in manifests}  # str or None
    maybe = [(o.handle, names.get(o.handle)) for o in outcomes if o.maybe_created]
    done = [
        o.handle
        for o in outcomes
        if o.status.ok and (o.action is Action.CREATE or o.handle in adopted)
    ]
    return maybe, done


def _read_pending(path: Path) -> list[PendingCreate]:
    """The remembered creates; an unreadable file is an error (forgetting could duplicate)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise KathansyncError(f"{path}: unreadable ({error}); fix or remove it") from None
    try:
        return [_pending(entry) for entry in data["creates"]]
    except (KeyError, TypeError, ValueError) as error:
        raise KathansyncError(f"{path}: not a pending-creates file ({error})") from None


def _pending(entry: Mapping[str, Any]) -> PendingCreate:
    values = {key: entry[key] for key in ("api_url", "environment", "handle", "name", "sent_at")}
    if not all(isinstance(values[k], str) for k in ("api_url", "handle", "sent_at")):
        raise ValueError("api_url, handle and sent_at must be strings")
    return PendingCreate(**values)
