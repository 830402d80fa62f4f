"""CLI: click glue that runs the pipeline stages in order, owns the streams and the exit codes.

Exit codes: 0 success; 1 any error, usage errors included (click's 2 is remapped, so that 2 only
ever means "plan --detailed-exitcode found changes").
Human output goes to stdout; warnings, progress and logs to stderr. Heavy modules (pydantic,
ruamel, httpx, deepdiff) are imported inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from kathansync import __version__

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.client import KathanClient
    from kathansync.config import Config
    from kathansync.manifest import LoadResult
    from kathansync.models import Manifest
    from kathansync.plan import Change, FingerprintKeys, Plan

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


class KathansyncGroup(click.Group):
    """A click group whose errors end as one clean message and exit code 1."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        from kathansync.errors import KathansyncError

        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
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


# --- LOAD -> DESIRED -------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    api_url: str
    manifests: Path
    environment: str | None
    variables: Mapping[str, str]
    config: Config


def _settings(opts: Options) -> Settings:
    from kathansync.client import API_URL_ENV, DEFAULT_API_URL
    from kathansync.config import load_config

    config = load_config(Path.cwd())
    selected = config.select(opts.env)
    api_url = opts.api_url or os.environ.get(API_URL_ENV) or selected.api_url or DEFAULT_API_URL
    manifests = opts.directory or selected.manifests
    return Settings(api_url.rstrip("/"), manifests, selected.env, selected.vars, config)


def _load_result(settings: Settings, *, strict: bool = False) -> LoadResult:
    """Every manifest and every problem; nothing raised for a user's mistake in a manifest."""
    from kathansync.errors import ConfigError
    from kathansync.manifest import load_manifests

    if not settings.manifests.is_dir():
        raise ConfigError(f"manifests directory {settings.manifests} does not exist (see --dir)")
    return load_manifests(
        settings.manifests,
        env=settings.environment,
        variables=settings.variables,
        strict=strict,
        root=settings.config.root if settings.config.path else None,
    )


def _load(opts: Options, settings: Settings, *, strict: bool = False) -> list[Manifest]:
    """Load every manifest; warnings go to stderr, any error stops the run before the network."""
    from kathansync.errors import ManifestError

    result = _load_result(settings, strict=strict)
    _annotate(result.problems)
    if result.errors:
        raise ManifestError(result.problems)
    for problem in result.problems:
        opts.info(str(problem))
    return result.manifests


def _annotate(problems: Sequence[Any]) -> None:
    """In GitHub Actions, repeat problems as workflow commands so they show on the PR.

    On stderr: the runner reads commands from both streams, and stdout may be a plan that is
    being redirected into a pull-request comment.
    """
    from kathansync import github

    if github.in_github_actions(os.environ):
        for problem in problems:
            click.echo(github.annotation(problem), err=True)


def _select(manifests: list[Manifest], targets: Sequence[str]) -> list[Manifest]:
    if not targets:
        return manifests
    from kathansync.errors import ConfigError
    from kathansync.suggest import did_you_mean

    by_handle = {m.handle: m for m in manifests}
    unknown = [t for t in targets if t not in by_handle]
    if unknown:
        hint = did_you_mean(unknown[0], by_handle)
        raise ConfigError(f"--target {unknown[0]}: no manifest has this handle{hint}")
    wanted = set(targets)
    return [m for m in manifests if m.handle in wanted]


# --- FETCH -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """A client plus the API key's role in plan fingerprints (the key is never printed)."""

    client: KathanClient
    api_key: str = field(repr=False)

    def keys(self, salt: str | None = None) -> FingerprintKeys:
        from kathansync.planfile import new_keys

        return new_keys(self.api_key, salt=salt)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _connect(
    opts: Options, settings: Settings, *, parallelism: int, max_retries: int
) -> Connection:
    """A client for the selected API; missing credentials fail here, before any request."""
    from kathansync.client import Credentials, KathanClient, RetryPolicy

    credentials = Credentials.from_env(os.environ)
    client = KathanClient(
        settings.api_url,
        credentials,
        retry=RetryPolicy(max_tries=max_retries),
        parallelism=parallelism,
        log=opts.log,
    )
    return Connection(client, credentials.api_key)


def _fetch(client: KathanClient, manifests: Sequence[Manifest]) -> dict[str, dict[str, Any]]:
    """The remote object of every manifest that has an id; any failure stops the run."""
    from kathansync.errors import ApiError, KathansyncError

    ids = [m.id for m in manifests if m.id]
    fetched = client.fetch_assistants(ids)
    failures = [
        str(result.for_handle(m.handle))
        for m in manifests
        if m.id and isinstance(result := fetched[m.id], ApiError)
    ]
    if failures:
        raise KathansyncError("could not read the remote state:\n  " + "\n  ".join(failures))
    return {i: r for i, r in fetched.items() if not isinstance(r, ApiError)}


# --- PLAN -> RENDER --------------------------------------------------------------------------


def _make_plan(
    opts: Options,
    settings: Settings,
    targets: Sequence[str],
    client: KathanClient,
    keys: FingerprintKeys,
    manifests: list[Manifest] | None = None,
) -> tuple[Plan, list[Manifest]]:
    from kathansync.plan import make_plan

    selected = _select(manifests if manifests is not None else _load(opts, settings), targets)
    remotes = _fetch(client, selected)
    plan = make_plan(
        selected, remotes, api_url=settings.api_url, keys=keys, environment=settings.environment
    )
    return plan, selected


def _render_plan(plan: Plan, fmt: str, opts: Options) -> str:
    from kathansync.render import render_plan

    return render_plan(plan.to_dict(), fmt, color=opts.color())


FORMATS = click.Choice(["text", "json", "markdown"])
PLAN_FORMATS = click.Choice(["text", "json", "markdown", "github"])


def _scale_options(func: F) -> F:
    func = click.option(
        "--max-retries",
        type=click.IntRange(1, 20),
        default=5,
        show_default=True,
        help="Tries per request on 429/5xx/timeouts.",
    )(func)
    func = click.option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        help="Requests in flight at once.",
    )(func)
    return func


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

    Reports every problem in every file (file:line:column) in one run.

    \b
    Example:
      kathansync validate --strict
    """
    from kathansync import github

    opts = _options(kwargs)
    settings = _settings(opts)
    result = _load_result(settings, strict=strict)
    for problem in result.problems:
        click.echo(str(problem), err=True)
    if fmt == "github" or github.in_github_actions(os.environ):
        for problem in result.problems:
            click.echo(github.annotation(problem))
    errors = len(result.errors)
    warnings = len(result.problems) - errors
    count = len(result.manifests)
    if errors:
        click.echo(f"{errors} error(s), {warnings} warning(s) in {settings.manifests}.", err=True)
        return EXIT_ERROR
    if not opts.quiet:
        click.echo(
            f"{count} manifest(s) valid" + (f", {warnings} warning(s)." if warnings else ".")
        )
    return EXIT_OK


@cli.command()
@common_options
@click.option(
    "--target", "targets", multiple=True, metavar="HANDLE", help="Only this assistant (repeatable)."
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan for `apply FILE`.",
)
@click.option("--format", "fmt", type=PLAN_FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@_scale_options
def plan(
    targets: tuple[str, ...],
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    parallelism: int,
    max_retries: int,
    **kwargs: Any,
) -> int:
    """Show what apply would change: manifests against the live API.

    \b
    Examples:
      kathansync plan
      kathansync plan --target support --format json
      kathansync plan --out plan.json --detailed-exitcode   # CI: 2 means changes
    """
    from kathansync.planfile import save_plan

    opts = _options(kwargs)
    settings = _settings(opts)
    manifests = _load(opts, settings)
    with _connect(opts, settings, parallelism=parallelism, max_retries=max_retries) as conn:
        keys = conn.keys()
        the_plan, _ = _make_plan(opts, settings, targets, conn.client, keys, manifests)
    shown = "markdown" if fmt == "github" else fmt
    click.echo(_render_plan(the_plan, shown, opts), nl=False)
    if fmt == "github" or _in_actions():
        _step_summary(the_plan, opts)
    if out:
        save_plan(the_plan, keys, out)
        opts.info(f"Saved the plan to {out}; apply it with: kathansync apply {out}")
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _in_actions() -> bool:
    from kathansync import github

    return github.in_github_actions(os.environ)


def _step_summary(the_plan: Plan, opts: Options) -> None:
    from kathansync import github

    github.append_step_summary(_render_plan(the_plan, "markdown", opts), os.environ)


# --- APPLY -> VERIFY -------------------------------------------------------------------------


@cli.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@common_options
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="HANDLE",
    help="Only this assistant (repeatable; not with PLANFILE).",
)
@click.option("--auto-approve", is_flag=True, help="Do not ask for 'yes'.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@_scale_options
def apply(
    planfile: Path | None,
    targets: tuple[str, ...],
    auto_approve: bool,
    fmt: str,
    parallelism: int,
    max_retries: int,
    **kwargs: Any,
) -> int:
    """Send the minimal PUTs that make the API match the manifests.

    Without PLANFILE: plans, shows the plan and asks for 'yes' (--auto-approve skips the
    question; with no terminal it is required). With PLANFILE: applies exactly that saved plan,
    refusing any assistant whose remote or manifest changed since ("stale plan").

    \b
    Examples:
      kathansync apply
      kathansync apply --auto-approve --target support
      kathansync apply plan.json
    """
    from kathansync.apply import apply_changes, succeeded

    opts = _options(kwargs)
    settings = _settings(opts)
    if planfile and targets:
        raise click.UsageError(
            "--target cannot be used with a PLANFILE: a saved plan is applied whole"
        )
    manifests = _load(opts, settings)
    with _connect(opts, settings, parallelism=parallelism, max_retries=max_retries) as conn:
        if planfile:
            the_plan, refused = _replan_saved(opts, settings, planfile, conn, manifests)
        else:
            the_plan, refused = _plan_and_confirm(
                opts, settings, targets, conn, manifests, fmt, auto_approve
            )
            if the_plan is None:
                return EXIT_ERROR
        if not the_plan.has_changes and not refused:
            click.echo(
                "No changes. Nothing to apply."
                if fmt == "text"
                else _render_outcomes_of(the_plan, [], fmt, opts),
                nl=fmt == "text",
            )
            return EXIT_OK
        desired = {m.handle: m.desired for m in manifests}
        pending = [c for c in the_plan.changes if c.has_changes or c.handle in refused]
        with Progress("applying", len(pending), opts) as progress:
            outcomes = apply_changes(
                pending, conn.client, desired, refused=refused, on_done=progress.tick
            )
    _write_back_ids(manifests, outcomes, opts)
    unchanged = [c for c in the_plan.changes if not c.has_changes and c.handle not in refused]
    everything = sorted([*outcomes, *(_unchanged(c) for c in unchanged)], key=lambda o: o.handle)
    click.echo(_render_outcomes_of(the_plan, everything, fmt, opts), nl=False)
    return EXIT_OK if succeeded(everything) else EXIT_ERROR


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


def _unchanged(change: Change) -> Outcome:
    from kathansync.apply import Outcome, Status

    return Outcome(change.handle, change.id, change.action, Status.UNCHANGED)


def _render_outcomes_of(
    the_plan: Plan, outcomes: Sequence[Outcome], fmt: str, opts: Options
) -> str:
    from kathansync.apply import result_dict
    from kathansync.render import render_outcomes

    return render_outcomes(result_dict(the_plan, outcomes), fmt, color=opts.color())


def _plan_and_confirm(
    opts: Options,
    settings: Settings,
    targets: Sequence[str],
    conn: Connection,
    manifests: list[Manifest],
    fmt: str,
    auto_approve: bool,
) -> tuple[Plan | None, dict[str, Outcome]]:
    the_plan, _ = _make_plan(opts, settings, targets, conn.client, conn.keys(), manifests)
    if not the_plan.has_changes:
        return the_plan, {}
    # The plan is shown on stdout in text mode; with a machine format, stdout is the result
    # only, so the plan goes to stderr for whoever watches.
    shown = _render_plan(the_plan, "text", opts)
    click.echo(shown, nl=False, err=fmt != "text")
    if auto_approve:
        return the_plan, {}
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
    if answer.strip() != "yes":
        click.echo("Apply cancelled; nothing was sent.", err=True)
        return None, {}
    return the_plan, {}


def _interactive() -> bool:
    """Is there a person to ask? (A function, so tests can stand in for the terminal.)"""
    return sys.stdin.isatty()


def _replan_saved(
    opts: Options,
    settings: Settings,
    planfile: Path,
    conn: Connection,
    manifests: list[Manifest],
) -> tuple[Plan, dict[str, Outcome]]:
    """Recompute the saved plan from fresh inputs; refuse each assistant that moved since."""
    from kathansync.apply import stale_outcome
    from kathansync.plan import Plan
    from kathansync.planfile import load_plan

    saved = load_plan(planfile, api_url=settings.api_url, environment=settings.environment)
    entries = {entry["handle"]: entry for entry in saved.entries}
    present = [m for m in manifests if m.handle in entries]
    keys = conn.keys(saved.salt)
    fresh, _ = _make_plan(opts, settings, [], conn.client, keys, present)
    by_handle = {c.handle: c for c in fresh.changes}
    refused: dict[str, Outcome] = {}
    for handle, entry in entries.items():
        if entry["action"] == "no-op" and handle in by_handle:
            continue  # nothing was planned for it; a new difference waits for the next plan
        outcome = stale_outcome(entry, by_handle.get(handle))
        if outcome:
            refused[handle] = outcome
            opts.info(outcome.message or handle)
    # Only what the saved plan planned is applied; refused ones are reported, never sent.
    changes = tuple(
        c if entries[c.handle]["action"] != "no-op" else _as_no_op(c) for c in fresh.changes
    )
    missing = [_missing_change(entries[h]) for h in refused if h not in by_handle]
    return Plan((*changes, *missing), fresh.api_url, fresh.environment), refused


def _as_no_op(change: Change) -> Change:
    from dataclasses import replace

    from kathansync.plan import Action

    return replace(change, action=Action.NO_OP, fields=(), payload={})


def _missing_change(entry: Mapping[str, Any]) -> Change:
    from kathansync.plan import Action, Change

    return Change(entry["handle"], entry.get("file"), entry.get("id"), Action(entry["action"]))


def _write_back_ids(
    manifests: Sequence[Manifest], outcomes: Sequence[Outcome], opts: Options
) -> None:
    """After a create, the new id belongs in the manifest (the manifests are the state)."""
    from kathansync.apply import Status

    created = [o for o in outcomes if o.status in (Status.CREATED,) and o.id]
    if not created:
        return
    from kathansync.writeback import write_id

    by_handle = {m.handle: m for m in manifests}
    for outcome in created:
        manifest = by_handle[outcome.handle]
        write_id(Path(manifest.file), outcome.id or "", env=None)
        opts.info(f"{manifest.file}: wrote id {outcome.id}; commit this change.")


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


# --- IMPORT / PULL: remote -> manifests --------------------------------------------------------


@cli.command("import")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "import_all", is_flag=True, help="Every assistant the API lists.")
@common_options
@_scale_options
def import_(
    ids: tuple[str, ...], import_all: bool, parallelism: int, max_retries: int, **kwargs: Any
) -> int:
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
    settings = _settings(opts)
    existing = _load(opts, settings) if settings.manifests.is_dir() else []
    with _connect(opts, settings, parallelism=parallelism, max_retries=max_retries) as conn:
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
@click.option(
    "--target", "targets", multiple=True, metavar="HANDLE", help="Only this assistant (repeatable)."
)
@click.option(
    "--write-files",
    is_flag=True,
    help="Also update files referenced with !file (only inside the repository).",
)
@_scale_options
def pull(
    targets: tuple[str, ...],
    write_files: bool,
    parallelism: int,
    max_retries: int,
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
    from kathansync.writeback import pull_manifest

    opts = _options(kwargs)
    settings = _settings(opts)
    manifests = _select(_load(opts, settings), targets)
    with _connect(opts, settings, parallelism=parallelism, max_retries=max_retries) as conn:
        remotes = _fetch(conn.client, manifests)
    root = find_root(settings.manifests)
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


def main(argv: Sequence[str] | None = None) -> NoReturn:
    cli.main(args=list(argv) if argv is not None else None, prog_name="kathansync")
    raise SystemExit(0)  # pragma: no cover - cli.main always exits
