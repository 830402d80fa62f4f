"""Adoption by name: one remote with the manifest's name is taken over, several are an error."""

from __future__ import annotations

from typing import Any

import pytest

from kathansync.errors import ConfigError
from kathansync.models import Manifest
from kathansync.plan import Action, FingerprintKeys, make_plan
from kathansync.plan.adopt import adopt, find_adoptions

A = "3f2b8c1e-0000-4000-8000-00000000000a"
B = "3f2b8c1e-0000-4000-8000-00000000000b"
C = "3f2b8c1e-0000-4000-8000-00000000000c"
KEYS = FingerprintKeys(salt="test", secret=b"test")


def manifest(handle: str, name: str | None, assistant_id: str | None = None) -> Manifest:
    desired: dict[str, Any] = {"first_message": "Hi"}
    if name is not None:
        desired["name"] = name
    return Manifest(handle, f"assistants/{handle}.yaml", assistant_id, desired)


def remote(assistant_id: str, name: str, first_message: str = "Hi") -> dict[str, Any]:
    return {"id": assistant_id, "name": name, "first_message": first_message}


def test_one_remote_with_the_name_is_adopted_and_planned_as_an_update() -> None:
    support = manifest("support", "Support")
    remotes = [remote(A, "Support", first_message="Hello"), remote(B, "Sales")]

    adoptions = find_adoptions([support], remotes)

    assert adoptions == {"support": remotes[0]}
    (adopted,) = adopt([support], adoptions)
    assert adopted.id == A
    plan = make_plan([adopted], {A: remotes[0]}, api_url="http://test", keys=KEYS)
    (change,) = plan.changes
    assert (change.action, change.id, change.payload) == (Action.UPDATE, A, {"first_message": "Hi"})


def test_no_remote_with_the_name_means_create() -> None:
    new = manifest("new", "Brand new")
    assert find_adoptions([new], [remote(A, "Support")]) == {}
    plan = make_plan(adopt([new], {}), {}, api_url="http://test", keys=KEYS)
    assert plan.changes[0].action is Action.CREATE


def test_several_remotes_with_the_name_is_an_error_naming_them() -> None:
    remotes = [remote(A, "Support"), remote(B, "Support"), remote(C, "Sales")]
    with pytest.raises(ConfigError) as caught:
        find_adoptions([manifest("support", "Support")], remotes)
    message = str(caught.value)
    assert message.startswith("assistants/support.yaml: 2 remote assistants are named 'Support'")
    assert A in message and B in message and C not in message
    assert "id:" in message


def test_a_remote_another_manifest_manages_is_not_adopted_again() -> None:
    remotes = [remote(A, "Support"), remote(B, "Support")]
    adoptions = find_adoptions([manifest("copy", "Support")], remotes, claimed=[A.upper()])
    assert adoptions == {"copy": remotes[1]}


def test_two_manifests_cannot_adopt_the_same_remote() -> None:
    with pytest.raises(ConfigError, match="only one manifest can manage"):
        find_adoptions(
            [manifest("one", "Support"), manifest("two", "Support")], [remote(A, "Support")]
        )


def test_names_match_exactly_and_manifests_without_a_name_are_skipped() -> None:
    remotes = [remote(A, "support"), remote(B, "Support ")]
    assert find_adoptions([manifest("support", "Support"), manifest("x", None)], remotes) == {}
