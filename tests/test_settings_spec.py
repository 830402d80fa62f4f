"""kathansync.yaml's hand-written checks (settings_spec) against the pydantic models they
replaced: the same values, the same problems with the same messages, on tables and on
generated files."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kathansync.load.problems import describe_errors
from kathansync.load.yamlio import FileRef
from kathansync.settings_spec import (
    DEFAULT_BACKUP_DIR,
    DEFAULT_BACKUP_KEEP,
    DEFAULT_CONVERSATIONS,
    DEFAULT_MANIFESTS,
    SpecError,
    read_spec,
)

# --- the reference: the pydantic models kathansync.yaml was validated with until then ---------


class _EnvironmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    api_url: str | None = None
    manifests: str | None = None
    conversations: str | None = None
    rate_limit: int | None = Field(default=None, gt=0)
    vars: dict[str, str] = Field(default_factory=dict)


class _BackupsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dir: str = DEFAULT_BACKUP_DIR
    keep: int = Field(default=DEFAULT_BACKUP_KEEP, ge=1)


class _ConfigSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    api_url: str | None = None
    manifests: str = DEFAULT_MANIFESTS
    conversations: str = DEFAULT_CONVERSATIONS
    rate_limit: int | None = Field(default=None, gt=0)
    prune_threshold: float | None = Field(default=None, ge=0, le=1)
    backups: _BackupsSpec = Field(default_factory=_BackupsSpec)
    environments: dict[str, _EnvironmentSpec] = Field(default_factory=dict)
    promote: list[str] | None = None


def both(data: dict[Any, Any]) -> tuple[object, object]:
    """(reference, ours): the values as a plain dict, or the sorted problems."""
    try:
        reference: object = _ConfigSpec.model_validate(data).model_dump()
    except ValidationError as exc:
        reference = sorted(describe_errors(exc, _ConfigSpec), key=repr)
    try:
        ours: object = dataclasses.asdict(read_spec(data))
    except SpecError as exc:
        ours = sorted(exc.found, key=repr)
    return reference, ours


FILE = FileRef("secret.txt", 1, 10)
TABLE: list[dict[Any, Any]] = [
    {},
    {"api_url": None, "manifests": "m", "conversations": "c", "rate_limit": 5},
    {"prune_threshold": 0},
    {"prune_threshold": 1.0},
    {"prune_threshold": 2},
    {"prune_threshold": -0.5},
    {"prune_threshold": float("nan")},
    {"prune_threshold": float("inf")},
    {"prune_threshold": True},
    {"prune_threshold": "0.5"},
    {"rate_limit": 0},
    {"rate_limit": 5.0},
    {"rate_limit": True},
    {"rate_limit": "5"},
    {"rate_limit": 10**30},
    {"manifests": None},
    {"manifests": 3},
    {"manifest": "x", "apiurl": "y"},
    {1: 2, None: 3, 1.5: 4},
    {True: 5, "backups": {False: 1}},
    {"backups": None},
    {"backups": []},
    {"backups": {"dir": None, "keep": 0, "x": 1, 2: 3}},
    {"backups": {"keep": 3, "dir": "b"}},
    {"environments": None},
    {"environments": []},
    {"environments": {1: None, None: {}, "a": None}},
    {"environments": {"s": {"apiurl": "x", 1: 2, "rate_limit": 0, "vars": {"A": 1, 2: "b"}}}},
    {"environments": {"s": {"vars": None}, "p": {"manifests": "p", "conversations": None}}},
    {"environments": {"s": {"vars": {"A": "1"}, "api_url": "u", "rate_limit": 2}}},
    {"promote": None},
    {"promote": []},
    {"promote": "a"},
    {"promote": ["a", 1, None]},
    # `!file` is for manifests: in kathansync.yaml it is a value of the wrong type.
    {"api_url": FILE, "backups": FILE, "environments": {"s": FILE}, "rate_limit": FILE},
    {"promote": [FILE], "prune_threshold": FILE, "backups": {"keep": FILE}},
]


@pytest.mark.parametrize("data", TABLE, ids=repr)
def test_the_same_values_or_problems_as_the_pydantic_models(data: dict[Any, Any]) -> None:
    reference, ours = both(data)
    assert ours == reference


def test_a_number_is_a_float_as_pydantic_made_it() -> None:
    spec = read_spec({"prune_threshold": 0})
    assert spec.prune_threshold == 0.0 and isinstance(spec.prune_threshold, float)


# --- generated files --------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, width=16),
    st.sampled_from(["", "x", "assistants", "0.5", "eu"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            *("api_url", "manifests", "conversations", "rate_limit", "vars", "dir", "keep"),
            *("prune_threshold", "backups", "environments", "promote", "apiurl", "staging"),
        ]
    ),
    st.integers(0, 2),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
environment = st.dictionaries(keys, values, max_size=5)
configs = st.fixed_dictionaries(
    {},
    optional={
        "api_url": values,
        "manifests": values,
        "rate_limit": values,
        "prune_threshold": values,
        "backups": st.dictionaries(keys, values, max_size=3) | values,
        "environments": st.dictionaries(keys, environment, max_size=3) | values,
        "promote": st.lists(values, max_size=3) | values,
    },
)


@settings(max_examples=400, deadline=None, database=None)
@given(data=configs, extra=st.dictionaries(keys, values, max_size=2))
def test_generated_files_get_the_same_answer(data: dict[Any, Any], extra: dict[Any, Any]) -> None:
    reference, ours = both({**extra, **data})
    assert ours == reference
