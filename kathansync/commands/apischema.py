"""`schema --update`: fetch the API's openapi.json and save its assistant request schema.

The file (kathan-api-schema.json) goes to the repository root, beside kathansync.yaml, so it
is committed and reviewed like any change, and `validate` reads it offline.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kathansync.commands.common import EXIT_OK, Options, session_for


def update_api_schema(opts: Options) -> int:
    """Fetch GET /openapi.json, extract the PUT /assistants/{id} body schema, save it."""
    from kathansync.atomic import write_atomic
    from kathansync.load.apischema import API_SCHEMA_NAME
    from kathansync.remote.openapi import dump, saved_schema

    session = session_for(opts)
    settings = session.settings
    with session.connect() as conn:
        document = conn.client.get_openapi()
    source = f"{settings.api_url}/openapi.json"
    data = saved_schema(document, source, datetime.now(UTC))
    target = settings.root / API_SCHEMA_NAME  # beside kathansync.yaml: committed, reviewed
    existed = target.is_file()  # not read: a broken old file is what --update replaces
    write_atomic(target, dump(data))
    fields = len(data["schema"]["properties"])
    state = "updated" if existed else "created"
    click.echo(f"{target}: {state} from {source} ({fields} top-level fields); commit this file.")
    return EXIT_OK
