"""ruamel.yaml plumbing: safe reading, a fast parser, positions on demand, atomic write-back.

Reading a manifest is two-speed. `parse_fast` uses ruamel's C safe loader (~1 ms a file) and is
all a valid file ever needs. Only a file with a problem is parsed again with the round-trip
loader (`parse_positions`, ~5 ms) so the problem can be pinned to a line and column.
Every failure here is a `SourceError` carrying a 1-based line and column (0 when unknown).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.atomic import write_atomic

if TYPE_CHECKING:
    from ruamel.yaml import YAML

MAX_BYTES = 1024 * 1024  # a manifest is a few KiB; anything this big is a mistake or an attack
# Values a document may expand to through aliases. Aliases are shared objects, so a "billion
# laughs" file loads in milliseconds and only explodes in whatever walks it: count while walking.
MAX_NODES = 100_000

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


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's text: at most `max_bytes`, strict UTF-8 (a BOM is dropped)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"file is {size} bytes, more than the {max_bytes} allowed")
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from None
    return decode_utf8(data)


def decode_utf8(data: bytes) -> str:
    """Decode strict UTF-8, or raise SourceError at the line and column of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
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


def _fast_loader() -> YAML:
    """One C safe loader for the whole run (creating one per file costs ~1 ms)."""
    global _fast
    if _fast is None:
        from ruamel.yaml import YAML
        from ruamel.yaml.constructor import SafeConstructor

        # A subclass, so registering !file does not change SafeConstructor for other users.
        class Constructor(SafeConstructor):
            pass

        Constructor.add_constructor(FILE_TAG, _construct_file)
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

        Constructor.add_constructor(FILE_TAG, _construct_file)
        _positions = YAML()
        _positions.Constructor = Constructor
        _positions.allow_duplicate_keys = False
    return _positions


def yaml11_directive(text: str) -> bool:
    """True when the text declares `%YAML 1.1` (read as YAML 1.2 all the same: see docs)."""
    return "%YAML" in text and _YAML11.search(text) is not None


def _as_yaml12(text: str) -> str:
    # The pure loaders honour `%YAML 1.1` (on/off/yes/no become booleans), the C one does not.
    # Rewriting the directive in place (same length, so positions hold) makes both read 1.2.
    return _YAML11.sub("%YAML 1.2", text) if yaml11_directive(text) else text


def parse_fast(text: str) -> Any:
    """Plain Python data (dict/list/str/int/float/bool/None, FileRef for !file)."""
    return _parse(_fast_loader(), text)


def parse_positions(text: str) -> Any:
    """The round-trip tree (CommentedMap/CommentedSeq), whose `.lc` gives positions."""
    return _parse(_positions_loader(), text)


def _parse(yaml: YAML, text: str) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = _as_yaml12(text)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        raise _source_error(exc, text) from None
    except YAMLError as exc:  # unmarked: rare (reader errors)
        raise SourceError(f"invalid YAML: {exc}") from None
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


def check_expansion(data: Any, limit: int = MAX_NODES) -> None:
    """Raise SourceError when `data` expands to more than `limit` values (an alias bomb)."""
    budget = limit
    stack = [data]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise SourceError(
                f"document expands to more than {limit} values through aliases (an alias bomb?)"
                " — refusing to load it",
                1,
                1,
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def position(tree: Any, loc: tuple[str | int, ...], *, at_key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of `loc` in a round-trip tree: the value, or its key with `at_key`.

    Stops at the deepest part of `loc` that exists (a key the file does not have, or one that
    came in through a `<<:` merge, points at the mapping that should hold it).
    """
    line, column = _start(tree)
    node = tree
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(node, dict) and part in node:
                pos = lc.key(part) if (last and at_key) else lc.value(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                pos = lc.item(part)
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
        line, column = pos[0] + 1, pos[1] + 1
        node = node[part]
    return line, column


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return (0, 0)
    return lc.line + 1, lc.col + 1


# --- Round-trip write-back (import / pull) --------------------------------------------------------

# Plain scalars a YAML 1.1 reader would take as booleans or null: always written quoted.
BOOLEAN_LOOKING = frozenset(["y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"])


def _roundtrip_yaml() -> YAML:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        pass

    def represent_str(representer: Any, value: str) -> Any:
        if value.lower() in BOOLEAN_LOOKING:
            return representer.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        return RoundTripRepresenter.represent_str(representer, value)

    Representer.add_representer(str, represent_str)
    yaml = YAML()
    yaml.Representer = Representer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-fold long lines the user wrote on one line
    return yaml


def load_roundtrip(path: Path) -> Any:
    """The file as a round-trip tree: comments, key order and quoting kept for `dump_roundtrip`."""
    text = read_text(path)
    yaml = _roundtrip_yaml()
    try:
        return yaml.load(text)
    except Exception as exc:
        from ruamel.yaml.error import MarkedYAMLError

        if isinstance(exc, MarkedYAMLError):
            raise _source_error(exc, text) from None
        raise


def dump_roundtrip(data: Any, path: Path) -> None:
    """Write `data` to `path` atomically, in the indentation the existing file uses.

    Writes a temporary file in the same directory, fsyncs it and renames it over `path`: a
    crash or error at any point leaves either the old file or the new one, never half of one.
    """
    import io

    yaml = _roundtrip_yaml()
    mapping, sequence, offset = 2, 4, 2  # new files: the examples' style
    if path.exists():
        mapping, sequence, offset = guess_indent(path.read_text(encoding="utf-8"))
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    write_atomic(path, buffer.getvalue())


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as `YAML.indent` takes it, guessed from text."""
    from ruamel.yaml.util import load_yaml_guess_indent

    try:
        _, sequence, offset = load_yaml_guess_indent(text)
    except Exception:  # unparsable: fall back to the defaults
        sequence, offset = None, None
    mapping = _mapping_indent(text)
    if offset is None or sequence is None:  # no block sequence in the file
        return mapping, mapping + 2, 2
    return mapping, sequence, offset


def _mapping_indent(text: str) -> int:
    # ruamel's guess only reports sequence indentation: find a key nested under a key.
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for parent, child in itertools.pairwise(lines):
        body = child.lstrip()
        if parent.rstrip().endswith(":") and not body.startswith("-"):
            step = (len(child) - len(body)) - (len(parent) - len(parent.lstrip()))
            if step > 0:
                return step
    return 2
