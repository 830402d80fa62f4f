"""The fast parse path: a Rust YAML 1.2 parser for texts plain enough that it reads them as ruamel.

ruamel's C safe loader is the reference reader, but at ~0.45 ms a file it was half the time of
`validate` on large fleets. ryaml (Rust, YAML 1.2 core schema, refuses duplicate keys and more
than one document, bounds nesting) parses the same files ~15x faster. The two disagree on a few
constructs: ruamel still reads `1_000`, `017` and dates the YAML 1.1 way and refuses `=`; ryaml
keeps `<<` literal, expands aliases and returns a tag as a one-key mapping. So this path takes a
text only when a scan before parsing finds no anchor, alias, tag other than `!file PATH`,
directive, complex key, tab or control character, and a walk after parsing finds no value ryaml
may have read differently. Everything else, and every text ryaml refuses, returns None and goes
through ruamel, which also gives the line and column of any problem. The walk also enforces the
loader's size and depth bounds, so the caller need not walk the data again.

tests/test_fastyaml.py checks that both paths agree (examples, a generated corpus, a fuzz).
"""

from __future__ import annotations

import re
from typing import Any

from kathansync.yamlio import FILE_TAG, MAX_DEPTH, MAX_NODES, MAX_TEXT, FileRef

# Characters that may start a construct the readings disagree on. Each one found is looked at in
# context: most manifests have none, or a "Hello!".
_SPECIAL = re.compile("[&*!%?\t]|[^\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TOKEN_START = " \n\r[{,"
_FILE_TAG = re.compile(r"(?:^|(?<=[\s\[{,]))!file[ \t]+", re.MULTILINE)
_FILE_TAG_WITH_PATH = re.compile(r"!file[ \t]+[^\s:,}\]]")
_FILE_AS_KEY = re.compile(r"!file\s*[\"']?\s*[:,}\]]")
# Inside flow collections (`[a, b]`, `{a: 1}`) ryaml takes plain scalars that ruamel refuses
# (`[a:b]`, `{a?}`): texts with both go to ruamel.
_FLOW = re.compile(r"(?:^|(?<=[\s\[{,:]))[\[{]", re.MULTILINE)
_FLOW_DOUBT = re.compile(r":(?=[^\s])|[?@`]")
# Text ryaml returns where ruamel builds something else: `017`, `1_000` (integers), a date, `=`.
_DOUBTFUL_TEXT = re.compile(
    r"[-+]?0[0-9_]+(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"  # leading zeros
    r"|[-+]?[0-9.]*_[0-9._]*(?:[eE][-+]?[0-9_]+)?|[-+]?0[xob][0-9a-fA-F]*_[0-9a-fA-F_]*"  # 1_000
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt \t].*)?|=|<<"  # dates, YAML 1.1's value key, merge
)


class _Refused(Exception):
    """The walk found something ruamel must read."""


def parse(text: str) -> Any | None:
    """The document as plain data (FileRef for `!file`), or None when ruamel must read it."""
    if _needs_reference(text):
        return None
    try:
        from ryaml._ryaml import loads
    except ImportError:  # not installed on this platform: the reference path still works
        return None
    try:
        data = loads(text)
    except Exception:  # any refusal is ruamel's to word, with a line and column
        return None
    if data is None:  # empty, or only comments: rare, and ruamel says why
        return None
    tags = [_position(text, m.start()) for m in _FILE_TAG.finditer(text)] if "!" in text else []
    walk = _Walk(tags)
    try:
        data = walk.node(data, 0)
    except _Refused:
        return None
    # Every `!file` in the text must have become exactly one FileRef, in document order.
    return data if walk.next_tag == len(tags) else None


def _needs_reference(text: str) -> bool:
    """True when the text may use a construct the readings disagree on (conservative: a `*`
    starting a word in a prompt costs one slow parse, never a different result)."""
    for match in _SPECIAL.finditer(text):
        char, at = match.group(), match.start()
        before = text[at - 1] if at else "\n"
        if char in "&*":
            if before in _TOKEN_START:
                return True
        elif char == "!":
            if _FILE_AS_KEY.match(text, at) or (
                before in _TOKEN_START and not _FILE_TAG_WITH_PATH.match(text, at)
            ):
                return True
        elif char in "%?":
            if text[text.rfind("\n", 0, at) + 1 : at].strip(" ") == "":
                return True
        else:  # a tab or a control character: ruamel words the problem
            return True
    return ("[" in text or "{" in text) and bool(_FLOW_DOUBT.search(text) and _FLOW.search(text))


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


class _Walk:
    """One pass over ryaml's data: FileRefs made, doubtful values refused, bounds enforced."""

    def __init__(self, tags: list[tuple[int, int]]) -> None:
        self.tags = tags
        self.next_tag = 0
        self.nodes = MAX_NODES
        self.text = MAX_TEXT

    def node(self, node: Any, depth: int) -> Any:
        self.nodes -= 1
        if self.nodes < 0 or depth > MAX_DEPTH:
            raise _Refused  # ruamel's path words the bound that was crossed
        if isinstance(node, str):
            self.string(node)
            return node
        if isinstance(node, dict):
            if len(node) == 1 and FILE_TAG in node:
                return self.file_ref(node[FILE_TAG])
            result = {}
            for key, value in node.items():
                if isinstance(key, str):
                    self.string(key)
                result[key] = self.node(value, depth + 1)
            return result
        if isinstance(node, list):
            return [self.node(item, depth + 1) for item in node]
        return node

    def string(self, value: str) -> None:
        self.text -= len(value)
        if self.text < 0 or (value[:1] in "0123456789+-=<" and _DOUBTFUL_TEXT.fullmatch(value)):
            raise _Refused

    def file_ref(self, path: Any) -> FileRef:
        if not isinstance(path, str) or self.next_tag >= len(self.tags):
            raise _Refused  # a mapping that only looks like a tag: ruamel decides
        self.string(path)
        line, column = self.tags[self.next_tag]
        self.next_tag += 1
        return FileRef(path, line, column)
