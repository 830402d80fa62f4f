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

from kathansync.load.yamlio import FILE_TAG, MAX_DEPTH, MAX_NODES, MAX_TEXT, FileRef

# Characters that may start a construct the readings disagree on. Each one found is looked at in
# context: most manifests have none, or a "Hello!".
_SPECIAL = re.compile("[&*!%?\t]|[^\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPECIAL_ASCII = re.compile("[&*!%?\t\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # same, ~5x faster
_TOKEN_START = " \n\r[{,"
_FILE_TAG = re.compile(r"(?:^|(?<=[\s\[{,]))!file[ \t]+", re.MULTILINE)
_FILE_TAG_WITH_PATH = re.compile(r"!file[ \t]+[^\s:,}\]]")
_FILE_AS_KEY = re.compile(r"!file\s*[\"']?\s*[:,}\]]")
# Line breaks YAML readers honour besides "\n", which _position does not count.
_OTHER_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
# Inside flow collections (`[a, b]`, `{a: 1}`) ryaml takes plain scalars that ruamel refuses
# (`[a:b]`, `{a?}`): texts with both go to ruamel.
_FLOW = re.compile(r"(?:^|(?<=[\s\[{,:]))[\[{]", re.MULTILINE)
_FLOW_DOUBT = re.compile(r":(?=[^\s])|[?@`]")
# `.8e8`: a float to ryaml (YAML 1.2 core), text to ruamel, whose form wants a signed exponent.
_DOT_EXPONENT = re.compile(r"\.[0-9_]+[eE][0-9]")
# Text ryaml returns where ruamel builds something else: `017`, `1_000` (integers), a date, `=`,
# and a number too large for ryaml (`1e400`, 400 digits), which it returns as text.
_DOUBTFUL_START = frozenset("0123456789+-=<.")
_DOUBTFUL_TEXT = re.compile(
    r"[-+]?0[0-9_]+(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"  # leading zeros
    r"|[-+]?[0-9.]*_[0-9._]*(?:[eE][-+]?[0-9_]+)?|[-+]?0[xob][0-9a-fA-F]*_[0-9a-fA-F_]*"  # 1_000
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt \t].*)?|=|<<"  # dates, YAML 1.1's value key, merge
    r"|[-+]?[0-9.]+[eE][-+]?[0-9]{3,}|[-+]?[0-9.]{19,}(?:[eE][-+]?[0-9]+)?"  # may overflow
)


# The document parse() returned last, for `took`: identity with a live object is exact, and a
# call from another thread in between only turns a True into a (safe) False.
_last: Any = None


def took(data: Any) -> bool:
    """True when `data` came from this fast path (through yamlio.parse_fast): every key is text,
    no alias, and a FileRef only where the text says `!file`. Its callers skip their own walk."""
    return data is not None and data is _last


def parse(text: str) -> Any | None:
    """The document as plain data (FileRef for `!file`), or None when ruamel must read it."""
    global _last
    _last = data = _parse(text)
    return data


def _parse(text: str) -> Any | None:
    # ryaml is quadratic in unclosed `[`/`{` (100,000 of them: 40 s before it refuses them).
    if _needs_reference(text) or text.count("[") + text.count("{") > 1000:
        return None
    try:
        from ryaml._ryaml import loads
    except ImportError:  # not installed on this platform: the reference path still works
        return None
    try:
        data = loads(text)
    except Exception:  # any refusal is ruamel's to word, with a line and column
        return None
    # Without aliases each node and character of the data stands on its own characters of the
    # text: a text shorter than a budget cannot exceed it (the walk need not count).
    if data is None or not _read_alike(data, counted=len(text) > min(MAX_NODES, MAX_TEXT)):
        return None
    if "!file" not in text:  # no tag (the scan refused every other `!` at a token's start)
        return data
    if _OTHER_BREAK.search(text):  # a `!file` position would be off: ruamel gives it
        return None
    tags = [_position(text, m.start()) for m in _FILE_TAG.finditer(text)]
    refs = _FileRefs(tags)
    data = refs.node(data)
    # Every `!file` in the text must have become exactly one FileRef, in document order.
    return data if refs.refused is False and refs.next_tag == len(tags) else None


def _needs_reference(text: str) -> bool:
    """True when the text may use a construct the readings disagree on (conservative: a `*`
    starting a word in a prompt costs one slow parse, never a different result)."""
    for match in (_SPECIAL_ASCII if text.isascii() else _SPECIAL).finditer(text):
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
    if _DOT_EXPONENT.search(text):
        return True
    return ("[" in text or "{" in text) and bool(_FLOW_DOUBT.search(text) and _FLOW.search(text))


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _read_alike(data: Any, *, counted: bool = True) -> bool:
    """True when no value may read differently through ruamel (see _DOUBTFUL_TEXT), every key
    is text, and the loader's bounds hold (no alias here: every node is counted once; nodes and
    characters only when `counted`, else depth alone).

    Exact types (ryaml builds nothing else; a subclass would only step aside), keys and values
    in separate loops: this walk runs on every manifest."""
    if not isinstance(data, (dict, list)):  # a document that is one scalar
        return not (isinstance(data, str) and _DOUBTFUL_TEXT.fullmatch(data))
    if counted:
        return _read_alike_counted(data)
    doubtful, match = _DOUBTFUL_START, _DOUBTFUL_TEXT.fullmatch
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        values = node
        if type(node) is dict:
            for key in node:
                if type(key) is not str or (key and key[0] in doubtful and match(key)):
                    return False
            values = node.values()
        for value in values:
            kind = type(value)
            if kind is str:
                if value and value[0] in doubtful and match(value):
                    return False
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
    return True


def _read_alike_counted(data: dict[str, Any] | list[Any]) -> bool:
    """_read_alike, counting nodes and characters against the loader's budgets."""
    nodes, text = MAX_NODES, MAX_TEXT
    doubtful, match = _DOUBTFUL_START, _DOUBTFUL_TEXT.fullmatch
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        nodes -= len(node)
        values = node
        if type(node) is dict:
            for key in node:
                if type(key) is not str:
                    return False
                text -= len(key)
                if key and key[0] in doubtful and match(key):
                    return False
            values = node.values()
        for value in values:
            kind = type(value)
            if kind is str:
                text -= len(value)
                if value and value[0] in doubtful and match(value):
                    return False
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
        if nodes < 0 or text < 0:
            return False
    return True


class _FileRefs:
    """ryaml's `{"!file": path}` turned into FileRef, with positions taken in document order."""

    def __init__(self, tags: list[tuple[int, int]]) -> None:
        self.tags = tags
        self.next_tag = 0
        self.refused = False

    def node(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and FILE_TAG in node:
                return self.file_ref(node[FILE_TAG])
            return {key: self.node(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.node(item) for item in node]
        return node

    def file_ref(self, path: Any) -> Any:
        if not isinstance(path, str) or self.next_tag >= len(self.tags):
            self.refused = True  # a mapping that only looks like a tag: ruamel decides
            return path
        line, column = self.tags[self.next_tag]
        self.next_tag += 1
        return FileRef(path, line, column)
