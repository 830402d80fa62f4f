"""SAVED PLAN: write a plan file, read one back as typed values, and tell when it went stale.

A saved plan records, per assistant, digests of the remote and desired leaves it was computed
from (see diff.fingerprints), the tool version and the API URL, never a secret value. `apply
PLANFILE` recomputes the plan from fresh inputs, and applies an assistant only when both digests
still match: the PUT body is then identical to the one the reviewer saw. The same stale check
guards a plan confirmed with `yes` at the prompt (the person may have answered minutes later).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kathansync import __version__
from kathansync.atomic import write_atomic
from kathansync.errors import PlanFileError
from kathansync.plan.change import FORMAT_VERSION, Action, Change, FingerprintKeys, Plan

KIND = "kathansync-plan"
T = TypeVar("T")


def new_keys(api_key: str, salt: str | None = None) -> FingerprintKeys:
    """Fingerprint keys for a plan: a fresh random salt, and a secret derived from the API key."""
    secret = hmac.new(api_key.encode(), b"kathansync plan fingerprints", hashlib.sha256).digest()
    return FingerprintKeys(salt=salt or secrets.token_hex(16), secret=secret)


def plan_file_data(plan: Plan, keys: FingerprintKeys) -> dict[str, Any]:
    data = plan.to_dict()
    data["kind"] = KIND
    data["kathansync_version"] = __version__
    data["salt"] = keys.salt
    for entry, change in zip(data["changes"], plan.changes, strict=True):
        # Real values are in the payload only because `to_dict` masked the sensitive ones; the
        # apply recomputes the payload anyway, so the file does not need it.
        entry.pop("payload", None)
        entry["remote_fingerprints"] = dict(change.remote_fingerprints)
        entry["desired_fingerprints"] = dict(change.desired_fingerprints)
    return data


def save_plan(plan: Plan, keys: FingerprintKeys, path: Path) -> None:
    """Write the plan atomically: a reader never sees half a file."""
    text = json.dumps(plan_file_data(plan, keys), indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text)


# --- Reading: every key checked, so a tampered file is an error, never a crash ----------------


class _Reader:
    """Typed access to one JSON object of a plan file; a wrong key names the file and the key."""

    def __init__(self, path: Path, data: Any, where: str = "") -> None:
        if not isinstance(data, dict):
            raise PlanFileError(f"{path}: {where or 'the file'} is not a JSON object")
        self.path, self.data, self.where = path, data, where

    def get(self, key: str, kind: type[T] | tuple[type, ...], *, optional: bool = False) -> T:
        name = f"{self.where}.{key}" if self.where else key
        if key not in self.data:
            if optional:
                return None  # type: ignore[return-value]
            raise PlanFileError(f"{self.path}: the plan file has no {name!r}; was it edited?")
        value = self.data[key]
        if not isinstance(value, kind):
            raise PlanFileError(
                f"{self.path}: {name} is {type(value).__name__} {value!r}, which is not"
                f" {_kind_name(kind)}; was the plan file edited?"
            )
        return value  # type: ignore[return-value]

    def digests(self, key: str) -> dict[str, str]:
        found: dict[str, Any] = self.get(key, dict)
        for path, digest in found.items():
            if not isinstance(digest, str):
                raise PlanFileError(f"{self.path}: {self.where}.{key}.{path} is not a string")
        return dict(found)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", dict: "an object", list: "a list", bool: "true/false"}
    return " or ".join(names.get(k, "null" if k is type(None) else k.__name__) for k in kinds)


_OPTIONAL_STR = (str, type(None))


@dataclass(frozen=True)
class SavedChange:
    """One assistant of a saved plan: what was planned, and the digests it was planned from."""

    handle: str
    file: str | None
    id: str | None
    action: Action
    adopted: bool = False
    name: str | None = None
    remote_fingerprints: Mapping[str, str] = field(default_factory=dict)
    desired_fingerprints: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, path: Path, data: Any, index: int) -> SavedChange:
        entry = _Reader(path, data, f"changes[{index}]")
        action = entry.get("action", str)
        if action not in {a.value for a in Action}:
            known = ", ".join(a.value for a in Action)
            raise PlanFileError(f"{path}: changes[{index}].action {action!r} is not one of {known}")
        entry.get("fields", list)
        return cls(
            handle=entry.get("handle", str),
            file=entry.get("file", _OPTIONAL_STR),
            id=entry.get("id", _OPTIONAL_STR),
            action=Action(action),
            adopted=bool(entry.get("adopted", bool, optional=True)),
            name=entry.get("name", _OPTIONAL_STR, optional=True),
            remote_fingerprints=entry.digests("remote_fingerprints"),
            desired_fingerprints=entry.digests("desired_fingerprints"),
        )

    def as_change(self) -> Change:
        """The planned Change as the stale check compares it (no payload: it is recomputed)."""
        return Change(
            self.handle,
            self.file,
            self.id,
            self.action,
            name=self.name,
            adopted=self.adopted,
            remote_fingerprints=self.remote_fingerprints,
            desired_fingerprints=self.desired_fingerprints,
        )


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read: where it may be applied, its salt, and its changes."""

    path: Path
    api_url: str
    environment: str | None
    salt: str
    kathansync_version: str
    changes: tuple[SavedChange, ...]

    @classmethod
    def from_dict(cls, path: Path, data: Any) -> SavedPlan:
        plan = _Reader(path, data)
        if plan.get("kind", str, optional=True) != KIND:
            raise PlanFileError(f"{path}: not a kathansync plan file (made by `plan --out FILE`)")
        version = plan.data.get("format_version")  # any type: a later format is told as such
        if version != FORMAT_VERSION:
            raise PlanFileError(
                f"{path}: plan format {version!r} is not supported by kathansync {__version__}"
                f" (it reads format {FORMAT_VERSION}); run plan again with this version"
            )
        entries: list[Any] = plan.get("changes", list)
        return cls(
            path=path,
            api_url=plan.get("api_url", str),
            environment=plan.get("environment", _OPTIONAL_STR),
            salt=plan.get("salt", str),
            kathansync_version=plan.get("kathansync_version", str),
            changes=tuple(SavedChange.from_dict(path, e, i) for i, e in enumerate(entries)),
        )

    def as_plan(self) -> Plan:
        return Plan(tuple(c.as_change() for c in self.changes), self.api_url, self.environment)

    def check_target(self, *, api_url: str, environment: str | None) -> None:
        """Refuse the plan whole when it was made by another version, API or environment."""
        if not _compatible(self.kathansync_version):
            raise PlanFileError(
                f"{self.path}: the plan was made by kathansync {self.kathansync_version}, "
                f"this is {__version__}; run plan again with this version"
            )
        if _normal_url(self.api_url) != _normal_url(api_url):
            raise PlanFileError(
                f"{self.path}: the plan was made against {self.api_url}, not {api_url}; "
                "refusing to apply it here"
            )
        if self.environment != environment:
            raise PlanFileError(
                f"{self.path}: the plan was made for environment {self.environment!r}, "
                f"not {environment!r}"
            )


def load_plan(path: Path, *, api_url: str, environment: str | None) -> SavedPlan:
    """Read a plan file and refuse it whole when it cannot be applied here."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"{path}: not a readable kathansync plan ({error})") from None
    saved = SavedPlan.from_dict(path, data)
    saved.check_target(api_url=api_url, environment=environment)
    return saved


def _compatible(version: str) -> bool:
    """Same major.minor: fingerprints and plan semantics only change with a minor release."""
    return version.split(".")[:2] == __version__.split(".")[:2]


def _normal_url(url: str) -> str:
    return url.rstrip("/")


# --- Stale: is what the plan was based on still true? -----------------------------------------


@dataclass(frozen=True)
class Stale:
    """Why one planned assistant must not be sent: it moved since it was planned."""

    change: Change  # as planned
    message: str
    paths: tuple[str, ...] = ()


def stale_reason(planned: Change, fresh: Change | None) -> Stale | None:
    """Compare one planned Change with a fresh plan of the same assistant; None: still valid.

    Both carry the fingerprints of the remote and desired leaves they were computed from.
    """

    def stale(why: str, paths: Sequence[str] = ()) -> Stale:
        message = f"{planned.handle}: stale plan: {why}"
        if paths:
            message += f" ({', '.join(paths)})"
        message += "; nothing was sent for it. Run plan again."
        return Stale(planned, message, tuple(paths))

    if fresh is None and planned.action is Action.DELETE:
        return stale("it is no longer planned for deletion (a manifest manages it, or it is gone)")
    if fresh is None:
        return stale("the manifest was removed since the plan")
    if fresh.id != planned.id:
        return stale("the manifest's id changed since the plan")
    moved = _moved(planned.desired_fingerprints, fresh.desired_fingerprints)
    if moved:
        return stale("the manifest changed since the plan", moved)
    moved = _moved(planned.remote_fingerprints, fresh.remote_fingerprints)
    if moved:
        return stale("the remote changed since the plan", moved)
    if fresh.action is not planned.action:
        return stale(f"it now plans as {fresh.action.value}, not {planned.action.value}")
    return None


def as_reviewed(
    reviewed: Plan, fresh: Plan, blocked: Collection[str] = ()
) -> tuple[Plan, dict[str, Stale]]:
    """What of `fresh` may be sent for `reviewed`, and each reviewed assistant that moved since.

    Only what was reviewed is sent: a change of `fresh` that was a no-op when reviewed waits for
    the next plan. A stale or `blocked` assistant keeps its reviewed change (reported, never
    sent); the reviewed no-ops stay in the plan as they were.
    """
    by_handle = {c.handle: c for c in reviewed.changes}
    planned = {h for h, c in by_handle.items() if c.has_changes}
    fresh_by_handle = {c.handle: c for c in fresh.changes}
    stale: dict[str, Stale] = {}
    for handle in sorted(planned.difference(blocked)):
        reason = stale_reason(by_handle[handle], fresh_by_handle.get(handle))
        if reason:
            stale[handle] = reason
    held = [h for h in (*blocked, *stale) if h in planned and h not in fresh_by_handle]
    changes = [c for c in fresh.changes if c.handle in planned]
    changes += [by_handle[h] for h in dict.fromkeys(held)]
    changes += [c for h, c in by_handle.items() if h not in planned]  # the no-ops
    changes.sort(key=lambda c: (c.action is Action.DELETE, c.handle))
    return Plan(tuple(changes), fresh.api_url, fresh.environment), stale


def _moved(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
