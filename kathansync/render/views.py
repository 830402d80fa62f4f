"""How plans and results are put into words, whatever the format: one place for the choices.

A changed field becomes a `FieldView` once (inline values, a line diff, or a word-level
change) and the text and markdown renderers only lay it out, so they never disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kathansync.plan import SENSITIVE, Action
from kathansync.textdiff import (
    Segment,
    char_delta,
    count_lines,
    describe_lines,
    line_diff,
    list_diff,
    shorten,
    visible,
    word_diff,
)

SHORT = 60  # widest value shown inline; longer ones are shortened or diffed
SYMBOLS = {action.value: action.symbol for action in Action}  # one home: Action.symbol

# --- How one changed field is shown, whatever the format --------------------------------------


@dataclass(frozen=True)
class FieldView:
    """One changed path, decided once: inline values, a line diff, or a word-level change."""

    path: str
    origin: str | None
    before: str = ""
    after: str = ""
    note: str | None = None  # "1 line removed, 1 added, +38 characters"
    lines: tuple[str, ...] = ()  # unified-diff lines, control characters already made visible
    words: tuple[Segment, ...] = ()  # the change within one long line (raw text: escape it)


def show(value: Any) -> str:
    """A value as JSON (strings quoted), the sensitive marker bare.

    JSON escapes the C0 controls itself; DEL and the C1 controls (U+009B is a terminal's CSI)
    are escaped too, as `\\u009b`, so no value can drive the terminal it is printed on.
    """
    return SENSITIVE if value == SENSITIVE else as_json(value)


def as_json(value: Any) -> str:
    """`value` as one line of JSON, every control character escaped (see `show`)."""
    return _C1.sub(lambda match: f"\\u{ord(match[0]):04x}", json.dumps(value, ensure_ascii=False))


# What json.dumps leaves raw but a terminal or a reviewer's eye would act on: DEL, C1 controls,
# and bidirectional overrides (see textdiff.visible).
_C1 = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _inline(value: Any, *, full: bool = False) -> str:
    """A value on one line: shortened when long, unless it is `full` (a value being created)."""
    text = show(value)
    if full or len(text) <= SHORT:
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
        view = _multiline_view(path, origin, before or "", after or "", action)
        if action != "create" and (before is None or after is None):
            # A diff against "" cannot tell null from an empty string: say which it is.
            null = "was null" if before is None else "cleared to null"
            view = replace(view, note=f"{view.note}, {null}")
        return view
    if isinstance(before, str) and isinstance(after, str) and _too_long(before, after):
        words = word_diff(before, after)
        if words is not None:
            return FieldView(path, origin, note=char_delta(before, after), words=tuple(words))
    if isinstance(before, list) and isinstance(after, list) and _too_long(before, after):
        lines = list_diff([show(v) for v in before], [show(v) for v in after])
        note = f"{len(before)} items -> {len(after)} items"
        return FieldView(path, origin, note=note, lines=tuple(lines))
    # A value set where there was none is shown whole: it is all a reviewer has to go on.
    return FieldView(path, origin, _inline(before), _inline(after, full=before is None))


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _too_long(*values: Any) -> bool:
    return any(len(show(v)) > SHORT for v in values)


def _multiline_view(path: str, origin: str | None, old: str, new: str, action: str) -> FieldView:
    lines = [visible(line) for line in line_diff(old, new)]
    if action == "create":
        count = len(new.splitlines())
        note = f"{count} line{'s' if count != 1 else ''}, {len(new)} characters"
    else:
        note = f"{describe_lines(*count_lines(lines))}, {char_delta(old, new)}"
    return FieldView(path, origin, note=note, lines=tuple(lines))


def changed(plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The assistants worth showing: every action but no-op, and adoptions (an id to write)."""
    return [c for c in plan["changes"] if c["action"] != "no-op" or c.get("adopted")]


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def plan_summary(plan: Mapping[str, Any]) -> str:
    """ "Plan: 1 to create, ..." or "No changes. ..." (the line CI logs and tests look for)."""
    summary = plan["summary"]
    adopted = sum(1 for c in plan["changes"] if c.get("adopted"))
    if adopted:
        return (
            f"Plan: {summary['create']} to create, {summary['update']} to update, "
            f"{summary['delete']} to delete, {summary['no_op']} unchanged; "
            f"{plural(adopted, 'id', 'ids')} to write into manifests (adopted by name)."
        )
    if not (summary["create"] or summary["update"] or summary["delete"]):
        same = summary["no_op"]
        if not same:
            return "No changes. No assistants in scope."
        verb = "matches its manifest" if same == 1 else "match their manifests"
        return f"No changes. {plural(same, 'assistant', 'assistants')} {verb}."
    return (
        f"Plan: {summary['create']} to create, {summary['update']} to update, "
        f"{summary['delete']} to delete, {summary['no_op']} unchanged."
    )


def target(data: Mapping[str, Any]) -> str:
    env = data.get("environment")
    return visible(f"{data['api_url']} (environment: {env})" if env else str(data["api_url"]))


def split_space(text: str) -> tuple[str, str, str]:
    """(leading space, the words, trailing space): markers go round words, not spaces."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


# --- Apply results ----------------------------------------------------------------------------

LABELS = {
    "applied": "applied",
    "created": "created",
    "deleted": "deleted",
    "unchanged": "unchanged",
    "stale": "stale",
    "failed": "failed",
    "did-not-converge": "did not converge",
}


def outcome_summary(summary: Mapping[str, int]) -> str:
    counts = ", ".join(f"{summary.get(s.replace('-', '_'), 0)} {LABELS[s]}" for s in LABELS)
    return f"Apply: {counts}."


def detail(outcome: Mapping[str, Any]) -> str:
    """What happened to one assistant, starting with its handle (messages often already do).

    Control characters are made visible: a message may quote the server's words.
    """
    handle, message = outcome["handle"], outcome.get("message")
    if message:
        return visible(message if message.startswith(f"{handle}:") else f"{handle}: {message}")
    extra = []
    if outcome.get("paths"):
        extra.append(plural(len(outcome["paths"]), "field", "fields"))
    if outcome["status"] == "created" and outcome.get("id"):
        extra.append(f"id {outcome['id']}")
    return visible(f"{handle} ({', '.join(extra)})" if extra else handle)
