"""ruamel.yaml plumbing for reading: size cap, strict UTF-8, a fast parser, positions on demand.

Reading a manifest is two-speed. `parse_fast` uses ruamel's C safe loader (~1 ms a file) and is
all a valid file ever needs. Only a file with a problem is parsed again with the round-trip
loader (`parse_positions`, ~5 ms) so the problem can be pinned to a line and column.
Every failure here is a `SourceError` carrying a 1-based line and column (0 when unknown).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ruamel.yaml import YAML

MAX_BYTES = 1024 * 1024  # a manifest is a few KiB; anything this big is a mistake or an attack
# Values a document may expand to through aliases. Aliases are shared objects, so a "billion
# laughs" file loads in milliseconds and only explodes in whatever walks it: count while walking.
MAX_NODES = 100_000
# Nodes alone do not bound the cost: one 600 KB string aliased 90,000 times is 54 GB of text.
MAX_TEXT = 8 * 1024 * 1024  # characters of keys and strings, counted through aliases
MAX_DEPTH = 64  # nesting; far beyond any manifest, far below Python's recursion limit
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # no open through a symlink (0: no such flag here)

FILE_TAG = "!file"


class SourceError(Exception):
    """A file that cannot be read or parsed, at a 1-based line and column (0 when unknown)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class FileRef:
    """A `!file PATH` value, resolved later by whoever knows which file it was written in."""

    path: str
    line: int
    column: int


# --- Reading --------------------------------------------------------------------------------------


def read_text(path: Path | str, *, max_bytes: int = MAX_BYTES, follow: bool = True) -> str:
    """The text of a regular file (see `read_bytes`): strict UTF-8, a BOM dropped."""
    return decode_utf8(read_bytes(path, max_bytes=max_bytes, follow=follow))


def read_bytes(path: Path | str, *, max_bytes: int = MAX_BYTES, follow: bool = True) -> bytes:
    """The bytes of a regular file: at most `max_bytes`; never through a symlink if not `follow`.

    A FIFO, a device (a symlink to /dev/zero) or a directory is refused before any read: one
    would hang, the other never end. The size is checked on the open file, and the read itself
    is bounded, so a file that grows after the check cannot get past it.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags if follow else flags | NOFOLLOW)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise SourceError(f"cannot read file: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError("not a regular file (a FIFO, device or directory): refusing to read")
        if info.st_size > max_bytes:
            raise SourceError(f"file is {info.st_size} bytes, more than the {max_bytes} allowed")
        data = _read_fd(fd, max_bytes + 1, info.st_size + 1)  # cheaper than a file object
    except OSError as exc:
        raise SourceError(f"cannot read file: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise SourceError(f"file is more than the {max_bytes} bytes allowed")
    return data


def _read_fd(fd: int, limit: int, expected: int) -> bytes:
    """Up to `limit` bytes; reads of `expected` bytes (the size, +1 to see EOF) come first."""
    chunks, left = [], limit
    while left > 0 and (chunk := os.read(fd, min(left, expected))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    # strerror alone: the exception's text repeats the path, which may be 5,000 characters.
    return getattr(exc, "strerror", None) or type(exc).__name__


def decode_utf8(data: bytes) -> str:
    """Decode strict UTF-8, or raise SourceError at the line and column of the first bad byte.
    The BOM is dropped here: the utf-8-sig codec decodes in Python, "utf-8" in C."""
    try:
        return (data[3:] if data.startswith(b"\xef\xbb\xbf") else data).decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
        raise SourceError(
            f"not UTF-8: byte 0x{data[start]:02x} cannot be decoded (save the file as UTF-8)",
            line,
            column,
        ) from None


# --- Parsing --------------------------------------------------------------------------------------

_YAML11 = re.compile(r"^%YAML[ \t]+1\.1\b", re.MULTILINE)
_fast: YAML | None = None
_positions: YAML | None = None


def _construct_file(constructor: Any, node: Any) -> FileRef:
    value = constructor.construct_scalar(node)
    mark = node.start_mark
    return FileRef(str(value), mark.line + 1, mark.column + 1)


# Types the safe loaders build that JSON has no word for. `!!pairs`/`!!omap` build tuples the
# expansion budget would not walk, and none of them is a value an assistant field can take.
_REFUSED_TAGS = ("pairs", "omap", "set", "binary")
_AS_TEXT = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:str")  # see _construct_text


def _refuse_tag(constructor: Any, node: Any) -> Any:
    from ruamel.yaml.constructor import ConstructorError

    message = f"unsupported tag {node.tag}: only plain YAML values and {FILE_TAG}"
    raise ConstructorError(None, None, message, node.start_mark)


def _construct_text(constructor: Any, node: Any) -> Any:
    # YAML 1.2 (core schema) has no timestamps: `2025-01-01` is the text the user wrote. And
    # `!!str 3` is text, not the round trip's TaggedScalar (which check_expansion refused).
    return constructor.construct_scalar(node)


def _register(constructor: Any) -> None:
    constructor.add_constructor(FILE_TAG, _construct_file)
    for name in _REFUSED_TAGS:
        constructor.add_constructor(f"tag:yaml.org,2002:{name}", _refuse_tag)
    for tag in _AS_TEXT:
        constructor.add_constructor(tag, _construct_text)


def _fast_loader() -> YAML:
    """One C safe loader for the whole run (creating one per file costs ~1 ms)."""
    global _fast
    if _fast is None:
        from ruamel.yaml import YAML
        from ruamel.yaml.constructor import SafeConstructor

        # A subclass, so registering !file does not change SafeConstructor for other users.
        class Constructor(SafeConstructor):
            pass

        _register(Constructor)
        _fast = YAML(typ="safe", pure=False)
        _fast.Constructor = Constructor
        _fast.allow_duplicate_keys = False
    return _fast


def _positions_loader() -> YAML:
    global _positions
    if _positions is None:
        from ruamel.yaml import YAML
        from ruamel.yaml.constructor import RoundTripConstructor

        class Constructor(RoundTripConstructor):
            pass

        _register(Constructor)
        _positions = YAML()
        _positions.Constructor = Constructor
        _positions.allow_duplicate_keys = False
    return _positions


def yaml11_directive(text: str) -> bool:
    """True when the text declares `%YAML 1.1` (read as YAML 1.2 all the same: see docs)."""
    return "%YAML" in text and _YAML11.search(text) is not None


def as_yaml12(text: str) -> str:
    """The text with a `%YAML 1.1` directive read as 1.2 (same length: positions hold)."""
    # The pure loaders honour `%YAML 1.1` (on/off/yes/no become booleans), the C one does not.
    # Rewriting the directive in place (same length, so positions hold) makes both read 1.2.
    return _YAML11.sub("%YAML 1.2", text) if yaml11_directive(text) else text


def parse_fast(text: str) -> Any:
    """Plain data (FileRef for !file): ryaml for texts both read alike, see fastyaml.py."""
    from kathansync.load import fastyaml  # here: fastyaml imports this module's FileRef

    data = fastyaml.parse(text)
    return data if data is not None else parse_reference(text)


def parse_reference(text: str) -> Any:
    """ruamel's C safe loader alone: the reading every fast path must agree with."""
    return _parse(_fast_loader(), text)


def parse_positions(text: str) -> Any:
    """The round-trip tree (CommentedMap/CommentedSeq), whose `.lc` gives positions."""
    return _parse(_positions_loader(), text)


def _parse(yaml: YAML, text: str) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = as_yaml12(text)
    check_printable(text)
    try:
        if "*" in text:  # no alias without a `*`: most files skip the scan
            check_aliases(yaml, text)
        check_depth(yaml, text)
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        raise _source_error(exc, text) from None
    except YAMLError as exc:  # unmarked: rare (reader errors)
        raise SourceError(f"invalid YAML: {exc}") from None
    except RecursionError:  # the pure parsers recurse once per nesting level
        raise SourceError(f"nested more than {MAX_DEPTH} levels deep", 1, 1) from None
    check_expansion(data)
    return data


def _source_error(exc: Any, text: str) -> SourceError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    problem = str(exc.problem or exc.context or "invalid YAML").strip()
    name = type(exc).__name__
    if name == "DuplicateKeyError":
        key = re.search(r'duplicate key "(.*?)" with value', problem)
        message = f"duplicate key {key.group(1)!r}" if key else "duplicate key"
        if exc.context_mark is not None:
            message += f" in the mapping starting at line {exc.context_mark.line + 1}"
        return SourceError(message, line, column)
    if name == "ComposerError" and "another document" in str(exc):
        return SourceError("more than one YAML document (---): expected one per file", line, column)
    if _char_at(text, mark) == "\t":
        return SourceError("tab character: YAML indentation must use spaces", line, column)
    if problem.startswith("unsupported tag"):
        return SourceError(problem, line, column)
    if "could not determine a constructor" in problem:
        tag = re.search(r"tag '?(![^\s']*)", problem)
        return SourceError(
            f"unknown tag {tag.group(1) if tag else ''}: only {FILE_TAG} is supported",
            line,
            column,
        )
    return SourceError(f"invalid YAML: {problem}", line, column)


def _char_at(text: str, mark: Any) -> str:
    if mark is None:
        return ""
    lines = text.splitlines()
    line: int = mark.line
    column: int = mark.column
    if line >= len(lines) or column >= len(lines[line]):
        return ""
    return lines[line][column]


# What YAML allows in a stream (YAML 1.2, 5.1): tab, line breaks and printable Unicode.
_NON_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_printable(text: str) -> None:
    """Raise SourceError at the line and column of the first character YAML does not allow
    (NUL, BEL, ...): the parsers would report an offset from the start of the stream."""
    found = _NON_PRINTABLE.search(text)
    if found is None:
        return
    start = found.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    raise SourceError(
        f"control character U+{ord(found.group()):04X} is not allowed in YAML", line, column
    )


def check_aliases(
    yaml: YAML, text: str, limit: int = MAX_NODES, *, max_text: int = MAX_TEXT
) -> None:
    """Refuse a document whose aliases expand past the budget, before anything is built.

    Merge keys (`<<: [*a, *a]`) are expanded by the loaders themselves, into fresh copies:
    a bomb of merges would explode inside `load` before `check_expansion` could see it. The
    parse events (~0.3 ms a file) are enough to count what every alias stands for.
    """
    events = yaml.parse(text)
    try:
        _count(events, limit, max_text)
    finally:
        events.close()  # the loader is shared: leave no half-read parser behind


def check_depth(yaml: YAML, text: str) -> None:
    """Refuse nesting past check_expansion's bound from the parse events, before composing: the
    C loader composes by recursion, and ~20,000 levels (60 KB) overflowed its stack (a crash).
    Each level needs one of `[{-?:`, so a text with few of them skips the scan."""
    if sum(map(text.count, "[{-?:")) <= 2000:
        return
    events, depth = yaml.parse(text), 0
    try:
        for event in events:
            kind = type(event).__name__
            depth += kind in ("MappingStartEvent", "SequenceStartEvent")
            depth -= kind in ("MappingEndEvent", "SequenceEndEvent")
            if depth > MAX_DEPTH + 1:  # the innermost collection is past MAX_DEPTH
                mark = event.start_mark
                raise SourceError(
                    f"nested more than {MAX_DEPTH} levels deep", mark.line + 1, mark.column + 1
                )
    finally:
        events.close()


def _count(events: Any, limit: int, max_text: int) -> None:
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, characters) it expands to
    stack: list[list[Any]] = [[0, 0, None]]  # [values, characters, anchor] per open collection
    for event in events:
        kind = type(event).__name__
        if kind in ("MappingStartEvent", "SequenceStartEvent"):
            stack.append([1, 0, event.anchor])
            continue
        if kind in ("MappingEndEvent", "SequenceEndEvent"):
            nodes, chars, anchor = stack.pop()
        elif kind == "ScalarEvent":
            nodes, chars, anchor = 1, len(event.value), event.anchor
        elif kind == "AliasEvent":
            nodes, chars, anchor = (*sizes.get(event.anchor, (1, 0)), None)
        else:
            continue
        if anchor:
            sizes[anchor] = (nodes, chars)
        parent = stack[-1]
        parent[0] += nodes
        parent[1] += chars
        if parent[0] > limit or parent[1] > max_text:
            mark = event.start_mark
            raise SourceError(
                f"document expands to more than {limit} values or {max_text} characters"
                " through aliases and merge keys (an alias bomb?) — refusing to load it",
                mark.line + 1,
                mark.column + 1,
            )


def check_expansion(
    data: Any, limit: int = MAX_NODES, *, max_text: int = MAX_TEXT, max_depth: int = MAX_DEPTH
) -> None:
    """Raise SourceError when `data` expands, through aliases, to more than `limit` values or
    `max_text` characters of keys and strings (an alias bomb), or nests deeper than `max_depth`.

    Only JSON-like values (and `FileRef`) are walked: the loaders refuse the tags that build
    anything else, and anything else found here is refused too rather than left uncounted.
    """
    nodes, text = limit, max_text
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        nodes -= 1
        if isinstance(node, str):
            text -= len(node)
        if nodes < 0 or text < 0:
            raise SourceError(
                f"document expands to more than {limit} values or {max_text} characters"
                " through aliases (an alias bomb?) — refusing to load it",
                1,
                1,
            )
        if depth > max_depth:
            raise SourceError(f"nested more than {max_depth} levels deep", 1, 1)
        if isinstance(node, dict):
            stack.extend((key, depth + 1) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif not isinstance(node, (str, int, float, bool, FileRef)) and node is not None:
            raise SourceError(f"unsupported value of type {type(node).__name__}", 1, 1)
