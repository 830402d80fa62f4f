"""GitHub Actions helpers: workflow-command annotations and the job step summary.

Formatting is pure (strings in, strings out); only `append_step_summary` writes, and only to the
file GitHub names in $GITHUB_STEP_SUMMARY. Escaping follows GitHub's workflow-command rules
(as in @actions/core's command.ts): `%`, CR and LF in every value, and also `:` and `,` in
property values, where they would otherwise end the property.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from kathansync.errors import ConfigError, Problem

STEP_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"

# `%` first: escaping it after the others would double-escape their `%`.
_DATA_ESCAPES = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = (*_DATA_ESCAPES, (":", "%3A"), (",", "%2C"))


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command (after the second `::`)."""
    for char, escaped in _DATA_ESCAPES:
        value = value.replace(char, escaped)
    return value


def escape_property(value: str) -> str:
    """Escape a property value (`file=...`, `title=...`) of a workflow command."""
    for char, escaped in _PROPERTY_ESCAPES:
        value = value.replace(char, escaped)
    return value


def annotation(problem: Problem) -> str:
    """One `::error file=...,line=...,col=...::message` line (or `::warning`) for a problem.

    Line and column are left out when unknown (0), so GitHub attaches the note to the file.
    """
    properties = [f"file={escape_property(problem.file)}"]
    if problem.line:
        properties.append(f"line={problem.line}")
        if problem.column:
            properties.append(f"col={problem.column}")
    return f"::{problem.severity} {','.join(properties)}::{escape_data(problem.message)}"


def annotation_lines(problems: Iterable[Problem]) -> str:
    """Annotation lines for many problems, each ending in a newline ("" for none)."""
    return "".join(annotation(problem) + "\n" for problem in problems)


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    """True when running as a GitHub Actions step (the runner sets GITHUB_ACTIONS=true)."""
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def append_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> bool:
    """Append `markdown` to the job summary file; False when $GITHUB_STEP_SUMMARY is not set.

    Appends, never truncates: earlier steps of the job write to the same file.
    """
    env = os.environ if environ is None else environ
    path = env.get(STEP_SUMMARY_VARIABLE)
    if not path:
        return False
    if not markdown.endswith("\n"):
        markdown += "\n"
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(markdown)
    except OSError as error:
        raise ConfigError(
            f"cannot write the step summary ${STEP_SUMMARY_VARIABLE}={path}: {error.strerror}"
        ) from None
    return True
