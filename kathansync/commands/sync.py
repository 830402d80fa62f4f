"""validate, plan, apply: the commands of the sync loop, from manifests to verified PUTs."""

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
    settings_for,
    target_option,
    walking_session,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kathansync.apply import Outcome
    from kathansync.errors import Problem
    from kathansync.models import Manifest
    from kathansync.plan import Plan
    from kathansync.run import ApiAccess, Planned, Run


force_create_option = click.option(
    "--force-create",
    is_flag=True,
    help="Create again an assistant whose earlier create got no answer (it may exist).",
)


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

    from kathansync.commands import conversations

    # Settings, not a session: kathansync.run imports plan and apply, which validate never uses.
    from kathansync.settings import load_result

    opts = options_from(kwargs)
    settings = settings_for(opts)
    environments = settings.config.environments
    every = [settings]
    if settings.environment is None and environments:
        every = [settings_for(replace(opts, env=name)) for name in sorted(environments)]
    problems: set[Problem] = set()
    valid = 0
    for each in every:
        result = load_result(each, strict=strict)
        problems.update(result.problems)
        problems.update(conversations.suite_problems(each))  # suites too, no network either
        valid = max(valid, len(result.manifests))
    ordered = sorted(problems)
    for problem in ordered:
        click.echo(str(problem), err=True)
    if fmt == "github" or in_actions():
        annotate(ordered, err=fmt != "github")
    errors = sum(p.severity == "error" for p in ordered)
    warnings = len(ordered) - errors
    checked = "" if len(every) == 1 else f" (environments: {', '.join(sorted(environments))})"
    if errors:
        where = settings.manifests
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
@force_create_option
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
    opts = options_from(kwargs)
    force_create, network = kwargs.pop("force_create"), network_from(kwargs)
    with walking_session(opts, network, targets=targets, prune=prune) as session:
        manifests = load_or_fail(session, github=fmt == "github")
        shown = echo_api_line(session, fmt)
        with session.connect(network) as conn:
            run = session.plan(
                conn,
                manifests,
                targets=targets,
                prune=prune,
                force=force,
                force_create=force_create,
            )
    _show_plan(run.plan, fmt, opts, header=not shown)
    if out:
        from kathansync.plan.saved import save_plan

        save_plan(run.plan, run.keys, out)
        opts.info(f"Saved the plan to {out}; apply it with: kathansync apply {out}")
    for held in run.blocked.values():  # not planned: said after the plan of the others
        click.echo(f"Error: {held.message}", err=True)
    if run.blocked:
        return EXIT_ERROR
    if detailed_exitcode and run.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _show_plan(plan: Plan, fmt: str, opts: Options, *, header: bool) -> None:
    """The plan on stdout; in GitHub Actions (or with --format github), in the job summary."""
    shown_as = "markdown" if fmt == "github" else fmt
    click.echo(render_plan_for(plan, shown_as, opts, header=header), nl=False)
    if in_actions() or fmt == "github":
        from kathansync import github

        github.append_step_summary(render_plan_for(plan, "markdown", opts), os.environ)


# --- apply -----------------------------------------------------------------------------------


@click.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path, dir_okay=False))
@common_options
@target_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for 'yes'.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@prune_options
@force_create_option
@click.option("--no-backup", is_flag=True, help="Skip the backup taken before the first request.")
@click.option("--test", "run_tests", is_flag=True, help="Then test the changed assistants.")
@network_options
def apply(planfile: Path | None, targets: tuple[str, ...], fmt: str, **kwargs: Any) -> int:
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
    from kathansync.commands import backups, conversations, interrupt

    opts = options_from(kwargs)
    _refuse_conflicts(planfile, targets, kwargs)
    session = session_for(opts)
    if planfile and backups.is_restore_plan(planfile):  # made by `restore --out` (issue 15)
        return backups.apply_saved_restore(session, planfile, fmt, opts, kwargs)
    network = network_from(kwargs)
    # Locked before loading: manifests read before another apply wrote its ids would create
    # the same assistants again.
    with session.locked(f"kathansync apply {planfile or ''}".strip()):
        manifests = load_or_fail(session)
        # Suites are checked before anything is sent: a broken suite must not leave an
        # untested apply. A created assistant has no id yet: none is required.
        run_tests = kwargs.pop("run_tests")
        tests = conversations.prepare(session, manifests, need_ids=False) if run_tests else None
        shown = echo_api_line(session, fmt)  # before the first request
        with session.connect(network) as conn:
            reviewed = _reviewed(
                session, conn, manifests, planfile, targets, fmt, opts, kwargs, header=not shown
            )
            if reviewed is None:
                return EXIT_ERROR
            run, refused = reviewed
            if fmt == "text" and not run.pending(refused) and not run.blocked:
                click.echo("No changes. Nothing to apply.")
                return EXIT_OK
            backup = not kwargs["no_backup"]
            outcomes = interrupt.send_watched(session, conn, run, refused, opts, backup=backup)
        click.echo(render_outcomes_for(run.plan, outcomes, fmt, opts), nl=False)
        unwritten = session.write_back_ids(run, outcomes)  # under the lock, like the creates
    ok = _report_applied(session, run, outcomes, unwritten, opts)
    if ok and tests is not None:
        ok = conversations.test_after_apply(session, network, tests, outcomes, fmt, opts)
    return EXIT_OK if ok else EXIT_ERROR


def _refuse_conflicts(
    planfile: Path | None, targets: tuple[str, ...], kwargs: dict[str, Any]
) -> None:
    """Options a saved plan cannot take: it is applied whole, and a restore plan is not tested
    (its assistants go back to a backup, not to the manifests the suites were written for)."""
    from kathansync.commands.backups import is_restore_plan

    if planfile and (targets or kwargs["prune"]):
        raise click.UsageError("a saved plan is applied whole: no --target or --prune with it")
    if planfile and kwargs["run_tests"] and is_restore_plan(planfile):
        raise click.UsageError("--test is not for a restore plan: run `kathansync test` after it")


def _report_applied(
    session: Run, run: Planned, outcomes: Sequence[Outcome], unwritten: list[str], opts: Options
) -> bool:
    """The ids that could not be written (after the outcomes: a file that cannot be written
    never hides what happened remotely); in Actions, plan and outcomes in the job summary.
    True when every change applied and every id was written."""
    from kathansync.apply import succeeded

    for message in unwritten:
        click.echo(f"Error: {message}", err=True)
    if in_actions():
        from kathansync import github
        from kathansync.commands.backups import backup_note

        # What was planned and what became of it, side by side.
        summary = render_plan_for(run.plan, "markdown", opts)
        summary += "\n" + render_outcomes_for(run.plan, outcomes, "markdown", opts)
        summary += backup_note(session.last_backup, os.environ)
        github.append_step_summary(summary, os.environ)
    return succeeded(outcomes) and not unwritten


def _reviewed(
    session: Run,
    conn: ApiAccess,
    manifests: list[Manifest],
    planfile: Path | None,
    targets: tuple[str, ...],
    fmt: str,
    opts: Options,
    kwargs: dict[str, Any],
    *,
    header: bool,
) -> tuple[Planned, dict[str, Outcome]] | None:
    """What apply sends, as reviewed: a saved plan re-checked, or a fresh plan shown (and
    confirmed with 'yes' unless --auto-approve). None: the person did not say yes.

    `header`: False when echo_api_line printed the plan's API line before fetching."""
    from dataclasses import replace

    force_create = kwargs.pop("force_create")
    if planfile:
        from kathansync.plan.saved import load_plan

        settings = session.settings
        saved = load_plan(planfile, api_url=settings.api_url, environment=settings.environment)
        run, refused = session.recheck(
            conn, manifests, saved.as_plan(), saved.salt, force_create=force_create
        )
        if run.plan.has_changes:
            show_plan(run.plan, fmt, opts, header=header)  # what is being applied
        return run, refused
    prune, force = kwargs.pop("prune"), kwargs.pop("force")
    run = session.plan(
        conn, manifests, targets=targets, prune=prune, force=force, force_create=force_create
    )
    if not run.plan.has_changes:
        return run, {}
    auto_approve = kwargs.pop("auto_approve")
    if not _approved(run, auto_approve, fmt, opts, header=header):
        return None
    if auto_approve:
        return run, {}
    # A person may answer minutes later: apply only what they saw, exactly as a saved plan
    # would be (anything that moved meanwhile is refused).
    again, refused = session.quietly().recheck(
        conn, manifests, run.plan, run.keys.salt, force_create=force_create
    )
    return replace(again, blocked=run.blocked), refused  # held back before the question too


def _approved(run: Planned, auto_approve: bool, fmt: str, opts: Options, *, header: bool) -> bool:
    """Show the plan; unless --auto-approve, a person must answer 'yes' (told first what is
    held back)."""
    if auto_approve:
        show_plan(run.plan, fmt, opts, header=header)
        return True
    for held in run.blocked.values():  # before the question: the person should know
        click.echo(f"Error: {held.message}", err=True)
    return confirm_plan(run.plan, fmt, opts, header=header)


def show_plan(the_plan: Plan, fmt: str, opts: Options, *, header: bool = True) -> None:
    """The plan before an apply: on stdout in text mode; with a machine format, stdout is the
    result only, so the plan goes to stderr for whoever watches."""
    text = render_plan_for(the_plan, "text", opts, header=header)
    click.echo(text, err=fmt != "text")  # a blank line after


def confirm_plan(the_plan: Plan, fmt: str, opts: Options, *, header: bool = True) -> bool:
    """Show the plan and get a 'yes' from a person at a terminal."""
    show_plan(the_plan, fmt, opts, header=header)
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
