"""CLI: the `kathansync` group, its commands (kathansync/commands/), and the exit codes.

Exit codes: 0 success; 1 any error, usage errors included (click's 2 is remapped, so that 2 only
ever means "plan --detailed-exitcode found changes").
Human output goes to stdout; warnings, progress and logs to stderr. A command's module is
imported only when that command runs (`COMMANDS`), and heavy modules (pydantic, ruamel, httpx,
deepdiff) only inside the commands that need them, so `--help` imports click and nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from kathansync import __version__
from kathansync.commands import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

# name -> (module, attribute, the first paragraph of its help). `kathansync --help` lists the
# commands from this table without importing them (their modules cost 30 ms of a 60 ms budget);
# tests/test_cli_lazy.py fails when a summary differs from the command's own help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("sync", "validate", "Check manifests without touching the network."),
    "plan": ("sync", "plan", "Show what apply would change: manifests against the live API."),
    "apply": ("sync", "apply", "Make the API match the manifests, sending only what changed."),
    "import": (
        "manage",
        "import_",
        "Write a manifest for each existing assistant (ID... or --all).",
    ),
    "pull": (
        "manage",
        "pull",
        "Take the remote's current values into the manifests (accept drift into git).",
    ),
    "schema": ("tools", "schema", "Print the JSON Schema of a manifest, for editors."),
    "init": (
        "tools",
        "init",
        "Scaffold a repository: kathansync.yaml, an example, CI and drift workflows.",
    ),
    "emulator": ("tools", "emulator", "Serve a local Kathan API for demos, tests and benchmarks."),
    "history": ("backups", "history", "List the backups taken before each apply, newest first."),
    "restore": (
        "backups",
        "restore",
        "Put the remote back as a backup holds it, shown as a plan first.",
    ),
    "doctor": (
        "doctor",
        "doctor",
        "Check the setup: config, API URL, credentials, rate limit, listing, manifests.",
    ),
    "test": (
        "conversations",
        "test",
        "Run the conversation suites against the assistants: exit 0 when every case passes.",
    ),
}


class KathansyncGroup(click.Group):
    """A click group whose errors end as one clean message and exit code 1, and whose commands
    are imported when they are invoked (or asked for their help), not before."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            from importlib import import_module

            module, attribute, _ = COMMANDS[cmd_name]
            command = getattr(import_module(f"kathansync.commands.{module}"), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand:
            # click suggests from the commands loaded so far: suggest from all of them.
            possible = self.list_commands(ctx)
            raise click.exceptions.NoSuchCommand(args[0], possibilities=possible, ctx=ctx) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section as click writes it, from the summaries in `COMMANDS`."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, _short_help(self, ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """`kathansync <TAB>`: the command names and summaries, without importing a command
        (click's own imports each one for its summary)."""
        from click.shell_completion import CompletionItem

        names = [name for name in self.list_commands(ctx) if name.startswith(incomplete)]
        results = [CompletionItem(name, help=_short_help(self, ctx, name, 45)) for name in names]
        # The group's own options (`--version`, `--help`), as click adds them.
        return results + click.Command.shell_complete(self, ctx, incomplete)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as help_shown:
            click.echo(help_shown.ctx.get_help() if help_shown.ctx else "", err=True)
            code = EXIT_ERROR
        except click.ClickException as error:
            error.show()
            code = EXIT_ERROR
        except click.Abort:
            # Ctrl-C at a prompt leaves the cursor after `^C`: end that line first.
            click.echo("\nAborted.", err=True)
            code = EXIT_ERROR
        except Exception as error:  # ours or the machine's, else raised again
            _report_error(error)
            code = EXIT_ERROR
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            code = EXIT_ERROR
        code = code if isinstance(code, int) else EXIT_OK
        if standalone_mode:
            sys.exit(code)
        return code


def _short_help(group: click.Group, ctx: click.Context, name: str, limit: int) -> str:
    """What click would show for the command `name`, without importing it when it is ours."""
    if name in COMMANDS and name not in group.commands:
        command: click.Command | None = click.Command(name, help=COMMANDS[name][2])
    else:
        command = group.get_command(ctx, name)
    return command.get_short_help_str(limit) if command is not None else ""


def _report_error(error: Exception) -> None:
    """Our errors and the machine's (an unwritable --out, a full disk) as one message; any
    other exception is a bug and is raised again, with its traceback."""
    # Here, not at the top: `--help` never needs kathansync.errors (or the pathlib it imports).
    from kathansync.errors import KathansyncError, ManifestError

    if isinstance(error, ManifestError):
        for problem in error.problems:
            click.echo(str(problem), err=True)
        errors = sum(p.severity == "error" for p in error.problems)
        # "No change": `plan` may have started reading GET /assistants while it loaded.
        click.echo(f"Error: {errors} error(s) in manifests; no change was sent.", err=True)
    elif isinstance(error, KathansyncError | OSError):
        click.echo(f"Error: {error}", err=True)
    else:
        raise error


@click.group(cls=KathansyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="kathansync")
def cli() -> None:
    """Kathan voice assistants as code: YAML manifests in git, plan and apply.

    \b
    Typical use:
      kathansync validate                 check manifests, no network
      kathansync plan                     show what would change
      kathansync apply                    change it, after a 'yes'
      kathansync plan --out plan.json && kathansync apply plan.json
      kathansync test                     talk to the assistants: do they still behave?
      kathansync doctor                   first hour: config, URL, credentials, limits

    Credentials come from KATHAN_API_KEY and KATHAN_USER_ID.
    """


def main(argv: Sequence[str] | None = None) -> NoReturn:
    cli.main(args=list(argv) if argv is not None else None, prog_name="kathansync")
    raise SystemExit(0)  # pragma: no cover - cli.main always exits
