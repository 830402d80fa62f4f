"""RUN: every run of every case is a new conversation through POST /chat, concurrently.

A run sends its turns in order, each with the session_id the previous answer returned, and stops
at the first turn whose expectation breaks (later turns would cost money and prove nothing).
Results are values: a failing run, an HTTP error, a timeout never stop the other runs. Only
errors that would fail every run alike (401, 403, no connection) stop the runs not yet started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kathansync.conversations.expect import check, meets, required_runs
from kathansync.conversations.suite import Case, Suite
from kathansync.errors import ApiError, ApiUnreachable

if TYPE_CHECKING:
    from kathansync.remote.client import KathanClient


@dataclass(frozen=True)
class TurnResult:
    user: str
    output: str
    broken: tuple[str, ...]  # the expectations this answer breaks


@dataclass(frozen=True)
class RunResult:
    """One conversation: its turns as far as they went, and why it stopped early, if it did."""

    number: int  # 1-based
    session_id: str | None
    turns: tuple[TurnResult, ...]
    error: str | None = None  # could not run: HTTP error, timeout
    seconds: float = 0.0  # wall time of the conversation (JUnit `time`)

    @property
    def passed(self) -> bool:
        return self.error is None and not any(turn.broken for turn in self.turns)


@dataclass(frozen=True)
class CaseResult:
    suite: Suite
    case: Case
    assistant_id: str
    runs: tuple[RunResult, ...]

    @property
    def passed_runs(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def required_runs(self) -> int:
        return required_runs(self.case.repeat, self.case.pass_rate)

    @property
    def status(self) -> str:
        """`pass`; `error` when a run could not be held (and the rate was not met); `fail`."""
        if meets(self.passed_runs, self.case.repeat, self.case.pass_rate):
            return "pass"
        return "error" if any(run.error for run in self.runs) else "fail"

    @property
    def shown_run(self) -> RunResult | None:
        """The run a report shows for a case that did not pass: the first failing one."""
        if self.status == "pass":
            return None
        return next((run for run in self.runs if not run.passed), None)


@dataclass(frozen=True)
class _Job:
    suite: int
    case: int
    run: int


def run_suites(
    client: KathanClient,
    suites: Sequence[Suite],
    ids: Mapping[str, str],
    *,
    on_run: Callable[[], None] | None = None,
) -> list[CaseResult]:
    """Every case of `suites` against `ids` (handle -> assistant id), runs in parallel."""
    jobs = [
        _Job(s, c, r)
        for s, suite in enumerate(suites)
        for c, case in enumerate(suite.cases)
        for r in range(case.repeat)
    ]
    fatal: list[str] = []  # the first error every later run would meet too
    lock = threading.Lock()

    def run(job: _Job) -> RunResult:
        suite = suites[job.suite]
        with lock:
            stopped = fatal[0] if fatal else None
        if stopped is not None:
            result = RunResult(job.run + 1, None, (), error=f"not run: {stopped}")
        else:
            case = suite.cases[job.case]
            started = time.monotonic()
            result, stops_all = _converse(client, ids[suite.assistant], case, job.run + 1)
            result = replace(result, seconds=time.monotonic() - started)
            if stops_all:
                with lock:
                    fatal.append(result.error or "")
        if on_run is not None:
            on_run()
        return result

    # Abandonable: a turn changes no assistant and nothing records its answer, so Ctrl-C need
    # not wait for a slow model (a run in flight would otherwise go on turn after turn).
    results = client.run_abandonable(run, jobs)
    by_case: dict[tuple[int, int], list[RunResult]] = {}
    for job, result in zip(jobs, results, strict=True):
        by_case.setdefault((job.suite, job.case), []).append(result)
    return [
        CaseResult(suite, case, ids[suite.assistant], tuple(by_case[(s, c)]))
        for s, suite in enumerate(suites)
        for c, case in enumerate(suite.cases)
    ]


def _converse(
    client: KathanClient, assistant_id: str, case: Case, number: int
) -> tuple[RunResult, bool]:
    """One run of `case`: a new conversation, turn after turn, until one breaks; and whether
    its error would fail every other run alike (credentials refused, API unreachable)."""
    session_id: str | None = None
    turns: list[TurnResult] = []
    for turn in case.turns:
        try:
            answer = client.chat(assistant_id, turn.user, session_id)
        except ApiError as error:
            # A timeout may hit one run only; a refused key or connection hits them all.
            unreachable = isinstance(error, ApiUnreachable) and "cannot reach" in error.reason
            stops_all = unreachable or error.status in (401, 403)
            return RunResult(number, session_id, tuple(turns), error=error.reason), stops_all
        session_id = answer["session_id"]
        broken = tuple(check(turn.expect, answer["output"]))
        turns.append(TurnResult(turn.user, answer["output"], broken))
        if broken:
            break
    return RunResult(number, session_id, tuple(turns)), False
