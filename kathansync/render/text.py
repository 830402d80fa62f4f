"""The terminal plan and apply report: terraform-like lines, optional ANSI colour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kathansync.render.views import (
    LABELS,
    SYMBOLS,
    FieldView,
    as_json,
    changed,
    detail,
    outcome_summary,
    plan_summary,
    show,
    split_space,
    target,
    view_field,
)
from kathansync.textdiff import Segment, visible

# Raw ANSI rather than click.style: render stays free of CLI libraries.
_COLORS = {"green": "32", "red": "31", "yellow": "33", "cyan": "36", "bold": "1"}
_ACTION_COLORS = {"create": "green", "update": "yellow", "delete": "red"}
_STATUS_COLORS = {
    "applied": "green",
    "created": "green",
    "deleted": "green",
    "stale": "yellow",
    "failed": "red",
    "did-not-converge": "red",
}


def _paint(text: str, color: str | None, enabled: bool) -> str:
    if not enabled or color is None or not text:
        return text
    return f"\x1b[{_COLORS[color]}m{text}\x1b[0m"


# --- Plans ------------------------------------------------------------------------------------


def api_line(plan: Mapping[str, Any]) -> str:
    """`Kathan API: <url>`: the plan's first line, which the CLI prints before fetching."""
    return f"Kathan API: {target(plan)}\n"


def plan_text(plan: Mapping[str, Any], color: bool, *, header: bool = True) -> str:
    """The plan; without `header`, everything after `api_line` (the CLI printed it already)."""
    body: list[str] = []
    for change in changed(plan):
        body.extend(_change_text(change, color))
    if body:
        body.append("")
    body.append(plan_summary(plan))
    text = "\n" + "\n".join(body) + "\n"
    return api_line(plan) + text if header else text


def _change_text(change: Mapping[str, Any], color: bool) -> list[str]:
    action = change["action"]
    symbol = _paint(SYMBOLS[action], _ACTION_COLORS.get(action), color)
    handle = _paint(visible(change["handle"]), "bold", color)
    out = [f"{symbol} {handle}  ({_where(change)})"]
    if action == "delete":
        return out
    for field in change["fields"]:
        out.extend(_field_text(view_field(field, action), action, color))
    return out


def _where(change: Mapping[str, Any]) -> str:
    parts = [change["file"]] if change.get("file") else []
    # A prune has no manifest, so its handle is already the id: say it once.
    if change.get("id") and change["id"] != change["handle"]:
        parts.append(f"id {change['id']}")
    elif change["action"] == "create":
        parts.append("new assistant")
    if change.get("name") and change["action"] == "delete":
        parts.append(show(change["name"]))
    if change.get("adopted"):
        parts.append("adopted by name: apply writes the id into the manifest")
    return visible(", ".join(parts))


def _field_text(view: FieldView, action: str, color: bool) -> list[str]:
    origin = f"    (from {visible(view.origin)})" if view.origin else ""
    head = f"    {visible(view.path)}: "
    if view.lines:
        body = [f"        {_paint(line, _line_color(line), color)}" for line in view.lines]
        return [head + f"{view.note}{origin}", *body]
    if view.words:
        return [head + _words_text(view.words, color) + f"  ({view.note}){origin}"]
    # As Terraform does: what goes away in red, what comes in green.
    after = _paint(view.after, "green", color)
    if action == "create":
        return [head + after + origin]
    return [head + f"{_paint(view.before, 'red', color)} -> {after}{origin}"]


def _line_color(line: str) -> str | None:
    return {"-": "red", "+": "green", "@": "cyan"}.get(line[:1])


def _words_text(words: Sequence[Segment], color: bool) -> str:
    def piece(segment: Segment) -> str:
        lead, core, trail = split_space(as_json(segment.text)[1:-1])
        if segment.kind == "delete" and core:
            return lead + _paint(f"[-{core}-]", "red", color) + trail
        if segment.kind == "insert" and core:
            return lead + _paint(f"{{+{core}+}}", "green", color) + trail
        return lead + core + trail

    return '"' + "".join(piece(s) for s in words) + '"'


# --- Apply results ----------------------------------------------------------------------------


def outcomes_text(result: Mapping[str, Any], color: bool) -> str:
    out = []
    for outcome in result["outcomes"]:
        status = outcome["status"]
        if status == "unchanged":
            continue
        label = _paint(f"{LABELS[status]:<7}", _STATUS_COLORS.get(status), color)
        out.append(f"{label}  {detail(outcome)}")
    if out:
        out.append("")
    out.append(outcome_summary(result["summary"]))
    return "\n".join(out) + "\n"
