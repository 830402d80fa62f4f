"""PULL: take the remote's current values into existing manifests (accept drift into git).

Only the values that change are touched: comments, key order, quoting, block styles and the
file's indentation stay as the user wrote them, so a review shows just the changed lines.
A value the manifest does not spell out literally (`${VAR}`, `!file`, a `_defaults.yaml`) is
never overwritten in place: it is reported, and for `!file` the referenced file can be updated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kathansync.atomic import write_atomic
from kathansync.errors import display_path
from kathansync.load import yamlio
from kathansync.models import NULLABLE_FIELDS, Manifest
from kathansync.plan.diff import diff_leaves
from kathansync.tree import LeafPath, dotted
from kathansync.writeback.credentials import looks_like_credential
from kathansync.writeback.yamltree import (
    file_data,
    load_tree,
    needs_double_quotes,
    save_tree,
    set_leaf,
    span,
)

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

    def lines(self) -> list[str]:
        """What pull shows for this manifest, one line per change or value left as is."""
        return [
            *(f"{self.file}: updated {path}" for path in self.written),
            *(f"{path}: updated ({self.handle})" for path in self.files_written),
            *(f"{self.file}: not pulled: {line}" for line in self.kept),
        ]


@dataclass
class PullTally:
    """Counts over one `pull` run, for its last line: manifests and `!file` targets apart."""

    manifests: int = 0
    files: int = 0
    kept: int = 0
    failed: int = 0

    def add(self, report: PullReport) -> None:
        self.manifests += bool(report.written)
        self.files += len(report.files_written)
        self.kept += len(report.kept)

    def summary(self) -> str:
        if not (self.manifests or self.files or self.kept or self.failed):
            return "Nothing to pull: the manifests match the remote."
        return (
            f"{self.manifests} manifest(s) updated, "
            + (f"{self.files} referenced file(s) updated, " if self.files else "")
            + f"{self.kept} value(s) left as is"
            + (f", {self.failed} manifest(s) could not be pulled" if self.failed else "")
            + "."
            + (" Review and commit the changes." if self.manifests or self.files else "")
        )


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
        elif _holds_credential(new):
            report.kept.append(
                f"{name}: the remote value looks like a credential; not written into a file"
                " meant for git: write it as ${VAR} and set the variable"
            )
        else:
            _pull_leaf(tree, diff.path, new, path, root, write_files, report, writes, files)
    if writes:
        expected = file_data(text)
        for write in writes:
            set_leaf(expected, write.leaf, write.value)
        allowed = [span(tree, write.leaf) for write in writes]
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


def _holds_credential(value: Any) -> bool:
    if isinstance(value, list):
        return any(_holds_credential(item) for item in value)
    return isinstance(value, str) and looks_like_credential(value)


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
        files.append((target, new, display_path(target)))  # not `assistants/../prompts`
