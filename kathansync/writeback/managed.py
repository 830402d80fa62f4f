"""Which assistants the repository already manages: every manifest's ids, wherever it lives.

`import --dir other` must not re-import an assistant a manifest under `assistants/` (or any
other folder) already has, so the whole repository is searched, not the manifests directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kathansync.errors import display_path
from kathansync.load import yamlio
from kathansync.models import is_uuid

# Folders that hold no manifests and may be huge: never walked.
_SKIPPED = frozenset({"node_modules", "venv", "__pycache__"})


def managed_ids(root: Path) -> dict[str, str]:
    """Lower-case id -> the file (as shown) of every YAML file under `root` with a top-level
    `id`: a UUID, or a mapping of environments to UUIDs. Unreadable files are skipped (the
    loader reports them where they are manifests)."""
    found: dict[str, str] = {}
    for path in _yaml_files(root):
        for assistant_id in _ids_in(path):
            found.setdefault(assistant_id, display_path(path))
    return found


def _yaml_files(root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(root):
        # Hidden folders: .git (never read: it can hold tokens), .kathansync, .venv, ...
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED)
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and not name.startswith((".", "_")):
                yield Path(current, name)


def _ids_in(path: Path) -> list[str]:
    if not path.is_file():  # a FIFO or a device is never opened
        return []
    try:
        data: Any = yamlio.parse_fast(yamlio.read_text(path))
    except yamlio.SourceError:
        return []
    raw = data.get("id") if isinstance(data, dict) else None
    values = raw.values() if isinstance(raw, dict) else [raw]
    return [v.lower() for v in values if isinstance(v, str) and is_uuid(v)]
