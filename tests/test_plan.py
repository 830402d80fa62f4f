"""PLAN: actions, field changes, masking and the serialised form; stale checks of saved plans."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kathansync.apply import Status, stale_outcome
from kathansync.errors import PlanFileError
from kathansync.models import Manifest
from kathansync.plan import Action, FingerprintKeys, make_plan
from kathansync.planfile import load_plan, new_keys, plan_file_data, save_plan

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


def test_plan_file_holds_fingerprints_not_values(tmp_path: Path) -> None:
    secret = replace(
        manifest(call_actions={"webhook_url": SECRET}),
        sensitive=frozenset({"call_actions.webhook_url"}),
    )
    keys = new_keys("test-api-key-123")
    plan = make_plan([secret], {ID: remote()}, api_url="http://api", keys=keys)
    path = tmp_path / "plan.json"
    save_plan(plan, keys, path)
    text = path.read_text()
    assert SECRET not in text
    assert "test-api-key-123" not in text
    entry = json.loads(text)["changes"][0]
    assert "payload" not in entry
    assert set(entry["desired_fingerprints"]) == {"call_actions.webhook_url"}
    loaded = load_plan(path, api_url="http://api/", environment=None)
    assert loaded.salt == keys.salt


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(api_url="http://other"), "made against http://other"),
        (lambda d: d.update(kathansync_version="9.0.0"), "kathansync 9.0.0"),
        (lambda d: d.update(format_version="7"), "plan format '7'"),
        (lambda d: d.update(environment="production"), "environment 'production'"),
        (lambda d: d.pop("kind"), "not a kathansync plan file"),
    ],
)
def test_plan_file_refused_whole(tmp_path: Path, edit: Any, message: str) -> None:
    data = plan_file_data(
        make_plan([manifest()], {ID: remote()}, api_url="http://api", keys=KEYS), KEYS
    )
    edit(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match=message):
        load_plan(path, api_url="http://api", environment=None)


def test_unreadable_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(PlanFileError, match="not a readable kathansync plan"):
        load_plan(path, api_url="http://api", environment=None)
    with pytest.raises(PlanFileError, match="no such plan file"):
        load_plan(tmp_path / "missing.json", api_url="http://api", environment=None)


def _saved_entry(plan_remote: dict[str, Any], plan_manifest: Manifest) -> dict[str, Any]:
    plan = make_plan([plan_manifest], {ID: plan_remote}, api_url="http://api", keys=KEYS)
    return plan_file_data(plan, KEYS)["changes"][0]


def _fresh(now_remote: dict[str, Any], now_manifest: Manifest) -> Any:
    return make_plan([now_manifest], {ID: now_remote}, api_url="http://api", keys=KEYS).changes[0]


def test_stale_when_remote_moved() -> None:
    saved = _saved_entry(remote(), manifest())
    outcome = stale_outcome(saved, _fresh(remote(voice={"speed": 1.2}), manifest()))
    assert outcome is not None and outcome.status is Status.STALE
    assert outcome.paths == ("voice.speed",)
    assert "stale" in (outcome.message or "") and "remote changed" in (outcome.message or "")


def test_stale_when_manifest_moved() -> None:
    saved = _saved_entry(remote(), manifest())
    outcome = stale_outcome(saved, _fresh(remote(), manifest(name="Other", voice={"speed": 1.05})))
    assert outcome is not None and "manifest changed" in (outcome.message or "")
    assert outcome.paths == ("name",)


def test_not_stale_when_nothing_managed_moved() -> None:
    saved = _saved_entry(remote(), manifest())
    unmanaged_change = remote(description="edited in the dashboard")
    assert stale_outcome(saved, _fresh(unmanaged_change, manifest())) is None


def test_stale_when_manifest_removed() -> None:
    saved = _saved_entry(remote(), manifest())
    outcome = stale_outcome(saved, None)
    assert outcome is not None and "removed" in (outcome.message or "")
