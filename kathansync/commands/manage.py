"""import and pull: from the remote into manifests (new files, or values into existing ones)."""

from __future__ import annotations

from typing import Any

import click

from kathansync.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    common_options,
    load_or_fail,
    network_from,
    network_options,
    options_from,
    session_for,
    target_option,
)

# --- import / pull: remote -> manifests ------------------------------------------------------


@click.command("import")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "import_all", is_flag=True, help="Every assistant the API lists.")
@click.option(
    "--omit-defaults",
    is_flag=True,
    help="Also leave out values equal to the API's defaults for a new assistant (unmanaged).",
)
@common_options
@network_options
def import_(ids: tuple[str, ...], import_all: bool, omit_defaults: bool, **kwargs: Any) -> int:
    """Write a manifest for each existing assistant (ID... or --all).

    Handles are slugs of the names (-2, -3 when taken). Never overwrites a file; an id a
    manifest anywhere in the repository has is skipped. Values the folder's _defaults.yaml
    gives are left out; a credential-looking value is written as ${VAR} (named on stderr).
    `plan` right after shows `No changes.`

    \b
    Examples:
      kathansync import --all
      kathansync import 3f2b8c1e-... --dir assistants/imported
    """
    from kathansync.writeback import import_assistants

    opts = options_from(kwargs)
    if bool(ids) == import_all:
        raise click.UsageError("give the ids of the assistants to import, or --all (not both)")
    from kathansync.models import is_uuid

    for assistant_id in ids:
        if not is_uuid(assistant_id):
            raise click.UsageError(f"{assistant_id!r} is not an assistant id (a UUID)")
    session = session_for(opts)
    settings = session.settings
    existing = load_or_fail(session) if settings.manifests.is_dir() else []
    with session.connect(network_from(kwargs)) as conn:
        report = import_assistants(
            conn.client,
            None if import_all else list(ids),
            settings.manifests,
            existing,
            env=settings.environment,
            omit_api_defaults=omit_defaults,
        )
    for item in report.written:
        click.echo(f"{item.file}: imported {item.id}")
        for warning in item.warnings():  # names the variable, never the value
            click.echo(f"Warning: {warning}", err=True)
    for line in report.skipped:
        opts.info(f"Skipped {line}")
    for line in report.failed:
        click.echo(f"Error: {line}", err=True)
    if not opts.quiet:
        click.echo(
            f"{len(report.written)} imported, {len(report.skipped)} already managed,"
            f" {len(report.failed)} failed."
            + (" Review and commit the new files." if report.written else "")
        )
    return EXIT_ERROR if report.failed else EXIT_OK


@click.command()
@common_options
@target_option
@click.option(
    "--write-files",
    is_flag=True,
    help="Also update files referenced with !file (only inside the repository).",
)
@network_options
def pull(
    targets: tuple[str, ...],
    write_files: bool,
    **kwargs: Any,
) -> int:
    """Take the remote's current values into the manifests (accept drift into git).

    Only managed fields that differ change, and only their lines: comments, key order, quoting
    and block styles stay. Values from ${VAR}, !file or _defaults.yaml are reported, not
    overwritten (--write-files updates !file targets).

    \b
    Examples:
      kathansync pull --target support
      kathansync pull --write-files
    """
    from kathansync.errors import KathansyncError
    from kathansync.load import find_root
    from kathansync.plan.select import select
    from kathansync.writeback.pull import PullTally, pull_manifest

    opts = options_from(kwargs)
    session = session_for(opts)
    manifests = select(load_or_fail(session), targets)
    with session.connect(network_from(kwargs)) as conn:
        remotes = session.fetch(conn.client, manifests)
    root = find_root(session.settings.manifests)
    tally = PullTally()
    for manifest in manifests:
        if not manifest.id:
            opts.info(f"{manifest.file}: no id yet (not created): nothing to pull")
            continue
        try:
            report = pull_manifest(
                manifest, remotes[manifest.id], root=root, write_files=write_files
            )
        except (KathansyncError, OSError) as error:  # this file stays as it was; go on
            click.echo(f"Error: {manifest.file}: not pulled: {error}", err=True)
            tally.failed += 1
            continue
        for line in report.lines():
            click.echo(line)
        tally.add(report)
    if not opts.quiet:
        click.echo(tally.summary())
    return EXIT_ERROR if tally.failed else EXIT_OK
