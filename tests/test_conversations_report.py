"""Reports from the versioned dict: markdown within GitHub's comment limit, JUnit details."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from kathansync.conversations.junit import case_problems, report_junit
from kathansync.conversations.report import TEST_MARKER, report_markdown, report_text
from kathansync.render.markdown import MARKDOWN_LIMIT, utf16_len


def failing_case(index: int, output: str = "no") -> dict[str, Any]:
    return {
        "file": "conversations/s.yaml",
        "line": 3 + index,
        "assistant": "support",
        "id": "33df85c1-dce4-4569-bac0-a9c4c70d0486",
        "name": f"case {index}",
        "status": "fail",
        "runs": 1,
        "passed_runs": 0,
        "required_runs": 1,
        "pass_rate": 1.0,
        "seconds": 0.25,
        "transcript": {
            "run": 1,
            "session_id": "s-1",
            "error": None,
            "turns": [{"user": "hi", "output": output, "broken": ["contains: missing 'yes'"]}],
        },
    }


def report(*cases: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": "1",
        "environment": "staging",
        "api_url": "http://127.0.0.1:1",
        "cases": list(cases),
        "summary": {
            "cases": len(cases),
            "passed": 0,
            "failed": len(cases),
            "errors": 0,
            "conversations": len(cases),
        },
    }


def test_markdown_keeps_whole_transcripts_within_the_comment_limit() -> None:
    # Emoji count twice in UTF-16, as GitHub counts.
    cases = [failing_case(i, "😀" * 4000) for i in range(20)]
    text = report_markdown(report(*cases))
    assert text.startswith(TEST_MARKER + "\n### Conversation tests (staging): failed\n")
    assert utf16_len(text) <= MARKDOWN_LIMIT
    shown = text.count("<details>")
    assert 0 < shown < 20
    assert text.count("</details>") == shown and text.count("```") == 2 * shown
    assert text.endswith(
        f"\n{20 - shown} more transcript(s) left out: see the job log or --format json.\n"
    )
    assert text.count("| ❌ |") == 20  # the table always lists every case


def test_markdown_fences_cannot_be_closed_by_an_answer() -> None:
    text = report_markdown(report(failing_case(0, "```\n# injected")))
    assert text.count("```") == 2


def test_junit_has_times_and_errors() -> None:
    broken = failing_case(1)
    broken["status"] = "error"
    broken["transcript"] = {"run": 1, "session_id": None, "error": "HTTP 401", "turns": []}
    root = ET.fromstring(report_junit(report(failing_case(0), broken)))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("time") for c in cases] == ["0.250", "0.250"]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "1")
    error = cases[1].find("error")
    assert error is not None
    assert error.get("message") == ("0/1 runs passed, 1 needed; run 1 could not run: HTTP 401")


def test_annotations_and_text_name_each_failing_case() -> None:
    data = report(failing_case(0))
    (problem,) = case_problems(data)
    assert (problem.file, problem.line, problem.severity) == ("conversations/s.yaml", 3, "error")
    assert report_text(data).splitlines()[1] == "  FAIL  case 0  (0/1 runs)"


def test_control_characters_in_an_answer_keep_junit_parseable_and_text_clean() -> None:
    case = failing_case(0, "bell\x07 and \x1b[31mred")
    case["name"] = "a\x01b"  # YAML's "\x01" escape
    data = report(case)
    root = ET.fromstring(report_junit(data))
    testcase = root.find("testsuite/testcase")
    assert testcase is not None and testcase.get("name") == "a\ufffdb"
    failure = testcase.find("failure")
    assert failure is not None and "assistant: bell and [31mred" in (failure.text or "")
    assert "\x1b" not in report_text(data) and "\x07" not in report_text(data)
