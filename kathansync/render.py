"""RENDER (pure): serialised plans and apply results -> text | json | markdown strings.

Every renderer takes the versioned dict (`Plan.to_dict()`, `apply.result_dict()`), never the
live objects, so the three formats always show the same thing and none can see a secret: the
dict already holds "(sensitive)" in place of every interpolated value. Renderers return
strings; the CLI decides where they go and whether colour is wanted.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kathansync.plan import SENSITIVE
from kathansync.textdiff import (
    Segment,
    char_delta,
    count_lines,
    describe_lines,
    line_diff,
    list_diff,
    shorten,
    word_diff,
)

MARKDOWN_LIMIT = 65536  # GitHub's limit for a pull-request comment, in characters
SHORT = 60  # widest value shown inline; longer ones are shortened or diffed

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "no-op": " "}

# Raw ANSI rather than click.style: render stays free of CLI libraries.
_COLORS = {"green": "32", "red": "31", "yellow": "33", "cyan": "36", "bold": "1"}
_ACTION_COLORS = {"create": "green", "update": "yellow", "delete": "red"}


def _paint(text: str, color: str | None, enabled: bool) -> str:
    if not enabled or color is None or not text:
        return text
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m"


def render_json(data: Mapping[str, Any]) -> str:
    """The stable JSON form: 2-space indent, keys in the given order, a trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_plan(plan: Mapping[str, Any], fmt: str = "text", *, color: bool = False) -> str:
    """A plan dict (`Plan.to_dict()`) as `text`, `json` or `markdown`."""
    if fmt == "json":
        return render_json(plan)
    if fmt == "text":
        return _plan_text(plan, color)
    if fmt == "markdown":
        return _plan_markdown(plan)
    raise ValueError(f"unknown plan format {fmt!r} (expected text, json or markdown)")


def render_outcomes(result: Mapping[str, Any], fmt: str = "text", *, color: bool = False) -> str:
    """An apply-result dict (`apply.result_dict()`) as `text`, `json` or `markdown`."""
    if fmt == "json":
        return render_json(result)
    if fmt == "text":
        return _outcomes_text(result, color)
    if fmt == "markdown":
        return _outcomes_markdown(result)
    raise ValueError(f"unknown result format {fmt!r} (expected text, json or markdown)")


# --- How one changed field is shown, whatever the format --------------------------------------


@dataclass(frozen=True)
class FieldView:
    """One changed path, decided once: inline values, a line diff, or a word-level change."""

    path: str
    origin: str | None
    before: str = ""
    after: str = ""
    note: str | None = None  # "1 line removed, 1 added, +38 characters"
    lines: tuple[str, ...] = ()  # unified-diff lines (multi-line strings, long lists)
    words: tuple[Segment, ...] = ()  # the change within one long line


def show(value: Any) -> str:
    """A value as JSON (strings quoted), the sensitive marker bare."""
    if value == SENSITIVE:
        return SENSITIVE
    return json.dumps(value, ensure_ascii=False)


def _inline(value: Any) -> str:
    text = show(value)
    if len(text) <= SHORT:
        return text
    if isinstance(value, str):
        return f"{show(shorten(value, SHORT))} ({len(value)} characters)"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return shorten(text, SHORT)


def view_field(field: Mapping[str, Any], action: str) -> FieldView:
    path, origin = field["path"], field.get("origin")
    before, after = field.get("before"), field.get("after")
    if before == SENSITIVE or after == SENSITIVE:  # never a diff of a secret, not even its size
        return FieldView(path, origin, SENSITIVE, SENSITIVE)
    if action == "create":
        before = None
    if _is_text(before) and _is_text(after) and "\n" in (before or "") + (after or ""):
        return _multiline_view(path, origin, before or "", after or "", action)
    if isinstance(before, str) and isinstance(after, str) and _too_long(before, after):
        words = word_diff(before, after)
        if words is not None:
            return FieldView(path, origin, note=char_delta(before, after), words=tuple(words))
    if isinstance(before, list) and isinstance(after, list) and _too_long(before, after):
        lines = list_diff([show(v) for v in before], [show(v) for v in after])
        note = f"{len(before)} items -> {len(after)} items"
        return FieldView(path, origin, note=note, lines=tuple(lines))
    return FieldView(path, origin, _inline(before), _inline(after))


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _too_long(*values: Any) -> bool:
    return any(len(show(v)) > SHORT for v in values)


def _multiline_view(path: str, origin: str | None, old: str, new: str, action: str) -> FieldView:
    lines = line_diff(old, new)
    if action == "create":
        count = len(new.splitlines())
        note = f"{count} line{'s' if count != 1 else ''}, {len(new)} characters"
    else:
        note = f"{describe_lines(*count_lines(lines))}, {char_delta(old, new)}"
    return FieldView(path, origin, note=note, lines=tuple(lines))


def _changed(plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in plan["changes"] if c["action"] != "no-op"]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def plan_summary(summary: Mapping[str, int]) -> str:
    """ "Plan: 1 to create, ..." or "No changes. ..." (the line CI logs and tests look for)."""
    if not (summary["create"] or summary["update"] or summary["delete"]):
        same = summary["no_op"]
        if not same:
            return "No changes. No assistants in scope."
        verb = "matches its manifest" if same == 1 else "match their manifests"
        return f"No changes. {_plural(same, 'assistant', 'assistants')} {verb}."
    return (
        f"Plan: {summary['create']} to create, {summary['update']} to update, "
        f"{summary['delete']} to delete, {summary['no_op']} unchanged."
    )


def _target(data: Mapping[str, Any]) -> str:
    env = data.get("environment")
    return f"{data['api_url']} (environment: {env})" if env else str(data["api_url"])


# --- Text -------------------------------------------------------------------------------------


def _plan_text(plan: Mapping[str, Any], color: bool) -> str:
    out = [f"Kathan API: {_target(plan)}", ""]
    for change in _changed(plan):
        out.extend(_change_text(change, color))
    if len(out) > 2:
        out.append("")
    out.append(plan_summary(plan["summary"]))
    return "\n".join(out) + "\n"


def _change_text(change: Mapping[str, Any], color: bool) -> list[str]:
    action = change["action"]
    symbol = _paint(SYMBOLS[action], _ACTION_COLORS.get(action), color)
    out = [f"{symbol} {_paint(change['handle'], 'bold', color)}  ({_where(change)})"]
    if action == "delete":
        return out
    for field in change["fields"]:
        out.extend(_field_text(view_field(field, action), action, color))
    return out


def _where(change: Mapping[str, Any]) -> str:
    parts = [change["file"]] if change.get("file") else []
    if change.get("id"):
        parts.append(f"id {change['id']}")
    elif change["action"] == "create":
        parts.append("new assistant")
    if change.get("name") and change["action"] == "delete":
        parts.append(show(change["name"]))
    return ", ".join(parts)


def _field_text(view: FieldView, action: str, color: bool) -> list[str]:
    origin = f"    (from {view.origin})" if view.origin else ""
    head = f"    {view.path}: "
    if view.lines:
        body = [f"        {_paint(line, _line_color(line), color)}" for line in view.lines]
        return [head + f"{view.note}{origin}", *body]
    if view.words:
        return [head + _words_text(view.words, color) + f"  ({view.note}){origin}"]
    if action == "create":
        return [head + view.after + origin]
    return [head + f"{view.before} -> {view.after}{origin}"]


def _split_space(text: str) -> tuple[str, str, str]:
    """(leading space, the words, trailing space): markers go round words, not spaces."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


def _line_color(line: str) -> str | None:
    return {"-": "red", "+": "green", "@": "cyan"}.get(line[:1])


def _words_text(words: Sequence[Segment], color: bool) -> str:
    def piece(segment: Segment) -> str:
        lead, core, trail = _split_space(json.dumps(segment.text, ensure_ascii=False)[1:-1])
        if segment.kind == "delete" and core:
            return lead + _paint(f"[-{core}-]", "red", color) + trail
        if segment.kind == "insert" and core:
            return lead + _paint(f"{{+{core}+}}", "green", color) + trail
        return lead + core + trail

    return '"' + "".join(piece(s) for s in words) + '"'


# --- Markdown (pull-request comment) ----------------------------------------------------------


_PLAN_HINT = "run `kathansync plan` locally for the full plan"
_RESULT_HINT = "see the job log or `--format json` for all of them"


def _plan_markdown(plan: Mapping[str, Any]) -> str:
    env = plan.get("environment")
    where = f"environment {_code(env)}, " if env else ""
    head = f"**kathansync plan** ({where}{_code(plan['api_url'])}): "
    head += plan_summary(plan["summary"]).removeprefix("Plan: ") + "\n"
    changes = _changed(plan)
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
    more = _plural(count, "more assistant", "more assistants")
    return f"\n… {more} not shown (comment size limit); {hint}.\n"


def _md_section(change: Mapping[str, Any], compact: bool = False) -> str:
    action = change["action"]
    views = [view_field(f, action) for f in change["fields"]]
    count = "" if action == "delete" else f", {_plural(len(views), 'field', 'fields')}"
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
            lead, core, trail = _split_space(segment.text)
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

_LABELS = {
    "applied": "applied",
    "created": "created",
    "deleted": "deleted",
    "unchanged": "unchanged",
    "stale": "stale",
    "failed": "failed",
    "did-not-converge": "did not converge",
}
_STATUS_COLORS = {
    "applied": "green",
    "created": "green",
    "deleted": "green",
    "stale": "yellow",
    "failed": "red",
    "did-not-converge": "red",
}


def outcome_summary(summary: Mapping[str, int]) -> str:
    counts = ", ".join(f"{summary.get(s.replace('-', '_'), 0)} {_LABELS[s]}" for s in _LABELS)
    return f"Apply: {counts}."


def _detail(outcome: Mapping[str, Any]) -> str:
    """What happened to one assistant, starting with its handle (messages often already do)."""
    handle, message = outcome["handle"], outcome.get("message")
    if message:
        return message if message.startswith(f"{handle}:") else f"{handle}: {message}"
    extra = []
    if outcome.get("paths"):
        extra.append(_plural(len(outcome["paths"]), "field", "fields"))
    if outcome["status"] == "created" and outcome.get("id"):
        extra.append(f"id {outcome['id']}")
    return f"{handle} ({', '.join(extra)})" if extra else handle


def _outcomes_text(result: Mapping[str, Any], color: bool) -> str:
    out = []
    for outcome in result["outcomes"]:
        status = outcome["status"]
        if status == "unchanged":
            continue
        label = _paint(f"{_LABELS[status]:<7}", _STATUS_COLORS.get(status), color)
        out.append(f"{label}  {_detail(outcome)}")
    if out:
        out.append("")
    out.append(outcome_summary(result["summary"]))
    return "\n".join(out) + "\n"


def _outcomes_markdown(result: Mapping[str, Any]) -> str:
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
    label = _LABELS[outcome["status"]]
    return f"| {_cell(outcome['handle'])} | {label} | {_cell(_detail(outcome))} |\n"
