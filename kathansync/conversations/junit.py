"""REPORT for CI (pure): JUnit XML (GitHub, GitLab, Jenkins test reports) and GitHub
annotations on the suite line of each failing case, both from the report dict."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from kathansync.conversations.report import failed_cases, transcript_lines, why
from kathansync.errors import Problem


def report_junit(report: dict[str, Any]) -> str:
    """`<testsuites>` with one `<testsuite>` per suite file and one `<testcase>` per case; a
    case that failed has a `<failure>`, one that could not run an `<error>`, each holding the
    transcript of one failing run."""
    root = ET.Element("testsuites", name="kathansync test")
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, int]] = {}
    for case in report["cases"]:
        file = case["file"]
        if file not in suites:
            suites[file] = ET.SubElement(root, "testsuite", name=file)
            counts[file] = {"tests": 0, "failures": 0, "errors": 0}
        testcase = ET.SubElement(
            suites[file],
            "testcase",
            name=_xml_safe(case["name"]),
            classname=case["assistant"],
            file=file,
            line=str(case["line"]),
            time=f"{case['seconds']:.3f}",
        )
        counts[file]["tests"] += 1
        if case["status"] != "pass":
            kind = "failure" if case["status"] == "fail" else "error"
            counts[file]["failures" if kind == "failure" else "errors"] += 1
            element = ET.SubElement(testcase, kind, message=_xml_safe(why(case)), type=kind)
            element.text = _xml_safe("\n".join(transcript_lines(case)))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for file, element in suites.items():
        for key, value in counts[file].items():
            element.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# Characters XML 1.0 cannot hold at all, escaped or not; an answer may contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def case_problems(report: dict[str, Any]) -> list[Problem]:
    """A Problem at the suite line of each case that did not pass (for `::error` lines)."""
    return [
        Problem(case["file"], case["line"], 1, f"conversation test {case['name']!r}: {why(case)}")
        for case in failed_cases(report)
    ]
