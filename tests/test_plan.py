"""PLAN: actions, field changes, masking and the serialised form; stale checks of saved plans."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from kathansync.models import Manifest
from kathansync.plan import Action, FingerprintKeys, make_plan, plan_assistant
from kathansync.plan import change as change_module
from kathansync.plan.diff import fingerprints

ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SECRET = "https://hooks.example/T0KEN-s3cret"
KEYS = FingerprintKeys(salt="salt", secret=b"key")


def manifest(handle: str = "support", **desired: Any) -> Manifest:
    desired = desired or {"name": "Support", "voice": {"speed": 1.05}}
    return Manifest(handle, f"assistants/{handle}.yaml", ID, desired)


def remote(**overrides: Any) -> dict[str, Any]:
    base = {"id": ID, "name": "Support", "voice": {"voice_id": "v", "speed": 1}}
    return {**base, **overrides}


def test_update_lists_changed_fields_and_minimal_payload() -> None:
    plan = make_plan([manifest()], {ID: remote()}, api_url="http://api", keys=KEYS)
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [("voice.speed", 1, 1.05)]
    assert change.payload == {"voice": {"voice_id": "v", "speed": 1.05}}
    assert plan.summary() == {"create": 0, "update": 1, "delete": 0, "no_op": 0}


def test_no_op_and_create_and_order() -> None:
    same = manifest("b-same", name="Support")
    new = Manifest("a-new", "assistants/a-new.yaml", None, {"name": "New", "voice": {"speed": 1}})
    plan = make_plan([same, new], {ID: remote()}, api_url="http://api", keys=KEYS)
    assert [(c.handle, c.action) for c in plan.changes] == [
        ("a-new", Action.CREATE),
        ("b-same", Action.NO_OP),
    ]
    create = plan.changes[0]
    assert [f.path for f in create.fields] == ["name", "voice.speed"]
    assert create.payload == {"name": "New", "voice": {"speed": 1}}
    assert plan.has_changes


def test_a_manifest_with_an_id_never_silently_becomes_a_create() -> None:
    with pytest.raises(KeyError):
        make_plan([manifest()], {}, api_url="http://api", keys=KEYS)


def test_json_form_matches_design_and_masks_sensitive_values() -> None:
    secret = replace(
        manifest(call_actions={"webhook_url": SECRET}, name="Renamed"),
        sensitive=frozenset({"call_actions.webhook_url"}),
        origins={"name": "assistants/_defaults.yaml"},
    )
    live = remote(call_actions={"webhook_url": "https://old/OLD-secret", "enabled": True})
    data = make_plan([secret], {ID: live}, api_url="http://api", keys=KEYS).to_dict()
    assert data["format_version"] == "1"
    assert set(data) >= {"format_version", "changes", "summary"}
    (entry,) = data["changes"]
    assert set(entry) == {"handle", "file", "id", "action", "fields", "payload"}
    assert entry["fields"] == [  # in the manifest's order
        {"path": "call_actions.webhook_url", "before": "(sensitive)", "after": "(sensitive)"},
        {
            "path": "name",
            "before": "Support",
            "after": "Renamed",
            "origin": "assistants/_defaults.yaml",
        },
    ]
    assert entry["payload"]["call_actions"] == {"webhook_url": "(sensitive)", "enabled": True}
    text = json.dumps(data)
    assert SECRET not in text and "OLD-secret" not in text


def test_each_action_has_one_symbol() -> None:
    assert {a.value: a.symbol for a in Action} == {
        "create": "+",
        "update": "~",
        "delete": "-",
        "no-op": " ",
    }


def test_fingerprints_are_taken_when_first_read(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[int] = []

    def counting(tree: Any, paths: Any, **kwargs: Any) -> dict[str, str]:
        taken.append(len(paths))
        return fingerprints(tree, paths, **kwargs)

    monkeypatch.setattr(change_module, "fingerprints", counting)
    m = manifest(voice={"speed": 1.2, "language": "en"})
    planned = plan_assistant(m, remote(), KEYS)
    assert planned.action is Action.UPDATE and taken == []  # planning takes none
    eager = partial(fingerprints, paths=[("voice", "speed"), ("voice", "language")])
    kwargs = {"salt": KEYS.salt, "secret_key": KEYS.secret, "sensitive": m.sensitive}
    assert dict(planned.remote_fingerprints) == eager(remote(), **kwargs)
    assert dict(planned.desired_fingerprints) == eager(m.desired, **kwargs)
    assert taken == [2, 2]
    assert dict(planned.remote_fingerprints) == eager(remote(), **kwargs)
    assert taken == [2, 2], "taken once"
