"""The pull-request comment: collapsible sections, escaped tables, diff blocks, size-capped."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kathansync.render.views import (
    LABELS,
    SYMBOLS,
    FieldView,
    changed,
    detail,
    outcome_summary,
    plan_summary,
    plural,
    show,
    split_space,
    view_field,
)
from kathansync.textdiff import Segment

MARKDOWN_LIMIT = 65536  # GitHub's limit for a pull-request comment, in characters

# --- Plans ------------------------------------------------------------------------------------


_PLAN_HINT = "run `kathansync plan` locally for the full plan"
_RESULT_HINT = "see the job log or `--format json` for all of them"


def plan_markdown(plan: Mapping[str, Any]) -> str:
    env = plan.get("environment")
    where = f"environment {_code(env)}, " if env else ""
    head = f"**kathansync plan** ({where}{_code(plan['api_url'])}): "
    head += plan_summary(plan).removeprefix("Plan: ") + "\n"
    changes = changed(plan)
    return _fit(head, [lambda c=c, compact=False: _md_section(c, compact) for c in changes])


def _fit(head: str, sections: Sequence[Callable[..., str]], hint: str = _PLAN_HINT) -> str:
    """`head` and as many whole sections as fit under MARKDOWN_LIMIT, then a note of the rest.

    A section too big on its own is tried once more without its diff blocks. Room for the note
    is kept from the start, so the summary and the note are always whole.
    """
    reserve = len(_omitted_note(len(sections), hint))
    out = head
    for index, section in enumerate(sections):
        budget = MARKDOWN_LIMIT - len(out) - reserve
        text = section()
        if len(text) > budget:
            text = section(compact=True)
        if len(text) > budget:
            return out + _omitted_note(len(sections) - index, hint)
        out += text
    return out


def _omitted_note(count: int, hint: str) -> str:
    more = plural(count, "more assistant", "more assistants")
    return f"\n… {more} not shown (comment size limit); {hint}.\n"


def _md_section(change: Mapping[str, Any], compact: bool = False) -> str:
    action = change["action"]
    views = [view_field(f, action) for f in change["fields"]]
    count = "" if action == "delete" else f", {plural(len(views), 'field', 'fields')}"
    summary = html.escape(f"{SYMBOLS[action]} {change['handle']} ({action}{count})")
    out = [f"\n<details><summary>{summary}</summary>\n", _md_where(change)]
    if views:
        out.extend(["", *_md_table(views, action)])
    for view in views:
        if not view.lines:
            continue
        if compact:
            out.append(
                f"\n{_code(view.path)}: diff left out to fit the comment size limit ({view.note})."
            )
            continue
        fence = _fence("\n".join(view.lines))
        out.append(f"\n{_code(view.path)} ({_cell(view.note or '')}):\n")
        out.extend([f"{fence}diff", *view.lines, fence])
    out.append("\n</details>\n")
    return "\n".join(out)


def _md_where(change: Mapping[str, Any]) -> str:
    parts = [f"File {_code(change['file'])}"] if change.get("file") else []
    if change.get("id"):
        parts.append(f"id {_code(change['id'])}")
    if change.get("name"):
        parts.append(f"name {_cell(show(change['name']))}")
    if change["action"] == "delete":
        parts.append("**the assistant will be deleted**")
    if change.get("adopted"):
        parts.append("adopted by name: apply writes the id into the manifest")
    return ", ".join(parts) + "."


def _md_table(views: Sequence[FieldView], action: str) -> list[str]:
    create = action == "create"
    rows = (
        ["| Path | Value |", "| --- | --- |"]
        if create
        else [
            "| Path | Before | After |",
            "| --- | --- | --- |",
        ]
    )
    for view in views:
        path = _cell(view.path)
        if view.origin:
            path += f"<br><sub>from {_cell(view.origin)}</sub>"
        if view.lines:
            before, after = "_diff below_", _cell(view.note or "")
        elif view.words:
            before, after = _words_cell(view.words, "delete"), _words_cell(view.words, "insert")
        else:
            before, after = _cell(view.before), _cell(view.after)
        rows.append(f"| {path} | {after} |" if create else f"| {path} | {before} | {after} |")
    return rows


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]|#!])")


def _cell(text: str) -> str:
    """Text safe inside a table cell: no HTML, no markdown, no `|`, newlines as <br>."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def _words_cell(words: Sequence[Segment], side: str) -> str:
    """One side of a word-level change: the removed words struck, the inserted ones bold."""
    mark = {"delete": "~~", "insert": "**"}[side]
    pieces = []
    for segment in words:
        if segment.kind in ("equal", "elided"):
            pieces.append(_cell(segment.text))
        elif segment.kind == side:
            lead, core, trail = split_space(segment.text)
            marked = f"{mark}{_cell(core)}{mark}" if core else ""
            pieces.append(_cell(lead) + marked + _cell(trail))
    return "".join(pieces)


def _code(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(body: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", body)), default=2)
    return "`" * (longest + 1)


# --- Apply results ----------------------------------------------------------------------------


def outcomes_markdown(result: Mapping[str, Any]) -> str:
    env = result.get("environment")
    where = f"environment {_code(env)}, " if env else ""
    head = f"**kathansync apply** ({where}{_code(result['api_url'])}): "
    head += outcome_summary(result["summary"]).removeprefix("Apply: ") + "\n"
    rows = [o for o in result["outcomes"] if o["status"] != "unchanged"]
    if not rows:
        return head
    head += "\n| Assistant | Result | Detail |\n| --- | --- | --- |\n"
    return _fit(head, [lambda o=o, compact=False: _outcome_row(o) for o in rows], _RESULT_HINT)


def _outcome_row(outcome: Mapping[str, Any]) -> str:
    label = LABELS[outcome["status"]]
    return f"| {_cell(outcome['handle'])} | {label} | {_cell(detail(outcome))} |\n"
