"""Where manifests are: the files below the manifests directory, their handles, the root."""

from __future__ import annotations

import os
from pathlib import Path

SUFFIXES = (".yaml", ".yml")
DEFAULTS_NAMES = ("_defaults.yaml", "_defaults.yml")
CONFIG_NAME = "kathansync.yaml"


def discover(directory: Path) -> list[Path]:
    """Manifest files below `directory`: *.yaml/*.yml, recursively, skipping hidden directories
    and files and files whose name starts with `_` (reserved: _defaults.yaml)."""
    found: list[tuple[tuple[str, ...], Path]] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folder = Path(current)  # `folder / name`: half the cost of Path(current, name)
        parts = folder.parts  # Path's own order (by parts), worked out once a folder
        found.extend(
            ((*parts, name), folder / name)
            for name in files
            if name.endswith(SUFFIXES) and not name.startswith(("_", "."))
        )
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


def handle_of(path: Path, directory: Path) -> str:
    """`sales/outbound` for `<directory>/sales/outbound.yaml`."""
    top, text = str(directory), str(path)
    if text.startswith(top + os.sep):  # the common case, in strings: pathlib is slow at 10,000
        stem, _ = os.path.splitext(text[len(top) + 1 :])
        return stem.replace(os.sep, "/")
    try:
        relative = path.relative_to(directory)
    except ValueError:
        relative = Path(os.path.relpath(path, directory))
    return relative.with_suffix("").as_posix()


def find_root(directory: Path) -> Path:
    """The repository root, which nothing read may leave: the nearest directory at or above
    `directory` holding kathansync.yaml, else the git repository's root (never above it),
    else the current directory when the manifests are inside it, else the manifests directory.
    """
    start = directory.resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_NAME).is_file() or (candidate / ".git").exists():
            return candidate
    cwd = Path.cwd().resolve()
    return cwd if start.is_relative_to(cwd) else start
