"""validate, plan, apply: the pipeline commands, from manifests to verified PUTs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kathansync.commands.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    FORMATS,
    PLAN_FORMATS,
    Options,
    annotate,
    common_options,
    echo_api_line,
    in_actions,
    load_options,
    load_or_fail,
    network_from,
    network_options,
    options_from,
    prune_options,
    render_outcomes_for,
    render_plan_for,
    session_for,
    target_option,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kathansync.apply import Outcome
    from kathansync.errors import Problem
    from kathansync.plan import Plan
    from kathansync.session import Connection, PlanRun, Session


# --- validate --------------------------------------------------------------------------------


@click.command()
@load_options
@click.option("--strict", is_flag=True, help="Unknown enum values are errors, not warnings.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    help="github: also print workflow-command annotations (on stdout).",
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

    opts = options_from(kwargs)
    session = session_for(opts)
    environments = session.settings.config.environments
    sessions = [session]
    if session.settings.environment is None and environments:
        sessions = [session_for(replace(opts, env=name)) for name in sorted(environments)]
    problems: set[Problem] = set()
    valid = 0
    for each in sessions:
        result = each.load_result(strict=strict)
        problems.update(result.problems)
        valid = max(valid, len(result.manifests))
    ordered = sorted(problems)
    for problem in ordered:
        click.echo(str(problem), err=True)
    if fmt == "github" or in_actions():
        annotate(ordered, err=fmt != "github")
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


@click.command()
@common_options
@target_option
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan for `apply FILE`.",
)
@click.option("--format", "fmt", type=PLAN_FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@prune_options
@network_options
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

    opts = options_from(kwargs)
    session = session_for(opts)
    manifests = load_or_fail(session, github=fmt == "github")
    shown = echo_api_line(session, fmt)
    with session.connect(network_from(kwargs)) as conn:
        run = session.plan(conn, manifests, targets=targets, prune=prune, force=force)
    rendered = render_plan_for(
        run.plan, "markdown" if fmt == "github" else fmt, opts, header=not shown
    )
    click.echo(rendered, nl=False)
    if in_actions() or fmt == "github":
        from kathansync import github

        github.append_step_summary(render_plan_for(run.plan, "markdown", opts), os.environ)
    if out:
        save_plan(run.plan, run.keys, out)
        opts.info(f"Saved the plan to {out}; apply it with: kathansync apply {out}")
    if detailed_exitcode and run.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


# --- apply -----------------------------------------------------------------------------------


@click.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@common_options
@target_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for 'yes'.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@prune_options
@network_options
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
    from kathansync.planfile import as_saved_plan, load_plan

    opts = options_from(kwargs)
    if planfile and (targets or prune):
        raise click.UsageError("a saved plan is applied whole: no --target or --prune with it")
    session = session_for(opts)
    settings = session.settings
    manifests = load_or_fail(session)
    shown = echo_api_line(session, fmt)
    with session.connect(network_from(kwargs)) as conn:
        if planfile:
            saved = load_plan(planfile, api_url=settings.api_url, environment=settings.environment)
            run, refused = session.replan_saved(conn, manifests, saved)
        else:
            run = session.plan(conn, manifests, targets=targets, prune=prune, force=force)
            refused = {}
            if run.plan.has_changes and not _approved(run.plan, auto_approve, fmt, opts, shown):
                return EXIT_ERROR
            if run.plan.has_changes and not auto_approve:
                # A person may answer minutes later: apply only what they saw, exactly as a
                # saved plan would be (anything that moved remotely meanwhile is refused).
                reviewed = as_saved_plan(run.plan, run.keys)
                run, refused = session.quietly().replan_saved(conn, manifests, reviewed)
        if fmt == "text" and not run.pending(refused):
            click.echo("No changes. Nothing to apply.")
            return EXIT_OK
        outcomes = _send(session, conn, run, refused, opts)
    return _report(session, run, outcomes, fmt, opts)


def _approved(the_plan: Plan, auto_approve: bool, fmt: str, opts: Options, shown: bool) -> bool:
    """Show the plan (without the API line when it was shown already); unless --auto-approve,
    a person must answer 'yes'."""
    if auto_approve:
        _show_plan(the_plan, fmt, opts, header=not shown)
        return True
    return _confirm(the_plan, fmt, opts, header=not shown)


def _report(
    session: Session, run: PlanRun, outcomes: Sequence[Outcome], fmt: str, opts: Options
) -> int:
    """The outcomes, then the ids written back (after: a file that cannot be written never
    hides what happened remotely); in Actions, plan and outcomes in the job summary."""
    from kathansync.apply import succeeded

    click.echo(render_outcomes_for(run.plan, outcomes, fmt, opts), nl=False)
    unwritten = session.write_back_ids(run, outcomes)
    for message in unwritten:
        click.echo(f"Error: {message}", err=True)
    if in_actions():
        from kathansync import github

        # What was planned and what became of it, side by side.
        summary = render_plan_for(run.plan, "markdown", opts)
        summary += "\n" + render_outcomes_for(run.plan, outcomes, "markdown", opts)
        github.append_step_summary(summary, os.environ)
    return EXIT_OK if succeeded(outcomes) and not unwritten else EXIT_ERROR


def _send(
    session: Session,
    conn: Connection,
    run: PlanRun,
    refused: Mapping[str, Outcome],
    opts: Options,
) -> list[Outcome]:
    """Apply with progress; on Ctrl-C, say what was done, in flight and not sent (and write the
    ids of assistants already created, or the next plan would create them again)."""
    from kathansync.commands.interrupt import ApplyWatch

    pending = run.pending(refused)
    watch = ApplyWatch(pending)
    with opts.progress("applying", len(pending)) as tick:

        def done(outcome: Outcome) -> None:
            watch.done(outcome)
            tick()

        try:
            return session.apply(conn, run, refused, on_done=done, on_start=watch.start)
        except KeyboardInterrupt:
            click.echo(watch.report(), err=True)
            for message in session.write_back_ids(run, watch.outcomes()):
                click.echo(f"Error: {message}", err=True)
            raise


def _show_plan(the_plan: Plan, fmt: str, opts: Options, *, header: bool) -> None:
    """The plan before an apply: on stdout in text mode; with a machine format, stdout is the
    result only, so the plan goes to stderr for whoever watches."""
    text = render_plan_for(the_plan, "text", opts, header=header)
    click.echo(text, err=fmt != "text")  # a blank line after


def _confirm(the_plan: Plan, fmt: str, opts: Options, *, header: bool) -> bool:
    """Show the plan and get a 'yes' from a person at a terminal."""
    _show_plan(the_plan, fmt, opts, header=header)
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
