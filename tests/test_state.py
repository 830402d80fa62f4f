"""Local state in .kathansync/: the apply lock and the pending creates file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.blocked import fetch_failure
from kathansync.emulator import EmulatorServer
from kathansync.errors import ApiError, KathansyncError
from kathansync.state import LockHeld, PendingCreates, apply_lock, write_once


def test_the_lock_names_its_holder_and_is_free_again_after_the_block(tmp_path: Path) -> None:
    state = tmp_path / ".kathansync"
    with apply_lock(state, "kathansync apply plan.json"):
        holder = json.loads((state / "lock").read_text())
        assert holder["pid"] == os.getpid() and holder["command"] == "kathansync apply plan.json"
        # flock locks belong to the open file: a second open in this process is refused too.
        refused = pytest.raises(LockHeld, match=rf"pid {os.getpid()} on .*apply plan\.json")
        with refused, apply_lock(state, "second"):
            pass  # pragma: no cover
    with apply_lock(state, "third"):
        assert json.loads((state / "lock").read_text())["command"] == "third"
    assert (state / ".gitignore").read_text().splitlines()[1:3] == [
        "lock",
        "pending-creates.json",
    ]


def test_pending_creates_are_kept_per_api_and_environment(tmp_path: Path) -> None:
    state = tmp_path / ".kathansync"
    PendingCreates(state).update("http://a", "staging", add=[("new", "New")])
    PendingCreates(state).update("http://a", None, add=[("other", None)])
    reread = PendingCreates(state)
    assert list(reread.for_target("http://a", "staging")) == ["new"]
    assert reread.for_target("http://a", "staging")["new"].name == "New"
    assert list(reread.for_target("http://b", "staging")) == []
    reread.update("http://a", "staging", remove=["new"])
    assert PendingCreates(state).for_target("http://a", "staging") == {}
    assert list(PendingCreates(state).for_target("http://a", None)) == ["other"]


@pytest.mark.parametrize("text", ["{oops", '{"creates": [{"handle": 1}]}', "[]"])
def test_an_unreadable_pending_file_is_an_error_not_forgotten(tmp_path: Path, text: str) -> None:
    state = tmp_path / ".kathansync"
    state.mkdir()
    (state / "pending-creates.json").write_text(text)
    with pytest.raises(KathansyncError, match=r"pending-creates\.json"):
        PendingCreates(state)


def test_a_failure_shared_by_some_assistants_is_said_once_for_them() -> None:
    def unauthorized(assistant_id: str) -> ApiError:
        return ApiError(f"HTTP 401 from GET /assistants/{assistant_id}: no", status=401)

    failed = [
        ("a", "id-a", unauthorized("id-a")),
        ("b", "id-b", unauthorized("id-b")),
        ("c", "id-c", ApiError("HTTP 500 from GET /assistants/id-c: boom", status=500)),
    ]
    message = fetch_failure(failed, "http://api")
    assert "2 assistants (a, b): HTTP 401 from GET /assistants/<id>: no" in message
    assert "c: HTTP 500 from GET /assistants/id-c: boom" in message
    assert "is the API URL right" not in message


def test_a_dangling_gitignore_link_is_never_written_through(tmp_path: Path) -> None:
    # A checked-out `.kathansync/.gitignore` pointing outside: writing "through" it would create
    # the target wherever it points. The lock is still taken; the link is left as it is.
    state, outside = tmp_path / "repo" / ".kathansync", tmp_path / "outside" / "planted"
    state.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (state / ".gitignore").symlink_to(outside)
    with apply_lock(state, "apply"):
        pass
    assert not outside.exists()
    assert os.readlink(state / ".gitignore") == str(outside)


def test_the_backups_folder_gitignore_is_never_written_through_a_link(tmp_path: Path) -> None:
    backups, outside = tmp_path / "backups", tmp_path / "planted"
    backups.mkdir()
    (backups / ".gitignore").symlink_to(outside)
    write_once(backups / ".gitignore", "*\n")
    assert not outside.exists()
    write_once(tmp_path / "fresh", "*\n")
    assert (tmp_path / "fresh").read_text() == "*\n"


def test_a_symlinked_state_folder_is_refused_before_any_request(
    make_repo: MakeRepo, kathan_env: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A branch commits `.kathansync -> /somewhere`: backups hold the server's real values.
    outside = tmp_path_factory.mktemp("outside")
    repo = make_repo(files={"assistants/support.yaml": "name: Support\n"})
    (repo / ".kathansync").symlink_to(outside, target_is_directory=True)
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 1
    assert ".kathansync is a symbolic link" in result.stderr
    assert list(outside.iterdir()) == []
    assert kathan_env.stats()["methods"].get("POST", 0) == 0
