"""kathansync.yaml's shape, checked by hand: typed values, or every problem found.

Every command reads kathansync.yaml, and pydantic costs 60 to 100 ms of imports and model
building before the first manifest is read (`validate` of three files has a budget of 120 ms
in all). The rules are pydantic's strict mode, which the file was validated with before: no
string for a number, no boolean for either, an integer is a number, `null` only where a field
may be absent. The messages are those `load.problems.describe_errors` gives for pydantic's
errors; tests/test_settings_spec.py checks both readings agree on generated files.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kathansync.load.problems import describe_value, did_you_mean, shown_path
from kathansync.tree import Loc

DEFAULT_MANIFESTS = "assistants"
DEFAULT_CONVERSATIONS = "conversations"
STATE_DIR = ".kathansync"  # local state: lock, pending creates, backups (never committed)
DEFAULT_BACKUP_DIR = f"{STATE_DIR}/backups"  # relative to the repository root (issue 15)
DEFAULT_BACKUP_KEEP = 50

# (loc, message, points-at-key): what describe_errors gives, for load_config to place.
Found = list[tuple[Loc, str, bool]]
Check = Callable[[Any, Loc, Found], Any]


@dataclass(frozen=True)
class EnvironmentSpec:
    api_url: str | None = None
    manifests: str | None = None
    conversations: str | None = None
    rate_limit: int | None = None
    vars: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BackupsSpec:
    dir: str = DEFAULT_BACKUP_DIR
    keep: int = DEFAULT_BACKUP_KEEP


@dataclass(frozen=True)
class ConfigSpec:
    """kathansync.yaml as written, with its defaults."""

    api_url: str | None = None
    manifests: str = DEFAULT_MANIFESTS
    conversations: str = DEFAULT_CONVERSATIONS
    rate_limit: int | None = None
    prune_threshold: float | None = None
    backups: BackupsSpec = field(default_factory=BackupsSpec)
    environments: dict[str, EnvironmentSpec] = field(default_factory=dict)
    promote: list[str] | None = None


class SpecError(Exception):
    """The file's values are not what kathansync.yaml takes: every problem, unplaced."""

    def __init__(self, found: Found) -> None:
        super().__init__(f"{len(found)} problem(s)")
        self.found = found


def read_spec(data: Mapping[Any, Any]) -> ConfigSpec:
    """The spec of a parsed kathansync.yaml (a mapping); SpecError with every problem."""
    found: Found = []
    values = _fields(_CONFIG, data, (), found)
    if found:
        raise SpecError(found)
    return ConfigSpec(**values)


# --- one check per kind of value; each appends its problems and returns the value ------------


def _wrong(loc: Loc, expected: str, value: Any, found: Found) -> None:
    message = f"{shown_path(loc)}: expected {expected}, got {describe_value(value)}"
    found.append((loc, message, False))


def _string(*, optional: bool) -> Check:
    def check(value: Any, loc: Loc, found: Found) -> Any:
        if not isinstance(value, str) and not (optional and value is None):
            _wrong(loc, "a string", value, found)
        return value

    return check


_BOUNDS = (  # pydantic's order; the first bound broken is the problem
    ("le", "less than or equal to", operator.le),
    ("ge", "greater than or equal to", operator.ge),
    ("gt", "greater than", operator.gt),
)


def _bounded(value: Any, loc: Loc, found: Found, bounds: Mapping[str, int]) -> None:
    for kind, words, holds in _BOUNDS:
        if kind in bounds and not holds(value, bounds[kind]):
            _wrong(loc, f"a number {words} {bounds[kind]}", value, found)
            return


def _integer(*, optional: bool, **bounds: int) -> Check:
    def check(value: Any, loc: Loc, found: Found) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            _wrong(loc, "a whole number", value, found)
        else:
            _bounded(value, loc, found, bounds)
        return value

    return check


def _number(*, optional: bool, **bounds: int) -> Check:
    def check(value: Any, loc: Loc, found: Found) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or not _fits(value):
            _wrong(loc, "a number", value, found)
            return value
        _bounded(value, loc, found, bounds)
        return float(value)

    return check


def _fits(value: int | float) -> bool:
    """False for an integer too large for a float (OverflowError): pydantic said "a number"."""
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _strings(value: Any, loc: Loc, found: Found) -> Any:
    """A list of strings, or null (`promote:`)."""
    if value is None:
        return None
    if not isinstance(value, list):
        _wrong(loc, "a list", value, found)
        return value
    return [_string(optional=False)(item, (*loc, index), found) for index, item in enumerate(value)]


def _key(key: Any) -> str | int:
    """A mapping key as pydantic places it: an integer (a boolean as one), else its text."""
    return int(key) if isinstance(key, int) else key if isinstance(key, str) else str(key)


def _mapping_of(values: Check) -> Check:
    """A mapping with string keys (`vars:`, `environments:`), each value checked by `values`."""

    def check(value: Any, loc: Loc, found: Found) -> Any:
        if not isinstance(value, dict):
            _wrong(loc, "a mapping", value, found)
            return value
        checked = {}
        for key, item in value.items():
            if not isinstance(key, str):
                _wrong((*loc, _key(key), "[key]"), "a string", key, found)
            checked[key] = values(item, (*loc, _key(key)), found)
        return checked

    return check


def _fields(fields: Mapping[str, Check], data: Mapping[Any, Any], loc: Loc, found: Found) -> Any:
    """The known keys of a settings mapping, checked; an unknown key is a problem at the key."""
    values = {}
    for name, check in fields.items():
        if name in data:
            values[name] = check(data[name], (*loc, name), found)
    for key in data:
        if not isinstance(key, str):
            at = (*loc, _key(key))
            found.append((at, f"{shown_path(at)}: Keys should be strings", False))
        elif key not in fields:
            where = f" in {shown_path(loc)}" if loc else ""
            message = f"unknown key {key!r}{where}{did_you_mean(key, fields)}"
            found.append(((*loc, key), message, True))
    return values


def _section(fields: Mapping[str, Check], spec: Callable[..., Any]) -> Check:
    """A mapping of known keys (`backups:`, one environment): `spec` of its values."""

    def check(value: Any, loc: Loc, found: Found) -> Any:
        if not isinstance(value, dict):
            _wrong(loc, "a mapping", value, found)
            return value
        before = len(found)
        values = _fields(fields, value, loc, found)
        return spec(**values) if len(found) == before else value

    return check


_ENVIRONMENT: dict[str, Check] = {
    "api_url": _string(optional=True),
    "manifests": _string(optional=True),
    "conversations": _string(optional=True),
    "rate_limit": _integer(optional=True, gt=0),
    "vars": _mapping_of(_string(optional=False)),
}
_BACKUPS: dict[str, Check] = {
    "dir": _string(optional=False),
    "keep": _integer(optional=False, ge=1),
}
_CONFIG: dict[str, Check] = {
    "api_url": _string(optional=True),
    "manifests": _string(optional=False),
    "conversations": _string(optional=False),
    "rate_limit": _integer(optional=True, gt=0),
    "prune_threshold": _number(optional=True, ge=0, le=1),
    "backups": _section(_BACKUPS, BackupsSpec),
    "environments": _mapping_of(_section(_ENVIRONMENT, EnvironmentSpec)),
    "promote": _strings,
}
