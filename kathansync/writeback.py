"""WRITE-BACK: round-trip edits of existing manifests (the id after a create, `pull`), atomically.

Only the values that change are touched: comments, key order, quoting, block styles and the
file's indentation stay as the user wrote them, so a review shows just the changed lines.
A value the manifest does not spell out literally (`${VAR}`, `!file`, a `_defaults.yaml`) is
never overwritten in place: it is reported, and for `!file` the referenced file can be updated.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.atomic import write_atomic
from kathansync.errors import ConfigError
from kathansync.load import yamlio
from kathansync.models import NULLABLE_FIELDS, Manifest
from kathansync.plan.diff import diff_leaves
from kathansync.tree import LeafPath, dotted

if TYPE_CHECKING:
    from ruamel.yaml import YAML

# `${` not preceded by `$`: an interpolation the loader would resolve (`$${` is a literal `${`).
_INTERPOLATED = re.compile(r"(?<!\$)\$\{")


@dataclass
class PullReport:
    """What `pull_manifest` did to one manifest."""

    handle: str
    file: str
    written: list[str] = field(default_factory=list)  # dotted paths updated in the manifest
    files_written: list[str] = field(default_factory=list)  # `!file` targets updated
    kept: list[str] = field(default_factory=list)  # one line per difference left as is, and why

    @property
    def changed(self) -> bool:
        return bool(self.written or self.files_written)


# --- Reading and writing a round-trip tree ------------------------------------------------------

# Plain scalars a YAML 1.1 reader would take as booleans or null: always written quoted.
BOOLEAN_LOOKING = frozenset(["y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"])

# Characters a plain, single-quoted or block scalar cannot carry back unchanged: YAML folds
# `\r`, `\x85`, `\u2028`, `\u2029` into line breaks and forbids most control characters there.
# Only a double-quoted scalar, which escapes them, reads back as the same string.
_NEEDS_ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")

_EXPLICIT_START = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\n)*---(?:[ \t]|\r?\n|\Z)")


def needs_double_quotes(text: str) -> bool:
    """True when only a double-quoted scalar would read back as exactly `text`."""
    return _NEEDS_ESCAPES.search(text) is not None


def _yaml(mapping: int = 2, sequence: int = 4, offset: int = 2) -> YAML:
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
    yaml.width = 4096  # never re-fold a long line the user wrote on one line
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


def load_tree(path: Path) -> tuple[Any, str]:
    """The manifest's round-trip tree and its text (for the layout to write it back in).

    The text goes through the loader's own checks first (size, UTF-8, alias budget, tags), and
    a `%YAML 1.1` file is read as YAML 1.2, as the loader reads it.
    """
    try:
        text = yamlio.read_text(path)
        data = yamlio.parse_fast(text)
    except yamlio.SourceError as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top of the file")
    return _yaml().load(yamlio.as_yaml12(text)), text


def dump_text(tree: Any, original: str = "") -> str:
    """The tree as YAML text in `original`'s layout (import: the default style).

    Kept from `original`: indentation, a leading `---`, a `%YAML 1.1` directive (the tree was
    read as 1.2, and every boolean-looking string is written quoted, so 1.1 readers agree) and
    CRLF line ends. A file mixing line ends cannot be kept: ConfigError.
    """
    yaml = _yaml(*guess_indent(original))
    yaml.explicit_start = _EXPLICIT_START.match(original) is not None or None
    yaml11 = yamlio.yaml11_directive(original)
    if yaml11:
        yaml.version = (1, 2)  # dumped as the tool reads it; the directive is put back below
    buffer = io.StringIO()
    yaml.dump(tree, buffer)
    text = buffer.getvalue()
    if yaml11:
        text = text.replace("%YAML 1.2", "%YAML 1.1", 1)
    crlf = original.count("\r\n")
    if crlf and crlf != original.count("\n"):
        raise ConfigError("the file mixes CRLF and LF line ends: make them one kind first")
    return text.replace("\n", "\r\n") if crlf else text


def save_tree(
    tree: Any, path: Path, original: str, expected: Any, allowed: list[tuple[int, int]] | None
) -> None:
    """Write the tree back atomically (temp file in the same directory, fsync, rename), after
    checking the new text: it must read back as `expected` (the file's own data, as the loader
    parses it) and, unless `allowed` is None, differ from `original` only within those
    0-based line ranges. Otherwise ConfigError, and the file is left untouched."""
    try:
        text = dump_text(tree, original)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}; left as is") from None
    try:
        reread = _plain(yamlio.parse_fast(text))
    except yamlio.SourceError as exc:
        reread = f"unreadable: {exc.message}"
    if _canonical(reread) != _canonical(expected):
        raise ConfigError(
            f"{path}: writing it back would not read back as intended (a YAML construct the"
            " write-back cannot keep?); the file is left as is: make the change by hand"
        )
    if allowed is not None:
        line = _unrelated_change(original, text, allowed)
        if line is not None:
            raise ConfigError(
                f"{path}:{line + 1}: writing it back would also change this line, which was not"
                " asked for (a layout the write-back cannot keep); the file is left as is:"
                " make the change by hand"
            )
    write_atomic(path, text)


def file_data(text: str) -> Any:
    """The file's own data as the loader parses it, with `!file` references compared by path."""
    return _plain(yamlio.parse_fast(text))


def _plain(value: Any) -> Any:
    """A fresh, unshared copy of parsed data (aliases become copies); FileRef by its path."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, yamlio.FileRef):
        return {yamlio.FILE_TAG: value.path}
    return value


def _canonical(value: Any) -> str:
    # JSON tells 1 from 1.0 from true, which Python's == does not.
    return json.dumps(value, sort_keys=True, default=repr)


def _set(data: Any, leaf: tuple[Any, ...], value: Any) -> None:
    for key in leaf[:-1]:
        data = data[key]
    data[leaf[-1]] = value


def _unrelated_change(original: str, text: str, allowed: list[tuple[int, int]]) -> int | None:
    """The first 0-based line of `original` changed outside the `allowed` ranges, or None."""
    import difflib

    before, after = original.splitlines(), text.splitlines()
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag == "equal":
            continue
        inside = any(start <= i1 and i2 <= end for start, end in allowed)
        if not inside:
            return i1
    return None


def _span(tree: Any, leaf: LeafPath, line_count: int) -> tuple[int, int]:
    """0-based [start, end) lines that the leaf's key and value take up in the original text."""
    start, end = 0, line_count
    node = tree
    for key in leaf:
        keys = [k for k, _ in node.non_merged_items()]
        start = node.lc.key(key)[0]
        following = keys.index(key) + 1
        if following < len(keys):
            end = min(end, node.lc.key(keys[following])[0])
        node = node[key]
    return start, max(end, start + 1)


# --- The id after a create ----------------------------------------------------------------------


def write_id(path: Path, assistant_id: str, env: str | None) -> None:
    """Record a created assistant's id: `id:` as the first key, or `id.<env>` in the id mapping.

    With an environment and no id yet, the id is written as `{env: id}`: a plain id would mean
    "this assistant in every environment".
    """
    from ruamel.yaml.comments import CommentedMap

    tree, text = load_tree(path)
    expected = file_data(text)
    current = tree.get("id")
    if env is None:
        if isinstance(current, Mapping):
            raise ConfigError(f"{path}: `id` is a mapping of environments; select one with --env")
        if "id" in tree:
            tree["id"] = assistant_id
        else:
            tree.insert(0, "id", assistant_id)
    elif isinstance(current, MutableMapping):
        current[env] = assistant_id
    elif current is None:
        ids = CommentedMap()
        ids[env] = assistant_id
        if "id" in tree:
            tree["id"] = ids
        else:
            tree.insert(0, "id", ids)
    else:
        raise ConfigError(
            f"{path}: `id` is one id for every environment; cannot add one for {env!r}"
        )
    if env is None:
        expected["id"] = assistant_id
    else:
        ids = expected.get("id")
        expected["id"] = {**(ids if isinstance(ids, dict) else {}), env: assistant_id}
    save_tree(tree, path, text, expected, None)


# --- pull: take the remote's values into a manifest ---------------------------------------------


def pull_manifest(
    manifest: Manifest,
    remote: Mapping[str, Any],
    *,
    root: Path,
    write_files: bool = False,
) -> PullReport:
    """Set the manifest's managed leaves that differ from `remote` to the remote values.

    `root` bounds the `!file` targets that `write_files` may update (the repository root).
    The manifest file is rewritten (atomically) only when a leaf in it changed.
    """
    report = PullReport(manifest.handle, manifest.file)
    diffs = diff_leaves(manifest.desired, remote)
    if not diffs:
        return report
    path = Path(manifest.file)
    tree, text = load_tree(path)
    writes: list[_Write] = []
    files: list[tuple[Path, str, str]] = []  # !file targets: (path, new text, as shown)
    for diff in diffs:
        name = diff.dotted
        new = diff.before  # the remote's value
        if new is None and name not in NULLABLE_FIELDS:
            report.kept.append(f"{name}: the remote has no value; left as is")
        elif name in manifest.sensitive:
            report.kept.append(f"{name}: comes from ${{...}}; change the variable instead")
        elif name in manifest.origins:
            report.kept.append(f"{name}: comes from {manifest.origins[name]}; change it there")
        else:
            _pull_leaf(tree, diff.path, new, path, root, write_files, report, writes, files)
    if writes:
        expected = file_data(text)
        lines = len(text.splitlines())
        for write in writes:
            _set(expected, write.leaf, write.value)
        allowed = [_span(tree, write.leaf, lines) for write in writes]
        save_tree(tree, path, text, expected, allowed)
        report.written.extend(dotted(write.leaf) for write in writes)
    # Only once the manifest is safely written (or needed no change): a manifest left as is
    # must not end up with its prompt file changed underneath it.
    for target, new_text, shown in files:
        write_atomic(target, new_text)
        report.files_written.append(shown)
    return report


@dataclass(frozen=True)
class _Write:
    leaf: LeafPath
    value: Any  # as the manifest spells it (`$${` for a literal `${`)


def _pull_leaf(
    tree: Any,
    leaf: LeafPath,
    new: Any,
    manifest_path: Path,
    root: Path,
    write_files: bool,
    report: PullReport,
    writes: list[_Write],
    files: list[tuple[Path, str, str]],
) -> None:
    from ruamel.yaml.comments import CommentedSeq

    name = dotted(leaf)
    parent = _own_parent(tree, leaf)
    if parent is None:
        report.kept.append(f"{name}: not written literally in this file (a merge?); left as is")
        return
    if _in_anchored(tree, leaf):
        # Changing a mapping that has an `&anchor` changes every `*alias` of it too.
        report.kept.append(f"{name}: inside an anchored (&) mapping, aliased; left as is")
        return
    key = leaf[-1]
    old = parent[key]
    if _is_file_ref(old):
        _pull_file(old.value, new, name, manifest_path, root, write_files, report, files)
        return
    if _mentions_variable(old):
        report.kept.append(f"{name}: comes from ${{...}}; change the variable instead")
        return
    if _anchored(old):
        # Keep the `&anchor` on the old value even when this was its only other use.
        old.yaml_set_anchor(old.yaml_anchor().value, always_dump=True)
    if isinstance(new, list) and _is_seq(old) and not _anchored(old):
        _replace_items(old, new)  # in place: unchanged items keep their comments
    elif isinstance(new, list) and _is_seq(old):
        # The old list may be an alias target: a fresh one leaves the other uses alone.
        fresh = CommentedSeq(_escape(item) for item in new)
        if old.fa.flow_style():
            fresh.fa.set_flow_style()
        parent[key] = fresh
    else:
        parent[key] = _scalar(new, old)
    escaped = [_escape(item) for item in new] if isinstance(new, list) else _escape(new)
    writes.append(_Write(leaf, escaped))


def _anchored(node: Any) -> bool:
    anchor = getattr(node, "yaml_anchor", None)
    return anchor is not None and anchor() is not None


def _in_anchored(tree: Any, leaf: LeafPath) -> bool:
    """True when a mapping on the way to the leaf (not the leaf itself) has an `&anchor`."""
    node = tree
    for key in leaf[:-1]:
        node = node[key]
        if _anchored(node):
            return True
    return False


def _own_parent(tree: Any, leaf: LeafPath) -> Any:
    """The mapping that holds `leaf` in this file itself (not through a `<<:` merge), or None."""
    node = tree
    for key in leaf:
        if not isinstance(node, Mapping) or key not in _own_keys(node):
            return None
        parent, node = node, node[key]
    return parent


def _own_keys(node: Mapping[str, Any]) -> set[Any]:
    items = getattr(node, "non_merged_items", None)
    return {k for k, _ in items()} if items else set(node)


def _is_file_ref(value: Any) -> bool:
    return getattr(value, "tag", None) is not None and str(value.tag) == yamlio.FILE_TAG


def _mentions_variable(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_INTERPOLATED.search(value))
    if isinstance(value, list):
        return any(_mentions_variable(item) for item in value)
    return False


def _is_seq(value: Any) -> bool:
    return isinstance(value, list)


def _escape(value: Any) -> Any:
    """A remote string as the manifest must spell it: a literal `${` is written `$${`."""
    return value.replace("${", "$${") if isinstance(value, str) else value


def _scalar(new: Any, old: Any) -> Any:
    """The new value, in the old value's style; a multi-line string as a `|` block."""
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        LiteralScalarString,
        PlainScalarString,
        ScalarString,
    )

    new = _escape(new)
    if isinstance(new, str):
        if needs_double_quotes(new):
            return DoubleQuotedScalarString(new)  # no other style reads back the same
        if isinstance(old, ScalarString) and not isinstance(old, PlainScalarString):
            return type(old)(new)  # keeps `"..."`, `'...'`, `|` and `>`
        if "\n" in new:
            return LiteralScalarString(new)
    return new


def _replace_items(seq: Any, new: list[Any]) -> None:
    """Edit a sequence in place: unchanged items keep their quoting and comments."""
    del seq[len(new) :]
    for index, item in enumerate(new):
        if index < len(seq):
            if seq[index] != item:
                seq[index] = _scalar(item, seq[index])
        else:
            seq.append(_escape(item))


def _pull_file(
    ref: str,
    new: Any,
    name: str,
    manifest_path: Path,
    root: Path,
    write_files: bool,
    report: PullReport,
    files: list[tuple[Path, str, str]],
) -> None:
    target = (manifest_path.parent / ref).resolve()
    if not isinstance(new, str):
        report.kept.append(f"{name}: comes from !file {ref}, but the remote value is not text")
    elif not target.is_relative_to(root.resolve()):
        report.kept.append(f"{name}: comes from !file {ref}, outside the repository; left as is")
    elif not write_files:
        report.kept.append(f"{name}: comes from !file {ref}; pass --write-files to update it")
    else:
        files.append((target, new, str(manifest_path.parent / ref)))
