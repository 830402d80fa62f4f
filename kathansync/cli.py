"""CLI: click glue that runs the pipeline stages in order, owns the streams and the exit codes.

Exit codes: 0 success; 1 any error, usage errors included (click's 2 is remapped, so that 2 only
ever means "plan --detailed-exitcode found changes").
Human output goes to stdout; warnings, progress and logs to stderr. Heavy modules (pydantic,
ruamel, httpx, deepdiff) are imported inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from kathansync import __version__

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.errors import Problem
    from kathansync.models import Manifest
    from kathansync.plan import Plan
    from kathansync.session import Network, Session

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


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
            click.echo("Aborted.", err=True)
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


@dataclass(frozen=True)
class Options:
    """The options every pipeline command shares."""

    directory: Path | None
    env: str | None
    api_url: str | None
    verbose: bool
    quiet: bool
    no_color: bool

    def color(self, stream: Any = None) -> bool:
        """Colour only on a terminal, never with NO_COLOR set or --no-color."""
        stream = stream or sys.stdout
        if self.no_color or os.environ.get("NO_COLOR"):
            return False
        return bool(getattr(stream, "isatty", lambda: False)())

    def log(self, message: str) -> None:
        if self.verbose:
            click.echo(message, err=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)


def common_options(func: F) -> F:
    options = [
        click.option(
            "--dir",
            "directory",
            type=click.Path(path_type=Path, file_okay=False),
            help="Manifests directory (default: from kathansync.yaml, else assistants/).",
        ),
        click.option(
            "--env",
            envvar="KATHANSYNC_ENV",
            help="Environment from kathansync.yaml (or KATHANSYNC_ENV).",
        ),
        click.option(
            "--api-url",
            help="Kathan API base URL (default: KATHAN_API_URL, "
            "kathansync.yaml, else the staging API).",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log each request retry on stderr."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors and the final summary."),
        click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR=1)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(kwargs: dict[str, Any]) -> Options:
    return Options(
        directory=kwargs.pop("directory"),
        env=kwargs.pop("env"),
        api_url=kwargs.pop("api_url"),
        verbose=kwargs.pop("verbose"),
        quiet=kwargs.pop("quiet"),
        no_color=kwargs.pop("no_color"),
    )


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

    Credentials come from KATHAN_API_KEY and KATHAN_USER_ID.
    """


# --- The run: settings, the session, and how remarks reach the user ---------------------------


def _session(opts: Options) -> Session:
    from kathansync.session import Session, resolve_settings

    settings = resolve_settings(
        directory=opts.directory,
        env=opts.env,
        api_url=opts.api_url,
        environ=os.environ,
        cwd=Path.cwd(),
    )
    return Session(settings, info=opts.info, log=opts.log)


def _load(opts: Options, session: Session, *, annotate: bool = False) -> list[Manifest]:
    """Manifests, or every problem and exit 1 before the network.

    In GitHub Actions (or with `annotate`) the problems are also workflow commands.
    """
    from kathansync.errors import ManifestError

    try:
        return session.load()
    except ManifestError as error:
        if annotate or _in_actions():
            _annotate(error.problems)
        raise


def _annotate(problems: Sequence[Problem], *, err: bool = True) -> None:
    """In GitHub Actions, repeat problems as workflow commands so they show on the PR.

    On stderr by default: the runner reads commands from both streams, and stdout may be a
    plan being redirected into a pull-request comment.
    """
    from kathansync import github

    click.echo(github.annotation_lines(problems), nl=False, err=err)


def _in_actions() -> bool:
    from kathansync import github

    return github.in_github_actions(os.environ)


def _render_plan(the_plan: Plan, fmt: str, opts: Options) -> str:
    from kathansync.render import render_plan

    return render_plan(the_plan.to_dict(), fmt, color=opts.color() and fmt == "text")


def _render_outcomes(the_plan: Plan, outcomes: Sequence[Outcome], fmt: str, opts: Options) -> str:
    from kathansync.apply import result_dict
    from kathansync.render import render_outcomes

    return render_outcomes(result_dict(the_plan, outcomes), fmt, color=opts.color())


FORMATS = click.Choice(["text", "json", "markdown"])
PLAN_FORMATS = click.Choice(["text", "json", "markdown", "github"])


def _target_option(func: F) -> F:
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="HANDLE",
        help="Only this assistant (repeatable).",
    )(func)


def _network_options(func: F) -> F:
    options = [
        click.option(
            "--parallelism",
            type=click.IntRange(1, 64),
            default=8,
            show_default=True,
            help="Requests in flight at once.",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(0, 20),
            default=4,
            show_default=True,
            help="Retries after the first try, on 429/502/503/504, timeouts, lost connections.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0, min_open=True),
            default=10.0,
            show_default=True,
            help="Seconds to wait for each answer.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _network(kwargs: dict[str, Any]) -> Network:
    from kathansync.session import Network

    return Network(
        parallelism=kwargs.pop("parallelism"),
        max_retries=kwargs.pop("max_retries"),
        timeout=kwargs.pop("timeout"),
    )


def _prune_options(func: F) -> F:
    func = click.option(
        "--force", is_flag=True, help="Prune even past the safety threshold (prune_threshold)."
    )(func)
    func = click.option(
        "--prune",
        is_flag=True,
        help="Also delete remote assistants that no manifest references.",
    )(func)
    return func


# --- validate --------------------------------------------------------------------------------


@cli.command()
@common_options
@click.option("--strict", is_flag=True, help="Unknown enum values are errors, not warnings.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    help="github: also print workflow-command annotations.",
)
def validate(strict: bool, fmt: str, **kwargs: Any) -> int:
    """Check manifests without touching the network.

    Reports every problem in every file (file:line:column) in one run. Without --env, when
    kathansync.yaml defines environments, every environment is checked (ids, vars, dirs).

    \b
    Example:
      kathansync validate --strict
    """
    from dataclasses import replace

    opts = _options(kwargs)
    session = _session(opts)
    environments = session.settings.config.environments
    sessions = [session]
    if session.settings.environment is None and environments:
        sessions = [_session(replace(opts, env=name)) for name in sorted(environments)]
    problems: set[Problem] = set()
    valid = 0
    for each in sessions:
        result = each.load_result(strict=strict)
        problems.update(result.problems)
        valid = max(valid, len(result.manifests))
    ordered = sorted(problems)
    for problem in ordered:
        click.echo(str(problem), err=True)
    if fmt == "github" or _in_actions():
        _annotate(ordered, err=False)
    errors = sum(p.severity == "error" for p in ordered)
    warnings = len(ordered) - errors
    checked = "" if len(sessions) == 1 else f" (environments: {', '.join(sorted(environments))})"
    if errors:
        where = session.settings.manifests
        click.echo(f"{errors} error(s), {warnings} warning(s) in {where}{checked}.", err=True)
        return EXIT_ERROR
    if not opts.quiet:
        noted = f", {warnings} warning(s)" if warnings else ""
        click.echo(f"{valid} manifest(s) valid{checked}{noted}.")
    return EXIT_OK


# --- plan ------------------------------------------------------------------------------------


@cli.command()
@common_options
@_target_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan for `apply FILE`.",
)
@click.option("--format", "fmt", type=PLAN_FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@_prune_options
@_network_options
def plan(
    targets: tuple[str, ...],
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    prune: bool,
    force: bool,
    **kwargs: Any,
) -> int:
    """Show what apply would change: manifests against the live API.

    --format github prints the markdown plan and, in GitHub Actions, adds it to the job
    summary (as any format does there).

    \b
    Examples:
      kathansync plan
      kathansync plan --target support --format json
      kathansync plan --out plan.json --detailed-exitcode   # CI: 2 means changes
    """
    from kathansync.planfile import save_plan

    opts = _options(kwargs)
    session = _session(opts)
    manifests = _load(opts, session, annotate=fmt == "github")
    with session.connect(_network(kwargs)) as conn:
        run = session.plan(conn, manifests, targets=targets, prune=prune, force=force)
    click.echo(_render_plan(run.plan, "markdown" if fmt == "github" else fmt, opts), nl=False)
    if _in_actions() or fmt == "github":
        from kathansync import github

        github.append_step_summary(_render_plan(run.plan, "markdown", opts), os.environ)
    if out:
        save_plan(run.plan, run.keys, out)
        opts.info(f"Saved the plan to {out}; apply it with: kathansync apply {out}")
    if detailed_exitcode and run.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


# --- apply -----------------------------------------------------------------------------------


@cli.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@common_options
@_target_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for 'yes'.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@_prune_options
@_network_options
def apply(
    planfile: Path | None,
    targets: tuple[str, ...],
    auto_approve: bool,
    fmt: str,
    prune: bool,
    force: bool,
    **kwargs: Any,
) -> int:
    """Make the API match the manifests, sending only what changed.

    Without PLANFILE: plans, shows the plan and asks for 'yes' (--auto-approve skips the
    question; with no terminal it is required). With PLANFILE: applies exactly that saved plan
    without asking, refusing any assistant whose remote or manifest changed since ("stale").

    \b
    Examples:
      kathansync apply
      kathansync apply --auto-approve --target support
      kathansync plan --out plan.json && kathansync apply plan.json
    """
    from kathansync.apply import succeeded
    from kathansync.planfile import load_plan

    opts = _options(kwargs)
    if planfile and (targets or prune):
        raise click.UsageError("a saved plan is applied whole: no --target or --prune with it")
    session = _session(opts)
    settings = session.settings
    manifests = _load(opts, session)
    with session.connect(_network(kwargs)) as conn:
        if planfile:
            saved = load_plan(planfile, api_url=settings.api_url, environment=settings.environment)
            run, refused = session.replan_saved(conn, manifests, saved)
        else:
            run = session.plan(conn, manifests, targets=targets, prune=prune, force=force)
            refused = {}
            if run.plan.has_changes and not _confirm(run.plan, fmt, opts, auto_approve):
                return EXIT_ERROR
        if not run.plan.has_changes and not refused:
            if fmt == "text":
                click.echo("No changes. Nothing to apply.")
            else:
                click.echo(_render_outcomes(run.plan, [], fmt, opts), nl=False)
            return EXIT_OK
        pending = sum(c.has_changes for c in run.plan.changes)
        with Progress("applying", pending, opts) as progress:
            outcomes = session.apply(conn, run, refused, on_done=progress.tick)
    click.echo(_render_outcomes(run.plan, outcomes, fmt, opts), nl=False)
    return EXIT_OK if succeeded(outcomes) else EXIT_ERROR


def _confirm(the_plan: Plan, fmt: str, opts: Options, auto_approve: bool) -> bool:
    """Show the plan and get a 'yes'. With a machine format the plan goes to stderr."""
    click.echo(_render_plan(the_plan, "text", opts), err=fmt != "text")  # a blank line after
    if auto_approve:
        return True
    if not _interactive():
        from kathansync.errors import ConfigError

        raise ConfigError(
            "refusing to apply without confirmation: no terminal to ask on; "
            "pass --auto-approve, or apply a saved plan (plan --out FILE, then apply FILE)"
        )
    answer = click.prompt(
        "Apply these changes? Only 'yes' will be accepted",
        default="",
        show_default=False,
        err=True,
    )
    if answer.strip() == "yes":
        return True
    click.echo("Apply cancelled; nothing was sent.", err=True)
    return False


def _interactive() -> bool:
    """Is there a person to ask? (A function, so tests can stand in for the terminal.)"""
    return sys.stdin.isatty()


class Progress:
    """`applying 37/100` on stderr, redrawn in place: only on a terminal, only for long runs."""

    def __init__(self, label: str, total: int, opts: Options, *, minimum: int = 10) -> None:
        import threading

        self.label, self.total, self.done = label, total, 0
        self.enabled = total >= minimum and not opts.quiet and sys.stderr.isatty()
        self._lock = threading.Lock()

    def tick(self, _: object = None) -> None:
        with self._lock:
            self.done += 1
            if self.enabled:
                sys.stderr.write(f"\r{self.label} {self.done}/{self.total}")
                sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\r\x1b[K")  # erase the line: the report follows
            sys.stderr.flush()


# --- import / pull: remote -> manifests ------------------------------------------------------


@cli.command("import")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "import_all", is_flag=True, help="Every assistant the API lists.")
@common_options
@_network_options
def import_(ids: tuple[str, ...], import_all: bool, **kwargs: Any) -> int:
    """Write a manifest for each existing assistant (ID... or --all).

    Handles are slugs of the names (-2, -3 when taken). Never overwrites a file; an id some
    manifest already has is skipped. `plan` right after shows `No changes.`

    \b
    Examples:
      kathansync import --all
      kathansync import 3f2b8c1e-... --dir assistants/imported
    """
    from kathansync.importing import import_assistants

    opts = _options(kwargs)
    if bool(ids) == import_all:
        raise click.UsageError("give the ids of the assistants to import, or --all (not both)")
    session = _session(opts)
    settings = session.settings
    existing = _load(opts, session) if settings.manifests.is_dir() else []
    with session.connect(_network(kwargs)) as conn:
        report = import_assistants(
            conn.client,
            None if import_all else list(ids),
            settings.manifests,
            existing,
            env=settings.environment,
        )
    for item in report.written:
        click.echo(f"{item.file}: imported {item.id}")
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


@cli.command()
@common_options
@_target_option
@click.option(
    "--write-files",
    is_flag=True,
    help="Also update files referenced with !file (only inside the repository).",
)
@_network_options
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
    from kathansync.manifest import find_root
    from kathansync.session import select
    from kathansync.writeback import pull_manifest

    opts = _options(kwargs)
    session = _session(opts)
    manifests = select(_load(opts, session), targets)
    with session.connect(_network(kwargs)) as conn:
        remotes = session.fetch(conn.client, manifests)
    root = find_root(session.settings.manifests)
    updated = kept = 0
    for manifest in manifests:
        if not manifest.id:
            opts.info(f"{manifest.file}: no id yet (not created): nothing to pull")
            continue
        report = pull_manifest(manifest, remotes[manifest.id], root=root, write_files=write_files)
        for path in report.written:
            click.echo(f"{manifest.file}: updated {path}")
        for written in report.files_written:
            click.echo(f"{written}: updated ({manifest.handle})")
        for line in report.kept:
            click.echo(f"{manifest.file}: not pulled: {line}")
        updated += report.changed
        kept += len(report.kept)
    if not opts.quiet:
        if updated or kept:
            click.echo(
                f"{updated} manifest(s) updated, {kept} value(s) left as is."
                + (" Review and commit the changes." if updated else "")
            )
        else:
            click.echo("Nothing to pull: the manifests match the remote.")
    return EXIT_OK


# --- Editors, scaffolding and the local API -------------------------------------------------


@cli.command()
@click.option(
    "--draft",
    type=click.Choice(["2020-12", "7"]),
    default="2020-12",
    show_default=True,
    help="JSON Schema draft to declare (7 for older editor tooling).",
)
def schema(draft: str) -> int:
    """Print the JSON Schema of a manifest, for editors.

    \b
    Example:
      kathansync schema > .kathansync/manifest.schema.json
    """
    from kathansync.schema import schema_json

    click.echo(schema_json(draft), nl=False)  # type: ignore[arg-type]
    return EXIT_OK


@cli.command()
@click.argument(
    "directory", required=False, default=".", type=click.Path(path_type=Path, file_okay=False)
)
def init(directory: Path) -> int:
    """Scaffold a repository: kathansync.yaml, an example manifest and a CI workflow.

    Refuses to overwrite any existing file.

    \b
    Example:
      kathansync init my-assistants
    """
    from kathansync.scaffold import init_project

    for path in init_project(directory):
        click.echo(f"created {path}")
    click.echo(
        "Next: kathansync validate, then kathansync plan (needs KATHAN_API_KEY, KATHAN_USER_ID)."
    )
    return EXIT_OK


@cli.command()
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
@click.option("--rate-limit", type=click.IntRange(1), help="Requests per second before 429.")
@click.option("--seed", type=int, help="Random seed for --fail-rate, for reproducible runs.")
def emulator(host: str, port: int, **options: Any) -> int:
    """Serve a local Kathan API for demos, tests and benchmarks.

    Needs the emulator extra: pip install 'kathansync[emulator]'.

    \b
    Example:
      kathansync emulator --port 8787 --state .demo/state.json --latency-ms 50
    """
    from kathansync.emulator import serve

    serve(host, port, **options)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> NoReturn:
    cli.main(args=list(argv) if argv is not None else None, prog_name="kathansync")
    raise SystemExit(0)  # pragma: no cover - cli.main always exits
