"""WRITE-BACK: round-trip edits of existing manifests (the id after a create, `pull`), atomically.

Only the values that change are touched: comments, key order, quoting, block styles and the
file's indentation stay as the user wrote them, so a review shows just the changed lines.
A value the manifest does not spell out literally (`${VAR}`, `!file`, a `_defaults.yaml`) is
never overwritten in place: it is reported, and for `!file` the referenced file can be updated.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync import yamlio
from kathansync.atomic import write_atomic
from kathansync.diff import Path as LeafPath
from kathansync.diff import diff_leaves, dotted
from kathansync.errors import ConfigError
from kathansync.models import NULLABLE_FIELDS, Manifest

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


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    """A round-trip dumper in the file's own indentation that quotes boolean-looking strings."""
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        pass

    def represent_str(representer: Any, value: str) -> Any:
        # YAML 1.1 readers take a plain `on`/`off`/`yes` as a boolean: quote them.
        if value.lower() in yamlio.BOOLEAN_LOOKING:
            return representer.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        return RoundTripRepresenter.represent_str(representer, value)

    def represent_none(representer: Any, value: None) -> Any:
        # ruamel writes an empty value; manifests say `null` ("clear it") explicitly.
        return representer.represent_scalar("tag:yaml.org,2002:null", "null")

    Representer.add_representer(str, represent_str)
    Representer.add_representer(type(None), represent_none)
    yaml = YAML()
    yaml.Representer = Representer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-fold a long line the user wrote on one line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


_KEY_ONLY = re.compile(r"^(\s*)(?:- )?[^\s#-][^:#]*:\s*(?:#.*)?$")


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as ruamel's `indent()` takes them, read from the text.

    mapping: how far a nested key sits right of its parent key. offset: how far a block
    sequence's `-` sits right of its parent key; sequence: where the item's content starts.
    Defaults (2, 4, 2) for whatever the file does not show.
    """
    mapping = sequence = offset = None
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "%", "---"))
    ]
    for line, following in itertools.pairwise(lines):
        opener = _KEY_ONLY.match(line)
        if not opener:
            continue
        parent = len(line) - len(line.lstrip()) + (2 if line.lstrip().startswith("- ") else 0)
        child = len(following) - len(following.lstrip())
        if following.lstrip().startswith("- "):
            if offset is None and child >= parent:
                offset = child - parent
                sequence = offset + 2
        elif mapping is None and child > parent:
            mapping = child - parent
    mapping = mapping or 2
    if offset is None:
        offset, sequence = 2, 4
    return mapping, max(sequence or 2, offset + 2), offset


def load_tree(path: Path) -> tuple[Any, str]:
    """The manifest's round-trip tree and its text (for the indentation to write it back in)."""
    try:
        tree = yamlio.load_roundtrip(path)
    except yamlio.SourceError as exc:
        raise ConfigError(f"{path}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{path}: expected a mapping of fields at the top of the file")
    return tree, yamlio.read_text(path)


def dump_text(tree: Any, original: str = "") -> str:
    """The tree as YAML text, indented the way `original` is (import: the default style)."""
    buffer = io.StringIO()
    _yaml(*guess_indent(original)).dump(tree, buffer)
    return buffer.getvalue()


def save_tree(tree: Any, path: Path, original: str) -> None:
    """Write the tree back atomically (temp file in the same directory, fsync, rename)."""
    write_atomic(path, dump_text(tree, original))


# --- The id after a create ----------------------------------------------------------------------


def write_id(path: Path, assistant_id: str, env: str | None) -> None:
    """Record a created assistant's id: `id:` as the first key, or `id.<env>` in the id mapping.

    With an environment and no id yet, the id is written as `{env: id}`: a plain id would mean
    "this assistant in every environment".
    """
    from ruamel.yaml.comments import CommentedMap

    tree, text = load_tree(path)
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
    save_tree(tree, path, text)


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
            _pull_leaf(tree, diff.path, new, path, root, write_files, report)
    if report.written:
        save_tree(tree, path, text)
    return report


def _pull_leaf(
    tree: Any,
    leaf: LeafPath,
    new: Any,
    manifest_path: Path,
    root: Path,
    write_files: bool,
    report: PullReport,
) -> None:
    name = dotted(leaf)
    parent = _own_parent(tree, leaf)
    if parent is None:
        report.kept.append(f"{name}: not written literally in this file (a merge?); left as is")
        return
    key = leaf[-1]
    old = parent[key]
    if _is_file_ref(old):
        _pull_file(old.value, new, name, manifest_path, root, write_files, report)
    elif _mentions_variable(old):
        report.kept.append(f"{name}: comes from ${{...}}; change the variable instead")
    elif isinstance(new, list) and _is_seq(old):
        _replace_items(old, new)
        report.written.append(name)
    else:
        parent[key] = _scalar(new, old)
        report.written.append(name)


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
    from ruamel.yaml.scalarstring import LiteralScalarString, ScalarString

    new = _escape(new)
    if isinstance(new, str):
        if isinstance(old, ScalarString):
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
) -> None:
    target = (manifest_path.parent / ref).resolve()
    if not isinstance(new, str):
        report.kept.append(f"{name}: comes from !file {ref}, but the remote value is not text")
    elif not target.is_relative_to(root.resolve()):
        report.kept.append(f"{name}: comes from !file {ref}, outside the repository; left as is")
    elif not write_files:
        report.kept.append(f"{name}: comes from !file {ref}; pass --write-files to update it")
    else:
        write_atomic(target, new)
        report.files_written.append(str(manifest_path.parent / ref))
