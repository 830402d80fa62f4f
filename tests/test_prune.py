"""Prune: deletes for unreferenced remote assistants, refused beyond the safety threshold."""

from __future__ import annotations

from typing import Any

import pytest

from kathansync.errors import ConfigError
from kathansync.models import Manifest
from kathansync.plan import Action, FingerprintKeys, make_plan
from kathansync.plan.prune import plan_deletes

KEYS = FingerprintKeys(salt="test", secret=b"test")


def uuid(n: int) -> str:
    return f"3f2b8c1e-0000-4000-8000-{n:012d}"


def remotes(count: int) -> list[dict[str, Any]]:
    return [{"id": uuid(n), "name": f"Assistant {n:02d}"} for n in range(count)]


def managed(*numbers: int) -> list[Manifest]:
    return [Manifest(f"a{n}", f"assistants/a{n}.yaml", uuid(n), {}) for n in numbers]


def test_deletes_exactly_the_unreferenced_with_name_and_id() -> None:
    deletes = plan_deletes(remotes(4), managed(0, 2), force=False)
    assert [(c.action, c.id, c.name, c.file) for c in deletes] == [
        (Action.DELETE, uuid(1), "Assistant 01", None),
        (Action.DELETE, uuid(3), "Assistant 03", None),
    ]
    plan = make_plan([], {}, api_url="http://test", keys=KEYS, deletes=deletes)
    assert plan.summary()["delete"] == 2
    assert plan.to_dict()["changes"][0]["name"] == "Assistant 01"


def test_nothing_to_delete_when_everything_is_managed() -> None:
    assert plan_deletes(remotes(3), managed(0, 1, 2), force=False) == []


def test_ids_match_regardless_of_case() -> None:
    manifests = [Manifest("a", "a.yaml", uuid(0).upper(), {})]
    assert plan_deletes(remotes(1), manifests, force=False) == []


@pytest.mark.parametrize(
    ("total", "kept", "allowed"),
    [
        (2, 0, True),  # two deletes are always allowed (the minimum)
        (3, 0, False),  # 3 of 3
        (8, 6, True),  # 2 of 8 = 25 %
        (8, 5, False),  # 3 of 8
        (100, 75, True),  # 25 of 100
        (100, 74, False),  # 26 of 100
    ],
)
def test_threshold(total: int, kept: int, allowed: bool) -> None:
    manifests = managed(*range(kept))
    if allowed:
        assert len(plan_deletes(remotes(total), manifests, force=False)) == total - kept
    else:
        with pytest.raises(ConfigError, match=r"--prune would delete .* pass --force"):
            plan_deletes(remotes(total), manifests, force=False)
        assert len(plan_deletes(remotes(total), manifests, force=True)) == total - kept


def test_an_empty_manifest_directory_cannot_wipe_the_account() -> None:
    with pytest.raises(ConfigError, match="would delete 10 of 10 remote assistants"):
        plan_deletes(remotes(10), [], force=False)


def test_threshold_is_configurable() -> None:
    assert len(plan_deletes(remotes(10), managed(0, 1, 2, 3, 4), threshold=0.5, force=False)) == 5
    with pytest.raises(ConfigError, match="more than the 2 allowed"):
        plan_deletes(remotes(10), managed(*range(7)), threshold=0.0, force=False)


def test_threshold_boundary_is_not_lost_to_float_rounding() -> None:
    # 0.29 * 100 is 28.999999999999996 in floating point: exactly 29 % must still be allowed.
    deletes = plan_deletes(remotes(100), managed(*range(29, 100)), threshold=0.29, force=False)
    assert len(deletes) == 29
