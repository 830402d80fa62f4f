"""Atomic file writes: a reader, or a crash, sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomic(path: Path, text: str, *, overwrite: bool = True, mode: int = 0o666) -> None:
    """Write `text` to `path` through a fsynced temporary file in the same directory.

    `overwrite=True` renames over the old file, keeping its mode. `overwrite=False` links the
    new file into place instead, which fails with FileExistsError when `path` exists, even if
    another process created it a moment ago: nothing is ever overwritten. `mode` (before the
    umask) is for a new file: 0o600 for one holding the server's real values (backups).
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Created 0666 minus the umask, by the kernel: the process umask is never touched (that
    # would race with other threads), and our files are not secrets (mkstemp's 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            if path.exists():
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after a replace
