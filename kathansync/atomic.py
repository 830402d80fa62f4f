"""Atomic file writes: a reader, or a crash, sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, *, overwrite: bool = True) -> None:
    """Write `text` to `path` through a fsynced temporary file in the same directory.

    `overwrite=True` renames over the old file, keeping its mode. `overwrite=False` links the
    new file into place instead, which fails with FileExistsError when `path` exists, even if
    another process created it a moment ago: nothing is ever overwritten.
    """
    mode = _mode_for(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone already after a replace


def _mode_for(path: Path, overwrite: bool) -> int:
    """The replaced file's mode, or the usual one for a new file (mkstemp's 0600 is for secrets)."""
    if overwrite and path.exists():
        return path.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
