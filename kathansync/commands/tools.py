"""schema, init, emulator: editor support, repository scaffolding and the local API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kathansync.commands.common import EXIT_OK

# --- Editors, scaffolding and the local API -------------------------------------------------


@click.command()
@click.option(
    "--draft",
    type=click.Choice(["2020-12", "7"]),
    default="2020-12",
    show_default=True,
    help="JSON Schema draft to declare (7 for older editor tooling).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Instead: fetch the API's openapi.json and save its assistant schema in"
    " kathan-api-schema.json at the repository root (commit it).",
)
@click.option("--env", envvar="KATHANSYNC_ENV", help="With --update: environment to ask.")
@click.option("--api-url", help="With --update: Kathan API base URL.")
def schema(draft: str, update: bool, env: str | None, api_url: str | None) -> int:
    """Print the JSON Schema of a manifest, for editors.

    \b
    Examples:
      kathansync schema > .kathansync/manifest.schema.json
      kathansync schema --update --env staging
    """
    if update:
        from kathansync.commands.apischema import update_api_schema
        from kathansync.commands.common import Options

        return update_api_schema(Options(None, env, api_url, False, False, False))
    from kathansync.schema import schema_json

    click.echo(schema_json(draft), nl=False)  # type: ignore[arg-type]
    return EXIT_OK


@click.command()
@click.argument(
    "directory", required=False, default=".", type=click.Path(path_type=Path, file_okay=False)
)
@click.option(
    "--action",
    metavar="OWNER/REPO@REF",
    help="The kathansync GitHub Action the workflows use (default: a placeholder to edit).",
)
def init(directory: Path, action: str | None) -> int:
    """Scaffold a repository: kathansync.yaml, an example, CI and drift workflows.

    The example (assistants/_example.yaml) is skipped by plan and apply: nothing is created
    until you say so. Adds .kathansync/ (local state) to .gitignore. Refuses to overwrite any
    existing file.

    \b
    Example:
      kathansync init my-assistants --action my-org/kathansync@v1
    """
    from kathansync.scaffold import ACTION_PLACEHOLDER, init_project

    had_gitignore = (directory / ".gitignore").exists()
    for path in init_project(directory, action or ACTION_PLACEHOLDER):
        appended = had_gitignore and path == directory / ".gitignore"
        click.echo(f"{'updated' if appended else 'created'} {path}")
    if not action:
        click.echo(
            f"Edit {ACTION_PLACEHOLDER} in .github/workflows/ to name the kathansync repository"
            " you use (or pass --action OWNER/kathansync@v1 to init)."
        )
    click.echo(
        "Next: kathansync import --all (needs KATHAN_API_KEY, KATHAN_USER_ID), then kathansync"
        " plan."
    )
    return EXIT_OK


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option(
    "--state",
    "state_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Keep assistants in this JSON file (default: in memory).",
)
@click.option("--api-key", help="Only accept this bearer token (default: any).")
@click.option("--user-id", help="Only accept this X-User-ID (default: any).")
@click.option(
    "--latency-ms",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Delay every request, concurrently.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 503.",
)
@click.option("--rate-limit", type=click.IntRange(1), help="Requests per window before 429.")
@click.option(
    "--rate-window",
    type=click.FloatRange(0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds per rate-limit window.",
)
@click.option(
    "--rate-limit-headers/--no-rate-limit-headers",
    default=True,
    help="Send X-RateLimit-* headers (off: limit without telling).",
)
@click.option("--max-page-size", type=click.IntRange(1), help="Cap on GET /assistants?limit=.")
@click.option(
    "--extra-field",
    "extra_fields",
    multiple=True,
    metavar="NAME:TYPE",
    help="Add a top-level assistant field (TYPE: string|number|integer|boolean).",
)
@click.option("--seed", type=int, help="Random seed for --fail-rate, for reproducible runs.")
def emulator(host: str, port: int, **options: Any) -> int:
    """Serve a local Kathan API for demos, tests and benchmarks.

    Needs the emulator extra: pip install 'kathansync[emulator]'.

    \b
    Example:
      kathansync emulator --port 8787 --state .demo/state.json --latency-ms 50
    """
    from kathansync.emulator import EmulatorError, serve
    from kathansync.errors import ConfigError

    try:
        serve(host, port, **options)
    except EmulatorError as error:  # the emulator shares no code, its errors included
        raise ConfigError(str(error)) from None
    return EXIT_OK
