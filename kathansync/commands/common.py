"""What every command shares: options, the session for one run, rendering, progress.

Commands are click glue: parse options, run the session's stages in order, print, and return
an exit code. Heavy modules are imported inside functions, so `kathansync --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

# Re-exported (`as`): every command takes the exit codes from here.
from kathansync.commands import EXIT_CHANGES as EXIT_CHANGES
from kathansync.commands import EXIT_ERROR as EXIT_ERROR
from kathansync.commands import EXIT_OK as EXIT_OK
from kathansync.commands.complete import complete_environments, complete_handles

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.errors import Problem
    from kathansync.models import Manifest
    from kathansync.plan import Plan
    from kathansync.run import Run
    from kathansync.settings import Network, Settings

F = TypeVar("F", bound=Callable[..., Any])


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

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[], None]]:
        """A progress line on stderr for long runs on a terminal; a no-op otherwise."""
        with Progress(label, total, self) as shown:
            yield shown.tick


def _stacked(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Several click options as one decorator, in the order they are listed in --help."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


_directory_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Manifests directory (default: from kathansync.yaml, else assistants/).",
)
_env_option = click.option(
    "--env",
    envvar="KATHANSYNC_ENV",
    help="Environment from kathansync.yaml (or KATHANSYNC_ENV).",
    shell_complete=complete_environments,
)
_quiet_option = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No warnings, remarks or progress on stderr (validate: no output when valid).",
)
_no_color_option = click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR=1).")

# What a command that never touches the network takes (validate): no URL, no retries to log.
load_options = _stacked(_directory_option, _env_option, _quiet_option, _no_color_option)

common_options = _stacked(
    _directory_option,
    _env_option,
    click.option(
        "--api-url",
        help="Kathan API base URL (default: the --env environment's api_url, "
        "KATHAN_API_URL, kathansync.yaml's api_url, else the staging API).",
    ),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Log each retry with its request, and list paging, on stderr.",
    ),
    _quiet_option,
    _no_color_option,
)


def options_from(kwargs: dict[str, Any]) -> Options:
    return Options(
        directory=kwargs.pop("directory"),
        env=kwargs.pop("env"),
        api_url=kwargs.pop("api_url", None),
        verbose=kwargs.pop("verbose", False),
        quiet=kwargs.pop("quiet"),
        no_color=kwargs.pop("no_color"),
    )


# --- The run: settings, the session, and how remarks reach the user ---------------------------


def settings_for(opts: Options) -> Settings:
    """The run's settings, without a `Run`: enough for a command that only loads (validate)."""
    from kathansync.settings import resolve_settings

    return resolve_settings(
        directory=opts.directory,
        env=opts.env,
        api_url=opts.api_url,
        environ=os.environ,
        cwd=Path.cwd(),
    )


def session_for(opts: Options, settings: Settings | None = None) -> Run:
    from kathansync.run import Run

    settings = settings or settings_for(opts)
    return Run(settings, info=opts.info, log=opts.log, progress=opts.progress)


@contextmanager
def walking_session(
    opts: Options, network: Network, *, targets: Sequence[str], prune: bool
) -> Iterator[Run]:
    """`plan`'s run, GET /assistants already walking (when the run will read it: see
    connect.listing_early) before the pipeline is imported: those 0.1 to 0.2 s of imports,
    and loading the manifests, overlap the first pages instead of coming before them."""
    from kathansync import connect

    settings = settings_for(opts)
    walk = None
    if not targets:
        walk = connect.listing_early(settings, network, opts.info, opts.log, prune=prune)
    try:
        session = session_for(opts, settings)
    except BaseException:
        if walk is not None:
            walk.__exit__()
        raise
    with session.walking(network, walk):
        yield session


def load_or_fail(session: Run, *, github: bool = False) -> list[Manifest]:
    """Manifests, or every problem and exit 1 before the network; warnings go to stderr.

    With `github` (--format github) every problem is also a workflow command, on stdout like
    the rest of that format's output; in GitHub Actions otherwise, on stderr (see annotate).
    """
    result = session.load_result()
    if github or in_actions():
        annotate(result.problems, err=not github)
    return session.accept(result)


def annotate(problems: Sequence[Problem], *, err: bool) -> None:
    """Repeat problems as workflow commands, so they show on the pull request.

    On stdout for --format github, where they are the output asked for; on stderr when added
    only because the run is in GitHub Actions: the runner reads commands from both streams,
    and stdout may be a plan being redirected into a pull-request comment.
    """
    from kathansync import github

    click.echo(github.annotation_lines(problems), nl=False, err=err)


def in_actions() -> bool:
    from kathansync import github

    return github.in_github_actions(os.environ)


def render_plan_for(the_plan: Plan, fmt: str, opts: Options, *, header: bool = True) -> str:
    from kathansync.render import render_plan

    color = opts.color() and fmt == "text"
    return render_plan(the_plan.to_dict(), fmt, color=color, header=header)


def echo_api_line(session: Run, fmt: str) -> bool:
    """`Kathan API: <url>` on stdout before the first request, so a slow or silent API is
    seen to be the one meant; text output only (the others are read by programs). True when
    printed: the plan is then rendered without it."""
    if fmt != "text":
        return False
    from kathansync.render import api_line

    settings = session.settings
    click.echo(
        api_line({"api_url": settings.api_url, "environment": settings.environment}), nl=False
    )
    return True


def render_outcomes_for(
    the_plan: Plan, outcomes: Sequence[Outcome], fmt: str, opts: Options
) -> str:
    from kathansync.apply import result_dict
    from kathansync.render import render_outcomes

    return render_outcomes(result_dict(the_plan, outcomes), fmt, color=opts.color())


FORMATS = click.Choice(["text", "json", "markdown"])
PLAN_FORMATS = click.Choice(["text", "json", "markdown", "github"])


def target_option(func: F) -> F:
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="HANDLE",
        help="Only this assistant (repeatable).",
        shell_complete=complete_handles,
    )(func)


network_options = _stacked(
    click.option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=None,
        help="Requests in flight at once (default: from the rate-limit budget, at most 32;"
        " never more than the budget allows).",
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
    click.option(
        "--rate-limit",
        type=click.IntRange(1),
        default=None,
        help="Requests per minute when the API sends no X-RateLimit headers"
        " (default: kathansync.yaml's rate_limit, else unpaced).",
    ),
)


def network_from(kwargs: dict[str, Any]) -> Network:
    from kathansync.settings import Network

    return Network(
        parallelism=kwargs.pop("parallelism"),
        max_retries=kwargs.pop("max_retries"),
        timeout=kwargs.pop("timeout"),
        rate_limit=kwargs.pop("rate_limit"),
    )


prune_options = _stacked(
    click.option(
        "--prune", is_flag=True, help="Also delete remote assistants that no manifest references."
    ),
    click.option(
        "--force", is_flag=True, help="Prune even past the safety threshold (prune_threshold)."
    ),
)


class Progress:
    """`fetching 3/100` on stderr, redrawn in place: only on a terminal, and only once the work
    has taken about a second, whatever the count (one slow answer deserves a sign of life)."""

    def __init__(self, label: str, total: int, opts: Options, *, delay: float = 1.0) -> None:
        import threading

        self.label, self.total, self.done = label, total, 0
        self.enabled = total > 0 and not opts.quiet and sys.stderr.isatty()
        self.shown = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(delay, self._show)
        self._timer.daemon = True

    def tick(self, _: object = None) -> None:
        with self._lock:
            self.done += 1
            if self.shown:
                self._draw()

    def _show(self) -> None:
        with self._lock:
            if self.enabled and self.done < self.total:
                self.shown = True
                self._draw()

    def _draw(self) -> None:
        sys.stderr.write(f"\r{self.label} {self.done}/{self.total}")
        sys.stderr.flush()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            if self.shown:
                sys.stderr.write("\r\x1b[K")  # erase the line: the report follows
                sys.stderr.flush()
            self.shown = self.enabled = False
