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
from kathansync.textdiff import Segment, visible

# GitHub's limit for a pull-request comment, counted as JavaScript does: in UTF-16 code units.
MARKDOWN_LIMIT = 65536
# The plan comment starts with this, so the workflow finds its earlier comment and updates it.
PLAN_MARKER = "<!-- kathansync-plan -->"

# --- Plans ------------------------------------------------------------------------------------


_PLAN_HINT = "run `kathansync plan` locally for the full plan"
_RESULT_HINT = "see the job log or `--format json` for all of them"


def plan_markdown(plan: Mapping[str, Any]) -> str:
    """The plan as the pull-request comment, marker first, whole within MARKDOWN_LIMIT."""
    env = plan.get("environment")
    where = f"environment <code>{_html(env)}</code>, " if env else ""
    summary = _html(plan_summary(plan).removeprefix("Plan: "))
    # A line that starts with `<!--` is an HTML block to its end, where markdown is not read:
    # the summary on the marker's line is therefore HTML. One line keeps it the first line.
    head = (
        f"{PLAN_MARKER}<b>kathansync plan</b> ({where}<code>{_html(plan['api_url'])}</code>): "
        f"{summary}\n"
    )
    changes = changed(plan)
    return _fit(head, [lambda c=c, compact=False: _md_section(c, compact) for c in changes])


def _fit(head: str, sections: Sequence[Callable[..., str]], hint: str = _PLAN_HINT) -> str:
    """`head` and as many whole sections as fit under MARKDOWN_LIMIT, then a note of the rest.

    A section too big on its own is tried once more without its diff blocks. Room for the note
    is kept from the start, so the summary and the note are always whole. Nothing is ever cut
    inside a section, so no table, `<details>` or code fence is left open.
    """
    reserve = utf16_len(_omitted_note(len(sections), hint))
    out, used = head, utf16_len(head)
    for index, section in enumerate(sections):
        budget = MARKDOWN_LIMIT - used - reserve
        text = section()
        if utf16_len(text) > budget:
            text = section(compact=True)
        size = utf16_len(text)
        if size > budget:
            return out + _omitted_note(len(sections) - index, hint)
        out, used = out + text, used + size
    return out


def utf16_len(text: str) -> int:
    """The length GitHub checks (JavaScript's `.length`): an emoji counts 2, not 1."""
    return len(text.encode("utf-16-le")) // 2


def _omitted_note(count: int, hint: str) -> str:
    more = plural(count, "more assistant", "more assistants")
    return f"\n… {more} not shown (comment size limit); {hint}.\n"


def _md_section(change: Mapping[str, Any], compact: bool = False) -> str:
    action = change["action"]
    views = [view_field(f, action) for f in change["fields"]]
    count = "" if action == "delete" else f", {plural(len(views), 'field', 'fields')}"
    summary = _html(f"{SYMBOLS[action]} {change['handle']} ({action}{count})")
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
        out.extend([f"{fence}diff", *view.lines, fence])  # lines come escaped from the view
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
    text = visible(text.replace("\r\n", "\n"))
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return escaped.replace("\n", "<br>")


def _html(text: str) -> str:
    """Text safe where markdown is not read (inside an HTML block or a `<summary>`)."""
    return html.escape(visible(text), quote=False)


def _words_cell(words: Sequence[Segment], side: str) -> str:
    """One side of a word-level change: the removed words struck, the inserted ones underlined.

    HTML tags, not `~~`/`**`: GitHub's flanking rules leave those literal next to punctuation
    ("billing**!**"), and a tag works anywhere.
    """
    tag = {"delete": "del", "insert": "ins"}[side]
    pieces = []
    for segment in words:
        if segment.kind in ("equal", "elided"):
            pieces.append(_cell(segment.text))
        elif segment.kind == side:
            lead, core, trail = split_space(segment.text)
            marked = f"<{tag}>{_cell(core)}</{tag}>" if core else ""
            pieces.append(_cell(lead) + marked + _cell(trail))
    return "".join(pieces)


def _code(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    text = visible(text)
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
