"""REPORT (pure): case results -> the versioned dict, and text | markdown from that dict.

Like plans, every format is rendered from one `report_dict`, which already has every
interpolated value masked, so no renderer can show a secret a suite or an answer carried.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from kathansync.conversations.runner import CaseResult, RunResult

FORMAT_VERSION = "1"
# The markdown starts with this line, so a workflow can find its earlier comment and update it.
TEST_MARKER = "<!-- kathansync-test -->"


def report_dict(
    results: Sequence[CaseResult],
    *,
    environment: str | None,
    api_url: str,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """The stable JSON form (docs/testing.md): one entry per case, then a summary."""
    cases = [_case(result) for result in results]
    statuses = [case["status"] for case in cases]
    data = {
        "format_version": FORMAT_VERSION,
        "environment": environment,
        "api_url": api_url,
        "cases": cases,
        "summary": {
            "cases": len(cases),
            "passed": statuses.count("pass"),
            "failed": statuses.count("fail"),
            "errors": statuses.count("error"),
            "conversations": sum(len(r.runs) for r in results),
        },
    }
    masked: dict[str, Any] = _masked(data, secrets)
    return masked


def _case(result: CaseResult) -> dict[str, Any]:
    shown = result.shown_run
    return {
        "file": result.suite.file,
        "line": result.case.line,
        "assistant": result.suite.assistant,
        "id": result.assistant_id,
        "name": result.case.name,
        "status": result.status,
        "runs": result.case.repeat,
        "passed_runs": result.passed_runs,
        "required_runs": result.required_runs,
        "pass_rate": result.case.pass_rate,
        "seconds": round(sum(run.seconds for run in result.runs), 3),
        "transcript": _run(shown) if shown is not None else None,
    }


def _run(run: RunResult) -> dict[str, Any]:
    return {
        "run": run.number,
        "session_id": run.session_id,
        "error": run.error,
        "turns": [
            {"user": turn.user, "output": turn.output, "broken": list(turn.broken)}
            for turn in run.turns
        ],
    }


def _masked(node: Any, secrets: Collection[str]) -> Any:
    """`node` with every string masked (see suite.mask), the patterns built once."""
    from kathansync.remote.redact import SENSITIVE, Redactor, redact_json

    return redact_json(node, Redactor(secrets, marker=SENSITIVE)) if secrets else node


def failed_cases(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [case for case in report["cases"] if case["status"] != "pass"]


def case_label(case: dict[str, Any]) -> str:
    """`support: refunds go to a human` — how lists of cases name one."""
    return f"{case['assistant']}: {case['name']}"


def why(case: dict[str, Any]) -> str:
    """One line: why a case did not pass."""
    runs = f"{case['passed_runs']}/{case['runs']} runs passed, {case['required_runs']} needed"
    transcript = case["transcript"] or {}
    if transcript.get("error"):
        return f"{runs}; run {transcript['run']} could not run: {transcript['error']}"
    broken = [b for turn in transcript.get("turns", []) for b in turn["broken"]]
    return f"{runs}; run {transcript.get('run')}: {'; '.join(broken)}" if broken else runs


# --- text ------------------------------------------------------------------------------------


def report_text(report: dict[str, Any]) -> str:
    """Per case `pass`/`FAIL` and passed/total runs; a failing run's transcript, broken
    expectations marked with `✗`."""
    lines: list[str] = []
    current = None
    for case in report["cases"]:
        if case["file"] != current:
            current = case["file"]
            lines.append(f"{case['file']} ({case['assistant']})")
        mark = "pass" if case["status"] == "pass" else "FAIL"
        lines.append(f"  {mark}  {case['name']}  ({case['passed_runs']}/{case['runs']} runs)")
        if case["transcript"] is not None:
            lines.extend("        " + line for line in transcript_lines(case))
    lines.append(_summary_line(report["summary"]))
    return "\n".join(lines) + "\n"


def transcript_lines(case: dict[str, Any]) -> list[str]:
    transcript = case["transcript"]
    session = transcript["session_id"] or "none"
    needed = f"{case['passed_runs']}/{case['runs']} runs passed, {case['required_runs']} needed"
    lines = [needed, f"run {transcript['run']} (session {session}):"]
    for turn in transcript["turns"]:
        lines.append(f"  user:      {_one_line(turn['user'])}")
        lines.append(f"  assistant: {_one_line(turn['output']) or '(empty)'}")
        lines.extend(f"  ✗ {broken}" for broken in turn["broken"])
    if transcript["error"]:
        lines.append(f"  ✗ could not run: {transcript['error']}")
    return lines


def _one_line(text: str) -> str:
    # An answer is the server's text: no terminal escape sequence of its own reaches the screen.
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _summary_line(summary: dict[str, Any]) -> str:
    text = f"{summary['cases']} case(s): {summary['passed']} passed, {summary['failed']} failed"
    if summary["errors"]:
        text += f", {summary['errors']} could not run"
    return text + f" ({summary['conversations']} conversation(s))."


# --- markdown --------------------------------------------------------------------------------


def report_markdown(report: dict[str, Any]) -> str:
    """A PR comment / job summary section: a table of cases, a folded transcript per failure,
    as many whole transcripts as fit in one GitHub comment (MARKDOWN_LIMIT)."""
    from kathansync.render.markdown import MARKDOWN_LIMIT, utf16_len

    summary = report["summary"]
    verdict = "passed" if summary["passed"] == summary["cases"] else "failed"
    where = f" ({report['environment']})" if report["environment"] else ""
    lines = [
        TEST_MARKER,
        f"### Conversation tests{where}: {verdict}",
        "",
        _summary_line(summary),
        "",
        "| | assistant | case | runs |",
        "|---|---|---|---|",
    ]
    for case in report["cases"]:
        mark = "✅" if case["status"] == "pass" else "❌"
        runs = f"{case['passed_runs']}/{case['runs']}"
        lines.append(f"| {mark} | `{case['assistant']}` | {_cell(case['name'])} | {runs} |")
    text = "\n".join(lines) + "\n"
    failed = failed_cases(report)
    reserve = 200  # room for the note about transcripts left out
    for index, case in enumerate(failed):
        section = _details(case)
        if utf16_len(text) + utf16_len(section) + reserve > MARKDOWN_LIMIT:
            left = len(failed) - index
            return (
                text + f"\n{left} more transcript(s) left out: see the job log or --format json.\n"
            )
        text += section
    return text


def _details(case: dict[str, Any]) -> str:
    lines = ["", f"<details><summary>{_cell(case_label(case))}</summary>", "", "```text"]
    lines += [line.replace("```", "ˋˋˋ") for line in transcript_lines(case)]
    lines += ["```", "", "</details>"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|").replace("<", "&lt;")
