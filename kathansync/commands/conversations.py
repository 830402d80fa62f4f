"""test, and apply --test: talk to the assistants through POST /chat and check what they say."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kathansync.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    PLAN_FORMATS,
    Options,
    annotate,
    in_actions,
    load_or_fail,
    network_from,
    network_options,
    session_for,
    target_option,
)

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.conversations.select import Selection
    from kathansync.errors import Problem
    from kathansync.models import Manifest
    from kathansync.run import Run
    from kathansync.settings import Network, Settings


@click.command("test")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Suites directory (default: kathansync.yaml's conversations, else conversations/).",
)
@click.option("--env", envvar="KATHANSYNC_ENV", help="Environment from kathansync.yaml.")
@click.option("--api-url", help="Kathan API base URL (as for plan).")
@target_option
@click.option("--format", "fmt", type=PLAN_FORMATS, default="text", show_default=True)
@click.option(
    "--junit",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the results as JUnit XML to FILE.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log each request retry on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="No remarks or progress on stderr.")
@click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR=1).")
@network_options
def test(
    directory: Path | None,
    targets: tuple[str, ...],
    fmt: str,
    junit: Path | None,
    **kwargs: Any,
) -> int:
    """Run the conversation suites against the assistants: exit 0 when every case passes.

    Each run of a case is a new conversation through POST /chat: a real, billed LLM
    conversation on a real API (see docs/testing.md). Suites are validated before any request.

    \b
    Examples:
      kathansync test
      kathansync test --env staging --target support --junit report.xml
    """
    # --dir is the suites' directory here; manifests come from kathansync.yaml (or assistants/).
    opts = Options(
        directory=None,
        env=kwargs.pop("env"),
        api_url=kwargs.pop("api_url"),
        verbose=kwargs.pop("verbose"),
        quiet=kwargs.pop("quiet"),
        no_color=kwargs.pop("no_color"),
    )
    session = session_for(opts)
    manifests = load_or_fail(session)
    selection = prepare(session, manifests, directory=directory, targets=targets)
    if not selection.suites:
        opts.info("No conversation suites for the selected assistants: nothing to test.")
        return EXIT_OK
    report = run_selection(session, network_from(kwargs), selection, opts)
    show(report, fmt, opts, junit=junit)
    return EXIT_OK if report["summary"]["passed"] == report["summary"]["cases"] else EXIT_ERROR


def prepare(
    session: Run,
    manifests: Sequence[Manifest],
    *,
    directory: Path | None = None,
    targets: Sequence[str] = (),
    need_ids: bool = True,
) -> Selection:
    """The suites to run, loaded and checked before any request (SuiteError, ConfigError)."""
    from kathansync.conversations.select import select_suites
    from kathansync.conversations.suite import SuiteError

    settings = session.settings
    folder = directory or settings.config.conversations_dir(settings.environment)
    if not folder.is_dir():
        from kathansync.errors import ConfigError

        raise ConfigError(f"conversations directory {folder} does not exist (see --dir)")
    try:
        selection = select_suites(
            folder,
            {m.handle: m.id for m in manifests},
            targets=targets,
            variables=settings.variables,
            need_ids=need_ids,
        )
    except SuiteError as error:
        if in_actions():
            annotate(error.problems, err=True)  # inline on the pull request, like manifests
        raise
    # An assistant says what its manifest told it (first_message, the prompt): the values its
    # ${VAR}s put there are as secret in a transcript as in a plan.
    secrets = selection.secrets | _manifest_secrets(manifests, settings.variables)
    return dataclasses.replace(selection, secrets=secrets)


# A variable's value shorter than this is not masked alone (it would mangle ordinary words);
# the whole field value that holds it still is.
_VALUE_MIN = 8


def _manifest_secrets(
    manifests: Sequence[Manifest], variables: Mapping[str, str]
) -> frozenset[str]:
    """Each interpolated field value of `manifests`, and each variable value found inside one."""
    from kathansync.remote.redact import sensitive_values

    fields = {v for m in manifests for v in sensitive_values(m.desired, m.sensitive) if v}
    candidates = {*variables.values(), *os.environ.values()}
    inside = {c for c in candidates if len(c) >= _VALUE_MIN and any(c in f for f in fields)}
    return frozenset(fields | inside)


def suite_problems(settings: Settings) -> list[Problem]:
    """For `validate`: every problem of the suites in the settings' conversations directory
    (none when there is no such directory), checked against every manifest file's handle."""
    folder = settings.config.conversations_dir(settings.environment)
    if not folder.is_dir() or not settings.manifests.is_dir():
        return []  # before the imports: the suites' pydantic models cost 10 ms
    from kathansync.conversations.suite import load_suites
    from kathansync.load.discover import discover, handle_of

    # Handles of every manifest file, loaded or not: a broken manifest is reported on its own.
    handles = {handle_of(path, settings.manifests) for path in discover(settings.manifests)}
    return load_suites(folder, handles, variables=settings.variables).problems


def run_selection(
    session: Run, network: Network, selection: Selection, opts: Options
) -> dict[str, Any]:
    """Every run of every selected case; the report dict, masked."""
    from kathansync.conversations.report import report_dict
    from kathansync.conversations.runner import run_suites

    total = sum(case.repeat for suite in selection.suites for case in suite.cases)
    with session.connect(network) as conn, opts.progress("conversations", total) as tick:
        results = run_suites(conn.client, selection.suites, selection.ids, on_run=tick)
    settings = session.settings
    return report_dict(
        results,
        environment=settings.environment,
        api_url=settings.api_url,
        secrets=selection.secrets,
    )


def show(
    report: dict[str, Any],
    fmt: str,
    opts: Options,
    *,
    junit: Path | None = None,
    err: bool = False,
) -> None:
    """Print the report in `fmt` (on stderr with `err`); write JUnit; in GitHub Actions
    annotate the failing cases and add the markdown to the job summary."""
    from kathansync.conversations.junit import case_problems, report_junit
    from kathansync.conversations.report import report_markdown, report_text
    from kathansync.render import render_json

    if fmt == "json":
        click.echo(render_json(report), nl=False, err=err)
    elif fmt in ("markdown", "github"):
        click.echo(report_markdown(report), nl=False, err=err)
    else:
        click.echo(report_text(report), nl=False, err=err)
    if junit is not None:
        from kathansync.atomic import write_atomic

        junit.parent.mkdir(parents=True, exist_ok=True)  # CI jobs write to reports/... folders
        write_atomic(junit, report_junit(report))
        opts.info(f"Wrote JUnit XML to {junit}")
    if fmt == "github" or in_actions():
        from kathansync import github

        # As validate and plan: on stdout as the output --format github asked for, else stderr.
        lines = github.annotation_lines(case_problems(report))
        click.echo(lines, nl=False, err=err or fmt != "github")
        github.append_step_summary(report_markdown(report), os.environ)


def test_after_apply(
    session: Run,
    network: Network,
    selection: Selection,
    outcomes: Sequence[Outcome],
    fmt: str,
    opts: Options,
) -> bool:
    """apply --test: run the suites of the assistants apply changed; False when any failed
    (after saying "applied, but conversations failed" and which)."""
    from kathansync.apply import Status
    from kathansync.conversations.report import case_label, failed_cases

    changed = {o.handle: o.id for o in outcomes if o.status in (Status.APPLIED, Status.CREATED)}
    chosen = selection.only(changed, {h: i for h, i in changed.items() if i})
    if not chosen.suites:
        opts.info("No conversation suites for the assistants that changed: nothing to test.")
        return True
    report = run_selection(session, network, chosen, opts)
    # With a machine format stdout is the apply result alone: the test report goes to stderr.
    click.echo(err=fmt != "text")
    show(report, "text", opts, err=fmt != "text")
    failed = failed_cases(report)
    if failed:
        names = "\n  ".join(case_label(case) for case in failed)
        click.echo(f"Error: applied, but conversations failed:\n  {names}", err=True)
    return not failed
