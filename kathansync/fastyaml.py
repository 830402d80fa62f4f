"""The fast parse path: a Rust YAML 1.2 parser for texts plain enough that it reads them as ruamel.

ruamel's C safe loader is the reference reader, but at ~0.45 ms a file it was half the time of
`validate` on large fleets. ryaml (Rust, YAML 1.2 core schema, refuses duplicate keys and more
than one document, bounds nesting) parses the same files ~15x faster. The two disagree on a few
constructs (ruamel still reads `1_000`, `017` and dates the YAML 1.1 way, ryaml keeps `<<`
literal, expands aliases, returns a tag as a one-key mapping), so this path takes only texts that
use none of them, found by a conservative scan; everything else, and every text ryaml refuses,
returns None and goes through ruamel, which also gives the line and column of any problem.
tests/test_fastyaml.py checks that both paths agree on a corpus.
"""

from __future__ import annotations

import re
from typing import Any

from kathansync.yamlio import FILE_TAG, FileRef

# Anything in this pattern sends the text to ruamel. Each branch errs towards ruamel: a `*` that
# starts a word in a prompt costs one slow parse, never a different result.
_NEEDS_REFERENCE = re.compile(
    r"""
      (?:^|(?<=[\s\[{,]))[&*]               # anchors and aliases (ryaml would expand a bomb)
    | (?:^|(?<=[\s\[{,]))!(?!file[ \t]+\S)  # any tag but `!file PATH`
    | !file\s*["']?\s*[:,}\]]               # `!file` as a key, or with nothing after it
    | <<                                    # merge keys
    | ^[ \t]*[%?]                           # directives; complex keys
    | (?:^|(?<=[\s\[{,:]))[-+]?0[0-9_]      # leading zeros: ruamel reads 017 as 17
    | [0-9]_[0-9]                           # 1_000: ruamel reads 1000
    | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}        # dates: ruamel builds timestamps
    | (?:^|(?<=[\s\[{,:]))=(?![^\s,\]}])     # `=`, the YAML 1.1 value key ruamel refuses
    | \t                                    # tabs: ruamel words the error
    | [^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]  # control chars
    """,
    re.MULTILINE | re.VERBOSE,
)
# Inside flow collections (`[a, b]`, `{a: 1}`) ryaml takes plain scalars that ruamel refuses
# (`[a:b]`, `{a?}`): texts with both go to ruamel.
_FLOW = re.compile(r"(?:^|(?<=[\s\[{,:]))[\[{]", re.MULTILINE)
_FLOW_DOUBT = re.compile(r":(?=[^\s])|[?@`]")
_FILE_TAG = re.compile(r"(?:^|(?<=[\s\[{,]))!file[ \t]+", re.MULTILINE)


def parse(text: str) -> Any | None:
    """The document as plain data (FileRef for `!file`), or None when ruamel must read it."""
    if _NEEDS_REFERENCE.search(text) is not None:
        return None
    if _FLOW.search(text) is not None and _FLOW_DOUBT.search(text) is not None:
        return None
    try:
        from ryaml._ryaml import loads
    except ImportError:  # not installed on this platform: the reference path still works
        return None
    try:
        data = loads(text)
    except Exception:  # any refusal (InvalidYamlError or other) is ruamel's to word
        return None
    if FILE_TAG not in text:
        return data
    tags = [_position(text, match.start()) for match in _FILE_TAG.finditer(text)]
    found: list[tuple[int, int]] = []
    data = _with_file_refs(data, iter(tags), found)
    # Every tag in the text must have become exactly one FileRef, in document order.
    return data if len(found) == len(tags) else None


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _with_file_refs(node: Any, tags: Any, found: list[tuple[int, int]]) -> Any:
    """`node` with ryaml's `{"!file": path}` turned into FileRef, positions in text order."""
    if isinstance(node, dict):
        if len(node) == 1 and FILE_TAG in node:
            path = node[FILE_TAG]
            position = next(tags, None)
            if position is None or not isinstance(path, str):
                return node  # counted as missing: the caller falls back to ruamel
            found.append(position)
            return FileRef(path, *position)
        return {key: _with_file_refs(value, tags, found) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_file_refs(item, tags, found) for item in node]
    return node
