"""DIFF: the leaf-by-leaf reading of diff_leaves agrees with the DeepDiff one it replaced."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kathansync.plan import diff
from kathansync.plan.diff import deep_diff_leaves, diff_leaves

# Numbers where the comparison has rules: ints exact past 2**53, floats rounded to 9 decimals
# and whole ones read as ints, True is not 1, NaN equal only as JSON.
NUMBERS = [
    0,
    1,
    -1,
    1.0,
    0.0,
    -0.0,
    1.5,
    1.0000000001,
    2**53,
    2**53 + 1,
    float(2**53),
    float(2**60),
    2**60,
    1e300,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
    3500,
    3500.0,
]
KEYS = ["voice", "speed", "name", "knowledge_base_ids", "hangup_triggers", "enabled", "__x", "a"]

scalars = st.one_of(
    st.sampled_from(NUMBERS),
    st.none(),
    st.sampled_from(["", "on", "kb-a", "kb-b", "Bye", "é"]),
    st.integers(),
    st.floats(allow_nan=False),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=8,
)
trees = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


def mutate(value: Any, rng: random.Random) -> Any:
    """A copy of `value` with, now and then, one equal-looking or different value in it."""
    if isinstance(value, dict):
        out = {k: mutate(v, rng) for k, v in value.items()}
        if rng.random() < 0.2:
            out[rng.choice(KEYS)] = rng.choice(NUMBERS)
        return out
    if isinstance(value, list):
        items = [mutate(v, rng) for v in value]
        if rng.random() < 0.2:
            rng.shuffle(items)
        if items and rng.random() < 0.1:
            items.append(items[0])
        return items
    return swap(value, rng) if rng.random() < 0.15 else value


def swap(value: Any, rng: random.Random) -> Any:
    """A value that looks like `value`: the same number in another type, or noise."""
    if value is True:
        return 1
    if value is None:
        return []
    if type(value) is int and abs(value) < 2**60:
        return float(value)
    if type(value) is float and math.isfinite(value):
        if value.is_integer() and abs(value) < 2**60:
            return True if value == 1 else int(value)
        return value + rng.choice([1e-10, 1e-3, 0.0])
    return rng.choice(NUMBERS)


def shown(diffs: Any) -> list[tuple[Any, str, str]]:
    # repr: True and 1 print apart, and NaN equals itself.
    return [(d.path, repr(d.before), repr(d.after)) for d in diffs]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desired=trees, remote=trees, seed=st.integers(0, 2**32))
def test_fast_reading_agrees_with_deepdiff(
    desired: dict[str, Any], remote: dict[str, Any], seed: int
) -> None:
    rng = random.Random(seed)
    near = {**remote, **mutate(desired, rng)}  # mostly equal: the case the shortcut serves
    for other in (remote, near, desired):
        assert shown(diff_leaves(desired, other)) == shown(deep_diff_leaves(desired, other))


def test_a_generated_fleet_agrees_with_deepdiff() -> None:
    rng = random.Random(16)
    for n in range(1000):
        desired = {
            "name": f"Bench {n}",
            "voice": {"speed": rng.choice([1.0, 1, 1.1, 0.9]), "language": "en"},
            "knowledge_base_ids": rng.choice([None, [], ["kb-b", "kb-a"], ["kb-a"]]),
            "call_actions": {
                "hangup_triggers": rng.choice([["bye"], ["bye", "later"]]),
                "webhook_timeout_ms": rng.choice([3500, 3500.0, 2**53 + 1]),
                "enabled": rng.choice([True, 1]),
            },
        }
        remote = mutate(desired, rng) | {"id": str(n), "extra": {"x": n}}
        assert shown(diff_leaves(desired, remote)) == shown(deep_diff_leaves(desired, remote))


def test_nan_next_to_a_change_is_read_as_deepdiff_reads_it() -> None:
    # Equal as JSON, unequal to DeepDiff: the DeepDiff reading keeps deciding.
    desired = {"voice": {"speed": math.nan, "language": "fr"}}
    remote = {"voice": {"speed": math.nan, "language": "en"}}
    assert [d.dotted for d in diff_leaves(desired, remote)] == ["voice.speed", "voice.language"]
    assert diff_leaves({"voice": {"speed": math.nan}}, {"voice": {"speed": math.nan}}) == []


def test_equal_scalars_of_one_type_take_the_shortcut() -> None:
    same = {"a": {"b": "x", "c": 2**60, "d": 0.1}}
    assert diff_leaves(same, {"a": {"b": "x", "c": 2**60, "d": 0.1}}) == []
    assert [d.dotted for d in diff_leaves({"a": True}, {"a": 1})] == ["a"]
    assert diff_leaves({"a": 1}, {"a": 1.0000000001}) == []


def test_identical_lists_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("an identical list was compared through canonical JSON")

    lists = {"t": ["bye", {"k": [1, 2.5, None]}]}
    monkeypatch.setattr(diff, "canonical", refuse)
    assert diff.diff_leaves(lists, {"t": ["bye", {"k": [1, 2.5, None]}]}) == []
    monkeypatch.undo()
    # Not identical: read as before (canonical JSON, then DeepDiff's reading for lists).
    assert [d.dotted for d in diff.diff_leaves({"t": ["1"]}, {"t": [1]})] == ["t"]
    assert diff.diff_leaves({"t": [1.0]}, {"t": [1]}) == []


def test_a_plain_scalar_change_needs_no_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("the DeepDiff reading was used for a plain change")

    monkeypatch.setattr(diff, "deep_diff_leaves", refuse)
    desired = {"voice": {"speed": 1.1, "language": "en"}, "knowledge_base_ids": ["b", "a"]}
    remote = {"voice": {"speed": 1, "language": "en"}, "knowledge_base_ids": ["a", "b"]}
    assert [(d.dotted, d.before, d.after) for d in diff.diff_leaves(desired, remote)] == [
        ("voice.speed", 1, 1.1)
    ]
