"""Leaf paths into plain JSON-like trees: iterate, get, has, overlay, and the dotted spelling.

A *leaf* is a path that ends at a non-mapping value (a scalar, a list or null). Loading, diffing
and write-back all walk trees the same way: this is the one place that says how.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

LeafPath = tuple[str, ...]  # keys from the top: ("voice", "speed")
Loc = tuple[str | int, ...]  # a path that may step into lists too: ("knowledge_base_ids", 0)


def iter_leaves(tree: Mapping[str, Any], prefix: LeafPath = ()) -> Iterator[tuple[LeafPath, Any]]:
    """Every (path, value) whose value is not a mapping, in the tree's own order."""
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, Mapping):
            yield from iter_leaves(value, path)
        else:
            yield path, value


def value_at(tree: Any, path: Sequence[str | int]) -> Any:
    """The value at `path` through mappings, or None when any step is missing (absent and null
    read alike)."""
    for key in path:
        if not isinstance(tree, dict) and not isinstance(tree, Mapping):  # dict: no ABC check
            return None
        tree = tree.get(key)
    return tree


def has(tree: Any, path: Sequence[str | int]) -> bool:
    """True when every step of `path` exists (mapping keys, and list indexes for int steps)."""
    for part in path:
        in_mapping = isinstance(tree, Mapping) and part in tree
        in_list = isinstance(tree, list) and isinstance(part, int) and 0 <= part < len(tree)
        if not (in_mapping or in_list):
            return False
        tree = tree[part]
    return True


def overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with every leaf of `top` laid over it (nested mappings merged, the rest replaced).

    Neither input is changed, and the result shares no container with `top`: defaults are laid
    under many manifests, and one must never see another's edits.
    """
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = overlay(below, value)
        else:
            merged[key] = copy_tree(value)
    return merged


def copy_tree(value: Any) -> Any:
    """A copy of the mappings and lists in `value` (scalars are shared: they are immutable)."""
    if isinstance(value, Mapping):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def dotted(path: Sequence[str | int]) -> str:
    """`voice.speed`. A list index ends the path: a list is one leaf."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            break
        parts.append(part)
    return ".".join(parts)
