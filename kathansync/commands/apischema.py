"""`schema --update`: fetch the API's openapi.json and save its assistant request schema.

The file (kathan-api-schema.json) goes to the repository root, beside kathansync.yaml, so it
is committed and reviewed like any change, and `validate` reads it offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from kathansync.commands.common import EXIT_OK, Options, session_for


def repository_root(config_path: Path | None, cwd: Path) -> Path:
    """The folder of kathansync.yaml; else the git repository's root; else `cwd`."""
    if config_path is not None:
        return config_path.parent
    for folder in (cwd, *cwd.parents):
        if (folder / ".git").exists():
            return folder
    return cwd


def update_api_schema(opts: Options) -> int:
    """Fetch GET /openapi.json, extract the PUT /assistants/{id} body schema, save it."""
    from kathansync.atomic import write_atomic
    from kathansync.remote.openapi import SCHEMA_FILE, dump, saved_schema

    session = session_for(opts)
    settings = session.settings
    with session.connect() as conn:
        document = conn.client.get_openapi()
    source = f"{settings.api_url}/openapi.json"
    data = saved_schema(document, source, datetime.now(UTC))
    root = repository_root(settings.config.path, Path.cwd())
    target = root / SCHEMA_FILE
    old = target.read_text(encoding="utf-8") if target.is_file() else None
    write_atomic(target, dump(data))
    fields = len(data["schema"]["properties"])
    state = "created" if old is None else "updated"
    click.echo(f"{target}: {state} from {source} ({fields} top-level fields); commit this file.")
    return EXIT_OK
