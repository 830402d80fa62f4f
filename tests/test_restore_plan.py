"""Planning a restore (pure): what a PUT may carry back, the plan's kinds, and the re-check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kathansync.backup.files import Backup, BackupError
from kathansync.backup.restore import RestoreRequest, plan_restore, recheck, restorable
from kathansync.emulator import DEFAULTS
from kathansync.plan import Action
from kathansync.plan.saved import load_plan, new_keys, save_plan

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
B = "3115faf9-c94c-4b85-83de-fee57eb0657f"
C = "0b8e2a1e-1111-4222-8333-444455556666"
KEYS = new_keys("test-key", salt="fixed")


def remote(assistant_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": assistant_id, **DEFAULTS, **fields}


def backup() -> Backup:
    data = {
        "id": "abc123",
        "assistants": [
            {
                "handle": "support",
                "file": "assistants/support.yaml",
                "id": A,
                "action": "update",
                "sensitive": ["first_message"],
                "remote": remote(A, first_message="secret hello"),
            },
            {
                "handle": B,
                "file": None,
                "id": B,
                "action": "delete",
                "sensitive": [],
                "remote": remote(B, name="Old line"),
            },
        ],
        "created": [{"handle": "new", "id": C}],
    }
    return Backup(Path("b.json"), data)


def test_restorable_keeps_what_a_put_accepts() -> None:
    backed_up = {
        "id": A,
        "name": "Support",
        "description": None,  # nullable in a request: kept, restore clears it
        "voice": {"speed": 1.1, "language": None, "timbre": "warm"},  # null and unknown: dropped
        "voicemail_detection": True,  # unknown to kathansync, documented by the saved API schema
        "created_at": "2026-01-01",  # server-only
    }
    assert restorable(backed_up) == {
        "name": "Support",
        "description": None,
        "voice": {"speed": 1.1},
    }
    assert restorable(backed_up, {"voicemail_detection"})["voicemail_detection"] is True


def test_the_plan_has_an_update_a_create_and_a_delete() -> None:
    current = {A: remote(A, first_message="now"), B: None, C: remote(C, name="Brand new")}
    request = RestoreRequest(backup(), delete_created=True)
    plan = plan_restore(request, current, keys=KEYS, api_url="http://x", environment=None)
    by_handle = {c.handle: c for c in plan.changes}
    assert by_handle["support"].action is Action.UPDATE
    assert by_handle["support"].payload == {"first_message": "secret hello"}
    assert by_handle["support"].to_dict()["fields"] == [
        {"path": "first_message", "before": "(sensitive)", "after": "(sensitive)"}
    ]
    assert by_handle[B].action is Action.CREATE and by_handle[B].name == "Old line"
    assert by_handle[B].payload["name"] == "Old line" and "id" not in by_handle[B].payload
    assert "call_actions.webhook_url" in by_handle[B].sensitive
    assert by_handle["new"].action is Action.DELETE and by_handle["new"].id == C
    assert [c.handle for c in plan.changes][-1] == "new"  # deletes last, as in every plan


def test_without_delete_created_the_created_are_left_alone() -> None:
    current = {A: remote(A, first_message="secret hello"), B: remote(B, name="Old line")}
    plan = plan_restore(RestoreRequest(backup()), current, keys=KEYS, api_url="x", environment=None)
    assert [(c.handle, c.action) for c in plan.changes] == [
        (B, Action.NO_OP),
        ("support", Action.NO_OP),
    ]


def test_targets_name_handles_or_ids() -> None:
    current = {A: remote(A), B: None}
    plan = plan_restore(
        RestoreRequest(backup(), targets=(B,)), current, keys=KEYS, api_url="x", environment=None
    )
    assert [c.handle for c in plan.changes] == [B]
    with pytest.raises(BackupError, match="--target nope: not in backup abc123"):
        plan_restore(
            RestoreRequest(backup(), targets=("nope",)),
            current,
            keys=KEYS,
            api_url="x",
            environment=None,
        )


def test_recheck_refuses_only_what_moved(tmp_path: Path) -> None:
    current: dict[str, Any] = {A: remote(A, first_message="now"), B: None}
    request = RestoreRequest(backup())
    reviewed = plan_restore(request, current, keys=KEYS, api_url="x", environment=None)
    save_plan(reviewed, KEYS, tmp_path / "undo.json")  # read back as `apply FILE` reads it
    saved = load_plan(tmp_path / "undo.json", api_url="x", environment=None).as_plan()
    current[A] = remote(A, first_message="moved again")
    current[B] = remote(B, name="Someone re-created it")
    fresh = plan_restore(request, current, keys=KEYS, api_url="x", environment=None)
    plan, refused = recheck(saved, fresh)
    assert set(refused) == {"support", B}
    assert refused["support"].paths == ("first_message",)
    fresh_again = plan_restore(
        request,
        {A: remote(A, first_message="now"), B: None},
        keys=KEYS,
        api_url="x",
        environment=None,
    )
    assert recheck(saved, fresh_again)[1] == {}
    assert replace(plan, changes=()) == replace(fresh, changes=())
