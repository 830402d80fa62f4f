"""Shell completion from the repository: --target handles and --env names.

Completion runs on every <TAB>: it reads kathansync.yaml and walks the manifests directory
(file names only, no YAML parsing), and stays silent on any problem: a broken config must
never turn into a traceback in the user's shell.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # click.shell_completion is imported on a <TAB>, not by every command
    from click.shell_completion import CompletionItem

    from kathansync.settings import Settings


def complete_handles(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The handles of the manifests `--dir`/`--env` (or kathansync.yaml) point at."""
    settings = _settings(ctx)
    if settings is None or not settings.manifests.is_dir():
        return []
    from click.shell_completion import CompletionItem

    from kathansync.load.discover import discover, handle_of
    from kathansync.load.source import is_utf8_name

    handles = [handle_of(path, settings.manifests) for path in discover(settings.manifests)]
    # A file name that is not UTF-8 (validate: "rename it") is no handle, and click could not
    # encode it for the shell: a traceback on every <TAB>.
    return [CompletionItem(h) for h in handles if h.startswith(incomplete) and is_utf8_name(h)]


def complete_environments(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The environments kathansync.yaml names."""
    from click.shell_completion import CompletionItem

    settings = _settings(ctx, with_env=False)
    if settings is None:
        return []
    names = sorted(settings.config.environments)
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def _settings(ctx: click.Context, *, with_env: bool = True) -> Settings | None:
    from kathansync.errors import KathansyncError
    from kathansync.settings import resolve_settings

    try:
        return resolve_settings(
            directory=ctx.params.get("directory"),
            env=ctx.params.get("env") if with_env else None,
            api_url=None,
            environ=os.environ,
            cwd=Path.cwd(),
        )
    except (KathansyncError, OSError, ValueError):
        return None
