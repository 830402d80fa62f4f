"""PLAN (data): what would change, per assistant, as frozen values; made from manifests + remotes.

`Plan.to_dict()` is the one serialised form (format_version "1"): `--format json`, the saved
plan file and every human renderer are built from it, so they always show the same thing.
Sensitive values never reach it: they are replaced by "(sensitive)".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

from kathansync.models import Manifest
from kathansync.plan.diff import (
    Digests,
    LeafDiff,
    build_payload,
    diff_leaves,
    dotted,
    fingerprints,
    iter_leaves,
)

FORMAT_VERSION = "1"
SENSITIVE = "(sensitive)"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NO_OP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "no-op": " "}[self.value]


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted: "call_actions.transfer_mode"
    before: Any
    after: Any
    sensitive: bool = False
    origin: str | None = None  # the _defaults file the desired value came from

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "before": SENSITIVE if self.sensitive else self.before,
            "after": SENSITIVE if self.sensitive else self.after,
        }
        if self.origin:
            data["origin"] = self.origin
        return data


@dataclass(frozen=True)
class Change:
    """The planned action for one assistant. `payload` holds real values: never serialise it raw."""

    handle: str
    file: str | None
    id: str | None
    action: Action
    fields: tuple[FieldChange, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)
    sensitive: frozenset[str] = frozenset()
    name: str | None = None  # for deletes, which have no manifest
    adopted: bool = False  # id found by name on the remote: apply writes it into the manifest
    # What the plan was based on, for `apply PLANFILE` (dotted leaf -> digest).
    remote_fingerprints: Mapping[str, str] = field(default_factory=dict)
    desired_fingerprints: Mapping[str, str] = field(default_factory=dict)
    # The remote object as fetched for this plan, whole: what a backup keeps (issue 15).
    # Real values: never serialised by to_dict.
    remote: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def has_changes(self) -> bool:
        return self.action is not Action.NO_OP or self.adopted

    def masked_payload(self) -> dict[str, Any]:
        return _mask(self.payload, self.sensitive, ())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "handle": self.handle,
            "file": self.file,
            "id": self.id,
            "action": self.action.value,
            "fields": [f.to_dict() for f in self.fields],
            "payload": self.masked_payload(),
        }
        if self.name is not None:
            data["name"] = self.name
        if self.adopted:
            data["adopted"] = True
        return data


def _mask(
    tree: Mapping[str, Any], sensitive: frozenset[str], prefix: tuple[str, ...]
) -> dict[str, Any]:
    masked: dict[str, Any] = {}
    for key, value in tree.items():
        path = (*prefix, key)
        if dotted(path) in sensitive:
            masked[key] = SENSITIVE
        elif isinstance(value, Mapping):
            masked[key] = _mask(value, sensitive, path)
        else:
            masked[key] = value
    return masked


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    api_url: str
    environment: str | None = None

    @property
    def has_changes(self) -> bool:
        return any(c.has_changes for c in self.changes)

    def summary(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0, "no_op": 0}
        for change in self.changes:
            counts[change.action.value.replace("-", "_")] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "environment": self.environment,
            "api_url": self.api_url,
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class FingerprintKeys:
    """Inputs of the stale-check digests: a per-plan salt and a key derived from the API key."""

    salt: str
    secret: bytes


def plan_assistant(
    manifest: Manifest,
    remote: Mapping[str, Any] | None,
    keys: FingerprintKeys,
    *,
    adopted: bool = False,
    fingerprint: bool = False,
) -> Change:
    """Compare one manifest with its remote object (None: not created yet).

    `adopted`: the id was found by name, and apply will write it into the manifest. A plain
    no-op gets fingerprints only when asked (`fingerprint`): a saved plan re-checks changes and
    adoptions only, and skipping them is most of the cost of planning a large, clean fleet.
    """
    if remote is None:
        return _plan_create(manifest, keys)
    diffs = diff_leaves(manifest.desired, remote)
    if not diffs and not adopted and not fingerprint:
        return Change(manifest.handle, manifest.file, manifest.id, Action.NO_OP)
    leaves = [path for path, _ in iter_leaves(manifest.desired)]
    digest = partial(
        fingerprints,
        paths=leaves,
        salt=keys.salt,
        secret_key=keys.secret,
        sensitive=manifest.sensitive,
    )
    return Change(
        handle=manifest.handle,
        file=manifest.file,
        id=manifest.id,
        action=Action.UPDATE if diffs else Action.NO_OP,
        fields=tuple(_field_change(d, manifest) for d in diffs),
        payload=build_payload(manifest.desired, remote, diffs),
        sensitive=manifest.sensitive,
        adopted=adopted,
        remote_fingerprints=Digests(partial(digest, remote)),
        desired_fingerprints=Digests(partial(digest, manifest.desired)),
        remote=remote,
    )


def _plan_create(manifest: Manifest, keys: FingerprintKeys) -> Change:
    leaves = list(iter_leaves(manifest.desired))
    diffs = [LeafDiff(path, None, value) for path, value in leaves]
    return Change(
        handle=manifest.handle,
        file=manifest.file,
        id=None,
        action=Action.CREATE,
        fields=tuple(_field_change(d, manifest) for d in diffs),
        payload=dict(manifest.desired),
        sensitive=manifest.sensitive,
        desired_fingerprints=fingerprints(
            manifest.desired,
            [path for path, _ in leaves],
            salt=keys.salt,
            secret_key=keys.secret,
            sensitive=manifest.sensitive,
        ),
    )


def plan_delete(remote: Mapping[str, Any], keys: FingerprintKeys | None = None) -> Change:
    """Delete a remote assistant no manifest references; its handle is its id.

    Every field of the remote is fingerprinted: an assistant someone edited after the plan
    was reviewed is not the one the reviewer agreed to delete.
    """
    assistant_id = str(remote["id"])
    digests: dict[str, str] = {}
    if keys is not None:
        leaves = [path for path, _ in iter_leaves(remote) if path != ("id",)]
        digests = fingerprints(
            remote, leaves, salt=keys.salt, secret_key=keys.secret, sensitive=frozenset()
        )
    return Change(
        handle=assistant_id,
        file=None,
        id=assistant_id,
        action=Action.DELETE,
        name=str(remote.get("name") or ""),
        remote_fingerprints=digests,
        remote=remote,
    )


def _field_change(diff: LeafDiff, manifest: Manifest) -> FieldChange:
    path = diff.dotted
    return FieldChange(
        path=path,
        before=diff.before,
        after=diff.after,
        sensitive=path in manifest.sensitive,
        origin=manifest.origins.get(path),
    )


class PlansAhead:
    """Changes planned while the remote objects still arrive (a list being read): make_plan
    takes one only for the very remote object it plans against, else plans as ever."""

    def __init__(
        self,
        manifests: Sequence[Manifest],
        keys: FingerprintKeys,
        *,
        adopted: Collection[str] = (),
        fingerprint: Collection[str] = (),
    ) -> None:
        self._by_id = {m.id.lower(): m for m in manifests if m.id}
        self._keys, self._adopted, self._fingerprint = keys, adopted, fingerprint
        self._done: dict[str, tuple[Mapping[str, Any], Change]] = {}

    def add(self, remotes: Sequence[Mapping[str, Any]]) -> None:
        for remote in remotes:
            m = self._by_id.get(str(remote.get("id", "")).lower())
            if m is not None:
                change = plan_assistant(
                    m,
                    remote,
                    self._keys,
                    adopted=m.handle in self._adopted,
                    fingerprint=m.handle in self._fingerprint,
                )
                self._done[m.handle] = (remote, change)

    def get(self, handle: str, remote: Mapping[str, Any] | None) -> Change | None:
        known = self._done.get(handle)
        return known[1] if known is not None and known[0] is remote else None


def make_plan(
    manifests: Sequence[Manifest],
    remotes: Mapping[str, Mapping[str, Any]],
    *,
    api_url: str,
    keys: FingerprintKeys,
    environment: str | None = None,
    deletes: Sequence[Change] = (),
    adopted: frozenset[str] = frozenset(),
    fingerprint: Collection[str] = (),
    ahead: PlansAhead | None = None,
) -> Plan:
    """One Change per manifest (sorted by handle), plus any planned deletes.

    `adopted` names the handles whose id was found by name: applying writes it back.
    `fingerprint` names handles fingerprinted even when unchanged (a saved plan's re-check).
    `ahead`: changes already planned (with the same keys, adopted and fingerprint), used for
    the remote objects they were planned against.
    """
    changes: list[Change] = []
    for m in manifests:
        # Every manifest with an id must have its remote here: a missing one is a fetch error
        # the caller reports, never silently a create.
        remote = remotes[m.id] if m.id else None
        known = ahead.get(m.handle, remote) if ahead else None
        if known is None:
            adopt, digest = m.handle in adopted, m.handle in fingerprint
            known = plan_assistant(m, remote, keys, adopted=adopt, fingerprint=digest)
        changes.append(known)
    changes.extend(deletes)
    changes.sort(key=lambda c: (c.action is Action.DELETE, c.handle))
    return Plan(tuple(changes), api_url=api_url, environment=environment)
