"""GitHub workflow commands: escaping, annotation lines, and the step summary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kathansync.errors import ConfigError, Problem
from kathansync.github import (
    annotation,
    annotation_lines,
    append_step_summary,
    escape_data,
    escape_property,
    in_github_actions,
)


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\rb", "a%0Db", "a%0Db"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("voice: speed", "voice: speed", "voice%3A speed"),
        ("a,b", "a,b", "a%2Cb"),
        # `%` is escaped first, so the escapes of other characters are not escaped again.
        ("%0A\n", "%250A%0A", "%250A%0A"),
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_escaping_follows_github_rules(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_error_annotation_has_file_line_and_column() -> None:
    problem = Problem("assistants/support.yaml", 12, 3, "unknown key 'sped', did you mean 'speed'?")
    assert annotation(problem) == (
        "::error file=assistants/support.yaml,line=12,col=3::"
        "unknown key 'sped', did you mean 'speed'?"
    )


def test_warning_annotation_and_escaped_values() -> None:
    problem = Problem("odd,name:1.yaml", 4, 9, "50% off\nsecond line", severity="warning")
    assert annotation(problem) == (
        "::warning file=odd%2Cname%3A1.yaml,line=4,col=9::50%25 off%0Asecond line"
    )


def test_unknown_position_leaves_line_and_column_out() -> None:
    assert annotation(Problem("config.yaml", 0, 0, "bad")) == "::error file=config.yaml::bad"
    assert annotation(Problem("a.yaml", 7, 0, "bad")) == "::error file=a.yaml,line=7::bad"


def test_annotations_one_line_each() -> None:
    problems = [Problem("a.yaml", 1, 1, "x"), Problem("b.yaml", 2, 2, "y\nz")]
    assert annotation_lines(problems).splitlines() == [
        "::error file=a.yaml,line=1,col=1::x",
        "::error file=b.yaml,line=2,col=2::y%0Az",
    ]
    assert annotation_lines([]) == ""


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"GITHUB_ACTIONS": "true"}, True), ({"GITHUB_ACTIONS": "false"}, False), ({}, False)],
)
def test_in_github_actions(environ: dict[str, str], expected: bool) -> None:
    assert in_github_actions(environ) is expected


def test_step_summary_is_appended_not_overwritten(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("## Earlier step\n", encoding="utf-8")
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}

    assert append_step_summary("**Plan:** 1 to update", environ) is True
    assert append_step_summary("second\n", environ) is True

    assert summary.read_text(encoding="utf-8") == (
        "## Earlier step\n**Plan:** 1 to update\nsecond\n"
    )


def test_step_summary_without_variable_writes_nothing(tmp_path: Path) -> None:
    assert append_step_summary("ignored", {}) is False
    assert append_step_summary("ignored", {"GITHUB_STEP_SUMMARY": ""}) is False
    assert list(tmp_path.iterdir()) == []


def test_unwritable_step_summary_is_a_clean_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "summary.md"
    with pytest.raises(ConfigError, match=r"GITHUB_STEP_SUMMARY=.*summary\.md"):
        append_step_summary("x", {"GITHUB_STEP_SUMMARY": str(target)})
