"""Review of the apply area: the lock, backups read back, and what they must never do."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import MakeRepo, full_assistant, invoke

from kathansync.emulator import EmulatorServer
from kathansync.errors import KathansyncError
from kathansync.state import apply_lock

NAME = "20261129T153801.123456Z-3fa9c2.json"
NEW = "name: Brand new\n"


# --- the apply lock ---------------------------------------------------------------------------


def test_a_symlinked_lock_file_never_truncates_the_file_it_points_at(tmp_path: Path) -> None:
    """`.kathansync/lock` planted as a symlink (a merged pull request can carry one) must not
    make apply truncate and overwrite a file outside the repository."""
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    state = tmp_path / "repo" / ".kathansync"
    state.mkdir(parents=True)
    (state / "lock").symlink_to(outside)
    with pytest.raises(KathansyncError, match="lock"), apply_lock(state, "kathansync apply"):
        pass
    assert outside.read_text() == "precious\n"


# --- backups read back ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edited",
    [
        {"assistants": [], "created": []},  # no id
        {"id": "3fa9c2", "assistants": [], "created": [], "git": "main"},
        {"id": "3fa9c2", "assistants": ["support"], "created": []},
        {"id": "3fa9c2", "assistants": [], "created": [{"id": "x"}]},  # no handle
        {"id": "3fa9c2", "assistants": [], "created": [{"handle": "new", "id": None}]},
        {"id": "3fa9c2", "assistants": [{"handle": "s", "id": "x", "remote": []}], "created": []},
        {
            "id": "3fa9c2",
            "assistants": [{"handle": "s", "id": "x", "sensitive": [1]}],
            "created": [],
        },
    ],
)
def test_history_and_restore_refuse_an_edited_backup_cleanly(
    make_repo: MakeRepo, edited: dict[str, object]
) -> None:
    repo = make_repo(config="manifests: assistants\n")
    folder = repo / ".kathansync" / "backups"
    folder.mkdir(parents=True)
    data = {"kind": "kathansync-backup", "format_version": "1", **edited}
    (folder / NAME).write_text(json.dumps(data))
    listed = invoke("history")
    assert listed.exit_code == 0
    assert "No backups" in listed.output  # an unreadable backup is passed over, not a crash
    restored = invoke("restore", str(folder / NAME), "--auto-approve")
    assert restored.exit_code == 1
    assert "backup" in restored.output and "Traceback" not in restored.output


# --- Ctrl-C during an apply -------------------------------------------------------------------


def _interrupt_when_posted(emulator: EmulatorServer) -> threading.Thread:
    """SIGINT to this process once the emulator has the POST (answered 3 s later), and again
    while apply waits for that answer: the user who will not wait."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if emulator.stats()["methods"].get("POST", 0) >= 1:
                time.sleep(0.2)  # the client is now waiting for the answer
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.3)  # the first Ctrl-C waits for the request on the wire
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_create_in_flight_at_ctrl_c_is_remembered_and_not_sent_again(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """The POST was on the wire when the apply was left (Ctrl-C twice): it may land. The next
    apply must not create the assistant a second time (issue 12: an ambiguous create is
    remembered)."""
    repo = make_repo(config="manifests: assistants\n", files={"assistants/new.yaml": NEW})
    kathan_env.inject({"method": "POST", "path": "/assistants", "delay_ms": 3000})
    watcher = _interrupt_when_posted(kathan_env)
    interrupted = invoke("apply", "--auto-approve", "--no-backup")
    watcher.join()
    assert interrupted.exit_code == 1
    assert "in flight, may have landed: new" in interrupted.output
    pending = json.loads((repo / ".kathansync" / "pending-creates.json").read_text())
    assert [entry["handle"] for entry in pending["creates"]] == ["new"]
    again = invoke("apply", "--auto-approve", "--no-backup")
    # Held back until a list shows it (or adopted, if it landed meanwhile): never a second POST.
    assert kathan_env.stats()["methods"].get("POST", 0) == 1, again.output


def test_creates_landed_before_ctrl_c_are_recorded_in_the_backup(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """`restore --delete-created` reads the backup's `created`: an apply stopped by Ctrl-C
    must record the creates that had landed, as a finished apply does."""
    files = {"assistants/a-first.yaml": "name: First\n", "assistants/b-slow.yaml": NEW}
    repo = make_repo(config="manifests: assistants\n", files=files)
    # The second POST is held back 3 s (faults are taken in order); Ctrl-C comes meanwhile.
    kathan_env.inject({"method": "POST", "path": "/assistants", "delay_ms": 1})
    kathan_env.inject({"method": "POST", "path": "/assistants", "delay_ms": 3000})

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(kathan_env.assistants) < 1:
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    interrupted = invoke("apply", "--auto-approve")
    watcher.join()
    assert interrupted.exit_code == 1
    [backup] = (repo / ".kathansync" / "backups").glob("*.json")
    data = json.loads(backup.read_text(encoding="utf-8"))
    # The pool lets the request in flight finish before the interrupt is handled: both creates
    # were answered, and both must be in the backup, or restore cannot delete them.
    assert "done: a-first (created), b-slow (created)" in interrupted.output
    names = {"a-first": "First", "b-slow": "Brand new"}
    assert {c["handle"] for c in data["created"]} == set(names)
    for created in data["created"]:
        assert kathan_env.assistants[created["id"]]["name"] == names[created["handle"]]
    assert data["outcomes"] == {"a-first": "created", "b-slow": "created"}


# --- restore puts back every field ------------------------------------------------------------

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"


def test_restore_puts_back_a_sub_field_only_the_saved_api_schema_documents(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """`voice.new_setting` is documented by kathan-api-schema.json (so a manifest may manage it,
    and an apply may change it): the restore plan must put it back like any other field."""
    schema = {
        "format_version": "1",
        "source": f"{kathan_env.url}/openapi.json",
        "fetched_at": "2026-11-29T15:00:00Z",
        "schema": {
            "type": "object",
            "properties": {
                "voice": {"type": "object", "properties": {"new_setting": {"type": "string"}}}
            },
        },
    }
    repo = make_repo(
        config="manifests: assistants\n",
        files={"kathan-api-schema.json": json.dumps(schema)},
    )
    now = kathan_env.seed(A, name="Support", voice={"new_setting": "after"})
    before = {**now, "voice": {**now["voice"], "new_setting": "before"}}
    backup = {
        "kind": "kathansync-backup",
        "format_version": "1",
        "id": "3fa9c2",
        "api_url": kathan_env.url,
        "environment": None,
        "assistants": [
            {
                "handle": "support",
                "file": None,
                "id": A,
                "action": "update",
                "sensitive": [],
                "remote": before,
            }
        ],
        "created": [],
    }
    folder = repo / ".kathansync" / "backups"
    folder.mkdir(parents=True)
    (folder / NAME).write_text(json.dumps(backup))
    result = invoke("restore", "3fa9c2", "--out", "undo.json", "--format", "json")
    assert result.exit_code == 0, result.output
    (change,) = json.loads((repo / "undo.json").read_text())["changes"]
    assert change["action"] == "update"
    assert change["fields"] == [{"path": "voice.new_setting", "before": "after", "after": "before"}]


def test_a_re_create_whose_answer_never_came_is_not_sent_again_by_the_next_restore(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """restore re-creates a deleted assistant; its POST times out (it may have landed). Running
    the restore again must not create a second one (issue 12: an ambiguous create is held)."""
    repo = make_repo(config="manifests: assistants\n")
    gone = full_assistant(A, name="Old line")
    backup = {
        "kind": "kathansync-backup",
        "format_version": "1",
        "id": "3fa9c2",
        "api_url": kathan_env.url,
        "environment": None,
        "assistants": [
            {
                "handle": A,
                "file": None,
                "id": A,
                "action": "delete",
                "sensitive": [],
                "remote": gone,
            }
        ],
        "created": [],
    }
    folder = repo / ".kathansync" / "backups"
    folder.mkdir(parents=True)
    (folder / NAME).write_text(json.dumps(backup))
    kathan_env.inject({"method": "POST", "path": "/assistants", "delay_ms": 2500})
    first = invoke("restore", "3fa9c2", "--auto-approve", "--timeout", "1", "--max-retries", "0")
    assert first.exit_code == 1
    assert "may have been created" in first.output
    again = invoke("restore", "3fa9c2", "--auto-approve")
    assert again.exit_code == 1, again.output
    assert kathan_env.stats()["methods"].get("POST", 0) == 1, again.output
