"""CLI: the `kathansync` group, its commands (kathansync/commands/), and the exit codes.

Exit codes: 0 success; 1 any error, usage errors included (click's 2 is remapped, so that 2 only
ever means "plan --detailed-exitcode found changes").
Human output goes to stdout; warnings, progress and logs to stderr. Heavy modules (pydantic,
ruamel, httpx, deepdiff) are imported inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from kathansync import __version__
from kathansync.commands import backups, conversations, doctor, manage, sync, tools
from kathansync.commands.common import EXIT_ERROR, EXIT_OK


class KathansyncGroup(click.Group):
    """A click group whose errors end as one clean message and exit code 1."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        from kathansync.errors import KathansyncError

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
        except KathansyncError as error:
            _report_error(error)
            code = EXIT_ERROR
        except OSError as error:  # the machine's, not ours: an unwritable --out, a full disk
            click.echo(f"Error: {error}", err=True)
            code = EXIT_ERROR
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            code = EXIT_ERROR
        code = code if isinstance(code, int) else EXIT_OK
        if standalone_mode:
            sys.exit(code)
        return code


def _report_error(error: Exception) -> None:
    from kathansync.errors import ManifestError

    if isinstance(error, ManifestError):
        for problem in error.problems:
            click.echo(str(problem), err=True)
        errors = sum(p.severity == "error" for p in error.problems)
        click.echo(f"Error: {errors} error(s) in manifests; nothing was sent.", err=True)
    else:
        click.echo(f"Error: {error}", err=True)


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


for command in (
    sync.validate,
    sync.plan,
    sync.apply,
    manage.import_,
    manage.pull,
    tools.schema,
    tools.init,
    tools.emulator,
    backups.history,
    backups.restore,
    doctor.doctor,
    conversations.test,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    cli.main(args=list(argv) if argv is not None else None, prog_name="kathansync")
    raise SystemExit(0)  # pragma: no cover - cli.main always exits
