"""DIFF (pure): compare the managed leaves of a manifest with the remote, build the minimal PUT.

A *leaf* is a path into `desired` that ends at a non-mapping value: a scalar, a list or null.
The managed leaves of a manifest are exactly the paths it spells out; everything else on the
remote is invisible here, except that an object-valued field which has to be sent is sent whole
(remote object with the desired leaves laid over it), so a server that replaces nested objects
keeps the sibling fields the manifest does not mention.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kathansync.models import EMPTY_WHEN_NULL, FIELD_ORDER, UNORDERED_LISTS
from kathansync.tree import LeafPath, dotted, iter_leaves, overlay, value_at


@dataclass(frozen=True)
class LeafDiff:
    """One managed leaf whose remote value differs from the desired one."""

    path: LeafPath
    before: Any  # remote value (None when the remote does not have it)
    after: Any  # desired value

    @property
    def dotted(self) -> str:
        return dotted(self.path)


def project(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The remote values at exactly the desired leaf paths, shaped like `desired`."""
    projected: dict[str, Any] = {}
    for key, value in desired.items():
        if isinstance(value, Mapping):
            sub = remote.get(key)
            projected[key] = project(sub if isinstance(sub, Mapping) else {}, value)
        else:
            projected[key] = remote.get(key)
    return projected


def canonical(value: Any, path: LeafPath = ()) -> Any:
    """A comparable form: floats to 9 decimals and whole ones as ints (the API returns `1` for
    1.0) while ints stay exact (2**53 + 1 is not 2**53), set-like lists sorted."""
    if value is None and dotted(path) in EMPTY_WHEN_NULL:
        return []
    if isinstance(value, Mapping):
        return {k: canonical(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        items = [canonical(v, path) for v in value]
        if dotted(path) in UNORDERED_LISTS:  # a set: order and repeats do not count
            unique = {_encode(v): v for v in items}
            return [unique[k] for k in sorted(unique)]
        return items
    if isinstance(value, float):
        # Rounding, not DeepDiff's math_epsilon: that compares ints through floats too.
        value = round(value, 9)
        return int(value) if value.is_integer() and abs(value) <= _EXACT else value
    return value


_EXACT = 2**53  # beyond it a float is no longer a faithful copy of an integer
# json.dumps(..., sort_keys=True) builds a new encoder on every call: one, built once.
_encode: Callable[[Any], str] = json.JSONEncoder(sort_keys=True).encode
_SCALARS = frozenset({str, int, float, bool})
_LEAF_SCALARS = _SCALARS | {type(None)}


def _same(a: Any, b: Any) -> bool:
    # Through JSON, so that True and 1.0 (equal in Python) stay different.
    return _encode(a) == _encode(b)


def diff_leaves(desired: Mapping[str, Any], remote: Mapping[str, Any]) -> list[LeafDiff]:
    """The managed leaves whose remote value differs, in the manifest's order.

    Leaf by leaf, each canonical value against the remote's: the comparison of the whole
    canonical trees (their JSON is equal exactly when every leaf's is, as both have the
    desired tree's keys), without building them. Which leaves are reported as changed stays
    DeepDiff's reading (see `deep_diff_leaves`) wherever it could differ from JSON's.
    """
    changed: list[tuple[LeafPath, Any, Any]] = []
    _changed_leaves(desired, remote, (), changed)
    if not changed:
        return []
    if not _as_deepdiff_reads(changed, desired, remote):
        return deep_diff_leaves(desired, remote)
    return [LeafDiff(path, have, want) for path, want, have in changed]


def _changed_leaves(
    desired: Mapping[str, Any],
    remote: Mapping[str, Any] | None,
    prefix: LeafPath,
    changed: list[tuple[LeafPath, Any, Any]],
) -> None:
    """(path, desired, remote value) of each leaf whose canonical JSON differs (`_same`), in
    iter_leaves' order; the remote value as value_at reads it (None past a missing or
    non-mapping step). One walk of both trees, dicts and scalars told apart by type before
    any isinstance(Mapping); two equal scalars of one type are equal at once (equal before
    canonical means equal after it)."""
    for key, want in desired.items():
        have = None if remote is None else remote.get(key)
        kind = type(want)
        if kind is dict or (kind not in _LEAF_SCALARS and kind is not list and _mapping(want)):
            _changed_leaves(want, have if _mapping(have) else None, (*prefix, key), changed)
        elif (
            (kind is type(have) and kind in _SCALARS and want == have)
            or (want is None and have is None)
            or (kind is list and _identical(want, have))
        ):
            continue
        elif not _same(canonical(want, path := (*prefix, key)), canonical(have, path)):
            changed.append((path, want, have))


def _identical(a: Any, b: Any) -> bool:
    """Equal, with identical types all the way down (so True is not 1): their canonical forms
    are equal too, found without building them (a list on every manifest: hangup_triggers)."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list:
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if kind is dict:
        return a.keys() == b.keys() and all(_identical(v, b[k]) for k, v in a.items())
    return bool(a == b)


def _mapping(value: Any) -> bool:
    kind = type(value)
    return kind is dict or (kind not in _LEAF_SCALARS and isinstance(value, Mapping))


def _as_deepdiff_reads(
    changed: list[tuple[LeafPath, Any, Any]], desired: Mapping[str, Any], remote: Mapping[str, Any]
) -> bool:
    """True when DeepDiff would report exactly the leaves whose JSON differs: every changed
    leaf a scalar on both sides (DeepDiff matches list items by Python equality, where True
    is 1), and the fields they are in plain JSON (`_plain`)."""
    if not all(type(w) in _LEAF_SCALARS and type(h) in _LEAF_SCALARS for _, w, h in changed):
        return False
    keys = dict.fromkeys(path[0] for path, _, _ in changed)
    return _plain({k: desired[k] for k in keys}) and _plain({k: remote.get(k) for k in keys})


def _plain(value: Any) -> bool:
    """A JSON value on which JSON equality and DeepDiff's agree: no NaN (equal as JSON, never
    to DeepDiff), no key DeepDiff skips (`__x`) or JSON rewrites (not a string)."""
    kind = type(value)
    if kind is float:
        return bool(value == value)
    if kind is dict:
        return all(
            type(k) is str and not k.startswith("__") and _plain(v) for k, v in value.items()
        )
    if kind is list:
        return all(_plain(v) for v in value)
    return kind in _LEAF_SCALARS


def deep_diff_leaves(desired: Mapping[str, Any], remote: Mapping[str, Any]) -> list[LeafDiff]:
    """diff_leaves through DeepDiff: the reading for values that are not plain JSON, and the
    reference the fast reading is tested against."""
    wanted = canonical(desired)
    actual = canonical(project(remote, desired))
    if _same(wanted, actual):
        return []
    # DeepDiff only sees the top-level fields that differ: a small tree is a cheap diff.
    keys = [k for k in wanted if not _same(wanted[k], actual[k])]

    from deepdiff import DeepDiff  # ~200 ms to import: only when something differs

    report = DeepDiff(
        {k: actual[k] for k in keys},
        {k: wanted[k] for k in keys},
        view="tree",
        threshold_to_diff_deeper=0,  # per-field changes, never a whole replaced sub-dict
        verbose_level=2,
    )
    changed: set[LeafPath] = set()
    leaves = {path for path, _ in iter_leaves(desired)}
    for levels in report.values():
        for level in levels:
            path = tuple(str(step) for step in level.path(output_format="list"))
            changed.add(_owning_leaf(path, leaves))
    return [
        LeafDiff(path, value_at(remote, path), value)
        for path, value in iter_leaves(desired)
        if path in changed
    ]


def _owning_leaf(path: LeafPath, leaves: set[LeafPath]) -> LeafPath:
    """Map a deepdiff path (which may point inside a list) back to the managed leaf holding it."""
    for end in range(len(path), 0, -1):
        if path[:end] in leaves:
            return path[:end]
    return path


def build_payload(
    desired: Mapping[str, Any], remote: Mapping[str, Any], changes: list[LeafDiff]
) -> dict[str, Any]:
    """The minimal PUT body: only top-level keys with a changed leaf, objects sent whole."""
    touched = {change.path[0] for change in changes}
    payload: dict[str, Any] = {}
    for key in _api_order(touched):
        # Any object, also one only the saved API schema knows: a replacing server keeps siblings.
        if isinstance(desired.get(key), Mapping):
            current = remote.get(key)
            payload[key] = overlay(current if isinstance(current, Mapping) else {}, desired[key])
        else:
            payload[key] = desired[key]
    return payload


def _api_order(keys: set[str]) -> list[str]:
    known = [k for k in FIELD_ORDER if k in keys]
    return known + sorted(keys.difference(known))


def fingerprints(
    tree: Mapping[str, Any],
    paths: list[LeafPath],
    *,
    salt: str,
    secret_key: bytes,
    sensitive: frozenset[str],
) -> dict[str, str]:
    """A short digest of the value at each path, for the saved plan's stale check.

    Plain values are hashed with the plan's salt. Sensitive ones are keyed with `secret_key`
    (derived from the API key), so a plan file cannot be used to guess a secret offline.
    """
    digests: dict[str, str] = {}
    for path in paths:
        name = dotted(path)
        data = _encode(canonical(value_at(tree, path), path)).encode()
        if name in sensitive:
            digest = hmac.new(secret_key, salt.encode() + data, hashlib.sha256).hexdigest()
        else:
            digest = hashlib.sha256(salt.encode() + data).hexdigest()
        digests[name] = digest[:24]
    return digests


class Digests(Mapping[str, str]):
    """`fingerprints(...)` taken when first read: only a saved plan and a re-check read them,
    and a plan of 10,000 with 1,000 updates would take 90,000 digests for nothing."""

    def __init__(self, take: Callable[[], dict[str, str]]) -> None:
        self._take: Callable[[], dict[str, str]] | None = take
        self._digests: dict[str, str] = {}

    def _all(self) -> dict[str, str]:
        if self._take is not None:
            self._digests, self._take = self._take(), None
        return self._digests

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


# The tree helpers are re-exported for the modules that took them from here before tree.py.
__all__ = [
    "Digests",
    "LeafDiff",
    "build_payload",
    "canonical",
    "deep_diff_leaves",
    "diff_leaves",
    "dotted",
    "fingerprints",
    "iter_leaves",
    "overlay",
    "project",
    "value_at",
]
