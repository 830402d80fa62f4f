"""Round-trip YAML shared by every writer: load, dump in the file's layout, verify, replace.

A manifest is read twice: by the loader's own parser (what the tool will see) and by ruamel's
round-trip loader (comments, quoting, positions). What is written back must read back as the
intended data and, for edits, differ from the old text only on the lines asked for.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.atomic import write_atomic
from kathansync.errors import ConfigError
from kathansync.load import yamlio
from kathansync.writeback.credentials import Variable
from kathansync.writeback.splice import Lines, UnrelatedChange, insert, splice

if TYPE_CHECKING:
    from ruamel.yaml import YAML

# Plain scalars a YAML 1.1 reader would take as booleans or null: always written quoted.
BOOLEAN_LOOKING = frozenset(["y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"])

# Characters a plain, single-quoted or block scalar cannot carry back unchanged: YAML folds
# `\r`, `\x85`, `\u2028`, `\u2029` into line breaks and forbids most control characters there.
# Only a double-quoted scalar, which escapes them, reads back as the same string.
_NEEDS_ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")

LONG_STRING = 80  # characters: longer strings are written as `|` blocks, which diff per line
_BOM = b"\xef\xbb\xbf"
TO_THE_END = 1 << 31  # the last key's value runs to the end of the file

_EXPLICIT_START = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\n)*---(?:[ \t]|\r?\n|\Z)")


def needs_double_quotes(text: str) -> bool:
    """True when only a double-quoted scalar would read back as exactly `text`."""
    return _NEEDS_ESCAPES.search(text) is not None


def make_yaml(mapping: int = 2, sequence: int = 4, offset: int = 2) -> YAML:
    """A round-trip dumper in the file's own indentation that quotes boolean-looking strings."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import RoundTripConstructor
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarstring import PlainScalarString

    class Constructor(RoundTripConstructor):
        pass

    def construct_str(constructor: Any, node: Any) -> Any:
        # A plain `off` the user wrote stays plain: quoting it would change a line not asked for.
        value = RoundTripConstructor.construct_yaml_str(constructor, node)
        if node.style is None and type(value) is str and value.lower() in BOOLEAN_LOOKING:
            return PlainScalarString(value, anchor=node.anchor)
        return value

    Constructor.add_constructor("tag:yaml.org,2002:str", construct_str)

    class Representer(RoundTripRepresenter):
        pass

    def represent_str(representer: Any, value: str) -> Any:
        # YAML 1.1 readers take a plain `on`/`off`/`yes` as a boolean: quote them.
        if value.lower() in BOOLEAN_LOOKING or needs_double_quotes(value):
            return representer.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        return RoundTripRepresenter.represent_str(representer, value)

    def represent_none(representer: Any, value: None) -> Any:
        # ruamel writes an empty value; manifests say `null` ("clear it") explicitly.
        return representer.represent_scalar("tag:yaml.org,2002:null", "null")

    Representer.add_representer(str, represent_str)
    Representer.add_representer(type(None), represent_none)
    yaml = YAML()
    yaml.Constructor = Constructor
    yaml.Representer = Representer
    yaml.preserve_quotes = True
    yaml.width = 1 << 30  # never fold a long line (ruamel folds plain scalars at `width`)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


_KEY_ONLY = re.compile(r"^(\s*)(?:- )?[^\s#-][^:#]*:\s*(?:#.*)?$")
_BLOCK_OPENER = re.compile(r"^(\s*)(?:- )?[^\s#-][^:#]*:\s*[|>][-+0-9]*\s*(?:#.*)?$")


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as ruamel's `indent()` takes them, read from the text.

    mapping: how far a nested key sits right of its parent key (ruamel indents `|` blocks by
    the same amount, so a block's indent counts when no nested key shows it). offset: how far
    a block sequence's `-` sits right of its parent key; sequence: where the item's content
    starts. Defaults (2, 4, 2) for whatever the file does not show.
    """
    mapping = sequence = offset = block = None
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "%", "---"))
    ]
    for line, following in itertools.pairwise(lines):
        parent = len(line) - len(line.lstrip()) + (2 if line.lstrip().startswith("- ") else 0)
        child = len(following) - len(following.lstrip())
        if block is None and _BLOCK_OPENER.match(line) and child > parent:
            block = child - parent
        if not _KEY_ONLY.match(line):
            continue
        if following.lstrip().startswith("- "):
            if offset is None and child >= parent:
                offset = child - parent
                sequence = offset + 2
        elif mapping is None and child > parent:
            mapping = child - parent
    mapping = mapping or block or 2
    if offset is None:
        offset, sequence = 2, 4
    return mapping, max(sequence or 2, offset + 2), offset


def new_node(value: Any) -> Any:
    """A value as a new round-trip node in the house style: long or multi-line strings as `|`
    blocks (they diff line by line), a literal `${` written `$${`, `${VAR}` placeholders
    (`Variable`) as they are."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, Mapping):
        styled = CommentedMap()
        for key, item in value.items():
            styled[key] = new_node(item)
        return styled
    if isinstance(value, list):
        return [new_node(item) for item in value]
    if isinstance(value, Variable):
        return str(value)
    if isinstance(value, str):
        value = value.replace("${", "$${")  # the loader would read `${` as a variable
        if needs_double_quotes(value):
            return value  # written double-quoted (escaped): no block style reads back the same
        if "\n" in value or len(value) > LONG_STRING:
            return LiteralScalarString(value)
    return value


def load_tree(path: Path) -> tuple[Any, str]:
    """The manifest's round-trip tree and its text (a BOM kept as "\ufeff", for the write).

    The text goes through the loader's own checks first (size, UTF-8, alias budget, tags), and
    a `%YAML 1.1` file is read as YAML 1.2, as the loader reads it.
    """
    from ruamel.yaml.error import MarkedYAMLError

    try:
        text = yamlio.read_text(path)
        data = yamlio.parse_fast(text)
    except yamlio.SourceError as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top of the file")
    lines = _lines(path, text)
    try:
        tree = make_yaml().load(yamlio.as_yaml12(lines.for_parsing()))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}:" if mark is not None else ""
        raise ConfigError(
            f"{path}:{where} the round-trip reader cannot read this ({exc.problem});"
            " the file is left as is: make the change by hand"
        ) from None
    with path.open("rb") as raw:
        bom = raw.read(len(_BOM)) == _BOM
    return tree, ("\ufeff" if bom else "") + text


def _lines(path: Path, text: str) -> Lines:
    try:
        return Lines.of(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}: the write-back cannot keep it; left as is") from None


def dump_text(tree: Any, original: str = "") -> str:
    """The tree as YAML text (LF) in `original`'s layout (import: the default style).

    Kept from `original`: indentation, a leading `---` and a `%YAML 1.1` directive (the tree was
    read as 1.2, and every boolean-looking string is written quoted, so 1.1 readers agree).
    """
    yaml = make_yaml(*guess_indent(original))
    yaml.explicit_start = _EXPLICIT_START.match(original) is not None or None
    yaml11 = yamlio.yaml11_directive(original)
    if yaml11:
        yaml.version = (1, 2)  # dumped as the tool reads it; the directive is put back below
    buffer = io.StringIO()
    yaml.dump(tree, buffer)
    text = buffer.getvalue()
    if yaml11:
        text = text.replace("%YAML 1.2", "%YAML 1.1", 1)
    return text


def dump_fragment(tree: Any, original: str) -> str:
    """Keys to put into a file: the tree in `original`'s indentation, no `---` or directive."""
    buffer = io.StringIO()
    make_yaml(*guess_indent(original)).dump(tree, buffer)
    return buffer.getvalue()


def save_tree(
    tree: Any, path: Path, original: str, expected: Any, allowed: list[tuple[int, int]] | None
) -> None:
    """Write the edited tree back atomically (temp file in the same directory, fsync, rename).

    Only the lines in `allowed` (0-based [start, end) ranges of `original`; None: any) take the
    dumper's text; every other line keeps its bytes, a BOM and the final newline (or its
    absence) included. The result must read back as `expected` (the file's own data, as the
    loader parses it): otherwise ConfigError, and the file is left untouched.
    """
    lines = _lines(path, original.removeprefix("\ufeff"))
    dumped = dump_text(tree, lines.for_parsing())
    try:
        text = splice(lines, dumped, [(0, len(lines.contents))] if allowed is None else allowed)
    except UnrelatedChange as exc:
        raise ConfigError(
            f"{path}:{exc.line + 1}: writing it back would also change this line, which was not"
            " asked for (a layout the write-back cannot keep); the file is left as is:"
            " make the change by hand"
        ) from None
    save_text(path, original, text, expected)


def insert_lines(path: Path, original: str, at: int, new: str, expected: Any) -> None:
    """Put the lines of `new` (LF text) before line `at` of the file, touching nothing else:
    ruamel never rewrites the rest (a first key written `name:   x` stays so). Checked and
    written as `save_text` does."""
    lines = _lines(path, original.removeprefix("\ufeff"))
    save_text(path, original, insert(lines, at, new.splitlines()), expected)


def save_text(path: Path, original: str, text: str, expected: Any) -> None:
    """Write `text` (with `original`'s BOM, if any) atomically, once it reads back as
    `expected`; otherwise ConfigError, and the file is left untouched."""
    bom = original.startswith("\ufeff")
    # A file without a final newline keeps it so, unless the last value needs one (a `|`
    # block pulled into the last key keeps its line break only with it).
    ending = "\r\n" if original.endswith("\r\n") or "\r\n" in text else "\n"
    for candidate in (text, text + ending) if not text.endswith("\n") else (text,):
        if _reads_back(candidate, expected):
            write_atomic(path, ("\ufeff" if bom else "") + candidate)
            return
    raise ConfigError(
        f"{path}: writing it back would not read back as intended (a YAML construct the"
        " write-back cannot keep?); the file is left as is: make the change by hand"
    )


def _reads_back(text: str, expected: Any) -> bool:
    try:
        reread = plain(yamlio.parse_fast(text))
    except yamlio.SourceError:
        return False
    return canonical(reread) == canonical(expected)


def file_data(text: str) -> Any:
    """The file's own data as the loader parses it, with `!file` references compared by path."""
    return plain(yamlio.parse_fast(text.removeprefix("\ufeff")))


def plain(value: Any) -> Any:
    """A fresh, unshared copy of parsed data (aliases become copies); FileRef by its path."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, yamlio.FileRef):
        return {yamlio.FILE_TAG: value.path}
    return value


def canonical(value: Any) -> str:
    # JSON tells 1 from 1.0 from true, which Python's == does not.
    return json.dumps(value, sort_keys=True, default=repr)


def set_leaf(data: Any, leaf: tuple[Any, ...], value: Any) -> None:
    for key in leaf[:-1]:
        data = data[key]
    data[leaf[-1]] = value


def span(tree: Any, leaf: tuple[Any, ...]) -> tuple[int, int]:
    """0-based [start, end) lines that the leaf's key and value take up in the file."""
    start, end = 0, TO_THE_END
    node = tree
    for key in leaf:
        keys = [k for k, _ in node.non_merged_items()]
        start = node.lc.key(key)[0]
        following = keys.index(key) + 1
        if following < len(keys):
            end = min(end, node.lc.key(keys[following])[0])
        node = node[key]
    return start, max(end, start + 1)
