"""SAVED PLAN: the plan file, its typed reader (tampered files refused whole), stale checks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kathansync.errors import PlanFileError
from kathansync.models import Manifest
from kathansync.plan import Action, Change, FingerprintKeys, make_plan
from kathansync.plan.saved import (
    SavedPlan,
    load_plan,
    new_keys,
    plan_file_data,
    save_plan,
    stale_reason,
)

ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SECRET = "https://hooks.example/T0KEN-s3cret"
KEYS = FingerprintKeys(salt="salt", secret=b"key")


def manifest(handle: str = "support", **desired: Any) -> Manifest:
    desired = desired or {"name": "Support", "voice": {"speed": 1.05}}
    return Manifest(handle, f"assistants/{handle}.yaml", ID, desired)


def remote(**overrides: Any) -> dict[str, Any]:
    base = {"id": ID, "name": "Support", "voice": {"voice_id": "v", "speed": 1}}
    return {**base, **overrides}


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


def _saved_entry(plan_remote: dict[str, Any], plan_manifest: Manifest) -> Change:
    """A planned change as read back from a plan file."""
    plan = make_plan([plan_manifest], {ID: plan_remote}, api_url="http://api", keys=KEYS)
    data = plan_file_data(plan, KEYS)
    return SavedPlan.from_dict(Path("plan.json"), data).changes[0].as_change()


def _fresh(now_remote: dict[str, Any], now_manifest: Manifest) -> Any:
    return make_plan([now_manifest], {ID: now_remote}, api_url="http://api", keys=KEYS).changes[0]


def test_stale_when_remote_moved() -> None:
    saved = _saved_entry(remote(), manifest())
    outcome = stale_reason(saved, _fresh(remote(voice={"speed": 1.2}), manifest()))
    assert outcome is not None
    assert outcome.paths == ("voice.speed",)
    assert "stale" in outcome.message and "remote changed" in outcome.message


def test_stale_when_manifest_moved() -> None:
    saved = _saved_entry(remote(), manifest())
    outcome = stale_reason(saved, _fresh(remote(), manifest(name="Other", voice={"speed": 1.05})))
    assert outcome is not None and "manifest changed" in outcome.message
    assert outcome.paths == ("name",)


def test_not_stale_when_nothing_managed_moved() -> None:
    saved = _saved_entry(remote(), manifest())
    unmanaged_change = remote(description="edited in the dashboard")
    assert stale_reason(saved, _fresh(unmanaged_change, manifest())) is None


def test_stale_when_manifest_removed() -> None:
    saved = _saved_entry(remote(), manifest())
    outcome = stale_reason(saved, None)
    assert outcome is not None and "removed" in outcome.message


def test_an_in_memory_plan_is_checked_like_a_saved_one() -> None:
    """The confirm path compares Change values directly: no plan-file dicts in between."""
    planned = _fresh(remote(), manifest())
    assert stale_reason(planned, _fresh(remote(), manifest())) is None
    moved = stale_reason(planned, _fresh(remote(voice={"speed": 1.2}), manifest()))
    assert moved is not None and moved.paths == ("voice.speed",)
    assert moved.change is planned


def test_saved_plan_reads_back_as_typed_changes(tmp_path: Path) -> None:
    new = Manifest("new", "assistants/new.yaml", None, {"name": "New"})
    plan = make_plan([manifest(), new], {ID: remote()}, api_url="http://api", keys=KEYS)
    path = tmp_path / "plan.json"
    save_plan(plan, KEYS, path)
    saved = load_plan(path, api_url="http://api", environment=None)
    assert [(c.handle, c.action, c.id) for c in saved.changes] == [
        ("new", Action.CREATE, None),
        ("support", Action.UPDATE, ID),
    ]
    assert saved.as_plan().changes[1].remote_fingerprints == plan.changes[1].remote_fingerprints


def _valid_plan_data() -> dict[str, Any]:
    return plan_file_data(
        make_plan([manifest()], {ID: remote()}, api_url="http://api", keys=KEYS), KEYS
    )


def _first_change(data: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = data["changes"][0]
    return change


TAMPERED: list[tuple[str, Any, str]] = [
    ("missing key", lambda d: _first_change(d).pop("handle"), "no 'changes[0].handle'"),
    ("missing salt", lambda d: d.pop("salt"), "no 'salt'"),
    (
        "wrong type",
        lambda d: _first_change(d).update(desired_fingerprints=["x"]),
        "changes[0].desired_fingerprints is list",
    ),
    (
        "wrong digest type",
        lambda d: _first_change(d)["remote_fingerprints"].update({"name": 3}),
        "remote_fingerprints.name is not a string",
    ),
    (
        "bad action",
        lambda d: _first_change(d).update(action="explode"),
        "changes[0].action 'explode' is not one of create, update, delete, no-op",
    ),
    ("bad version", lambda d: d.update(format_version=1), "plan format 1 is not supported"),
    ("entry not an object", lambda d: d["changes"].append("x"), "changes[1] is not a JSON object"),
    ("changes not a list", lambda d: d.update(changes={}), "changes is dict"),
    ("wrong api_url", lambda d: d.update(api_url="http://evil"), "made against http://evil"),
]


@pytest.mark.parametrize(
    ("edit", "message"), [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED]
)
def test_a_tampered_plan_file_is_a_plan_file_error(tmp_path: Path, edit: Any, message: str) -> None:
    data = _valid_plan_data()
    edit(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError) as info:
        load_plan(path, api_url="http://api", environment=None)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "not a readable kathansync plan"), ("[1, 2]", "the file is not a JSON object")],
    ids=["not JSON", "not an object"],
)
def test_a_plan_file_that_is_not_a_plan_object(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(PlanFileError, match=message):
        load_plan(path, api_url="http://api", environment=None)
