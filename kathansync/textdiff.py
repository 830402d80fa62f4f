"""Text differences for the renderers: unified line diffs, word-level changes, shortening.

Pure string functions with no knowledge of plans, so the text and markdown renderers show a
prompt change the same way and the hard cases (trailing newlines, totally rewritten lines) are
tested in one place.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

ELLIPSIS = "…"
CONTEXT_LINES = 3
CONTEXT_TOKENS = 8  # about four words (whitespace is a token) either side of a word change
# Below this similarity a word-level marker is mostly markers: show both sides instead.
MIN_WORD_RATIO = 0.4

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
# C0 controls but tab and newline, DEL, and C1 controls: ESC or BEL (or the 8-bit CSI, U+009B)
# reaching a terminal can retitle it, clear it or move the cursor over what a reviewer reads.
# Also the bidirectional overrides and isolates, which make a reviewed line read differently
# from what it is ("Trojan Source").
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shorten(text: str, width: int) -> str:
    """`text` cut to at most `width` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def visible(text: str) -> str:
    """`text` with its control characters (all but tab and newline) spelled out as `\\x1b`."""
    return _CONTROL.sub(_spelled, text)


def _spelled(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def char_delta(before: str, after: str) -> str:
    """The change in length, stated for a reviewer: "+38 characters", "same length"."""
    delta = len(after) - len(before)
    if delta == 0:
        return "same length"
    unit = "character" if abs(delta) == 1 else "characters"
    return f"{delta:+d} {unit}"


def line_diff(before: str, after: str, context: int = CONTEXT_LINES) -> list[str]:
    """A unified diff of the lines of two texts: `@@` hunk headers and ` `/`-`/`+` lines.

    The `---`/`+++` file headers are dropped: the renderer names the field instead. Texts that
    differ only in line endings or a trailing newline get one explanatory line rather than an
    empty diff, so a change is never shown as nothing.
    """
    diff = list(
        difflib.unified_diff(before.splitlines(), after.splitlines(), n=context, lineterm="")
    )[2:]
    if not diff and before != after:
        return ["(only line endings or the trailing newline differ)"]
    return diff


def list_diff(before: list[str], after: list[str], context: int = CONTEXT_LINES) -> list[str]:
    """A unified diff of two lists of already-formatted items, one item per line."""
    return list(difflib.unified_diff(before, after, n=context, lineterm=""))[2:]


def count_lines(diff: list[str]) -> tuple[int, int]:
    """(removed, added) lines of a `line_diff`."""
    removed = sum(1 for line in diff if line.startswith("-"))
    added = sum(1 for line in diff if line.startswith("+"))
    return removed, added


def describe_lines(removed: int, added: int) -> str:
    """ "1 line removed, 2 added" and the like, skipping the side that is zero."""
    parts = []
    if removed:
        parts.append(f"{removed} line{'s' if removed != 1 else ''} removed")
    if added:
        noun = "" if removed else f" line{'s' if added != 1 else ''}"
        parts.append(f"{added}{noun} added")
    return ", ".join(parts) or "whitespace changed"


@dataclass(frozen=True)
class Segment:
    """A run of one long line: kept as is, removed, inserted, or an elided stretch (`…`)."""

    kind: Literal["equal", "delete", "insert", "elided"]
    text: str


def word_diff(before: str, after: str, context: int = CONTEXT_TOKENS) -> list[Segment] | None:
    """The word-level change between two single lines, long unchanged stretches elided.

    None when the lines are too different for markers to help (then show both sides).
    """
    old, new = _TOKEN.findall(before), _TOKEN.findall(after)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    opcodes = matcher.get_opcodes()
    if _similarity(old, opcodes, before + after) < MIN_WORD_RATIO:
        return None
    segments: list[Segment] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            first, last = index == 0, index == len(opcodes) - 1
            segments.extend(_equal_run(old[i1:i2], context, first=first, last=last))
            continue
        if tag in ("replace", "delete"):
            segments.append(Segment("delete", "".join(old[i1:i2])))
        if tag in ("replace", "insert"):
            segments.append(Segment("insert", "".join(new[j1:j2])))
    return segments


def _similarity(old: list[str], opcodes: list[Any], both: str) -> float:
    """Share of the visible characters that are unchanged (shared spaces do not count)."""
    kept = sum(
        len(token.strip())
        for tag, i1, i2, _, _ in opcodes
        if tag == "equal"
        for token in old[i1:i2]
    )
    visible = len("".join(both.split()))
    return 2 * kept / visible if visible else 1.0


def _equal_run(tokens: list[str], context: int, *, first: bool, last: bool) -> list[Segment]:
    """An unchanged stretch, keeping only `context` tokens next to each change."""
    head = [] if first else tokens[:context]
    tail = [] if last else tokens[-context:]
    if len(head) + len(tail) >= len(tokens):
        return [Segment("equal", "".join(tokens))]
    # The ellipsis stands between words with one space each side, whatever spacing it hides.
    before_gap = "".join(head).rstrip()
    after_gap = "".join(tail).lstrip()
    out = []
    if before_gap:
        out.append(Segment("equal", before_gap))
    gap = (" " if before_gap else "") + ELLIPSIS + (" " if after_gap else "")
    out.append(Segment("elided", gap))
    if after_gap:
        out.append(Segment("equal", after_gap))
    return out
