"""apply takes a backup before its first request: whole remote objects, 0600, or nothing is sent."""

from __future__ import annotations

import copy
import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo, invoke

from kathansync.backup.files import list_backups
from kathansync.emulator import EmulatorServer

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
B = "3115faf9-c94c-4b85-83de-fee57eb0657f"
WRITES = ("PUT", "POST", "DELETE")


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="manifests: assistants\n")


def backups(repo: Path) -> Path:
    return repo / ".kathansync" / "backups"


def writes(emulator: EmulatorServer) -> int:
    methods = emulator.stats()["methods"]
    return sum(int(methods.get(m, 0)) for m in WRITES)


class RequestRecorder:
    """ASGI middleware: for each request, the backup files that existed when it arrived."""

    def __init__(self, app: Any, seen: list[tuple[str, list[str]]], folder: Path) -> None:
        self.app, self.seen, self.folder = app, seen, folder

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            found = sorted(p.name for p in self.folder.glob("*.json"))
            self.seen.append((scope["method"], found))
        await self.app(scope, receive, send)


@pytest.fixture
def recorded(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[EmulatorServer, list[tuple[str, list[str]]]]]:
    seen: list[tuple[str, list[str]]] = []
    server = EmulatorServer()
    server.app.add_middleware(RequestRecorder, seen=seen, folder=backups(repo))
    with server:
        monkeypatch.setenv("KATHAN_API_URL", server.url)
        monkeypatch.setenv("KATHAN_API_KEY", server.api_key)
        monkeypatch.setenv("KATHAN_USER_ID", server.user_id)
        yield server, seen


def test_the_backup_exists_before_the_first_write_request(
    repo: Path, recorded: tuple[EmulatorServer, list[tuple[str, list[str]]]]
) -> None:
    server, seen = recorded
    server.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    assert invoke("apply", "--auto-approve").exit_code == 0
    (backup,) = list_backups(backups(repo))
    sent = [(method, found) for method, found in seen if method in WRITES]
    assert sent == [("PUT", [backup.path.name])]
    assert all(found == [] for method, found in seen if method == "GET")  # fetched, then backed up


def test_no_request_is_sent_when_the_backup_cannot_be_written(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    (repo / "kathansync.yaml").write_text("backups:\n  dir: blocked\n")
    (repo / "blocked").write_text("a file where the backups folder should be\n")
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "cannot write the backup in" in result.stderr and "nothing was sent" in result.stderr
    assert "Traceback" not in result.output
    assert writes(kathan_env) == 0
    assert kathan_env.assistants[A]["name"] == "Support"


def test_no_backup_skips_it(repo: Path, kathan_env: EmulatorServer) -> None:
    (repo / "kathansync.yaml").write_text("backups:\n  dir: blocked\n")
    (repo / "blocked").write_text("")
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    assert invoke("apply", "--auto-approve", "--no-backup").exit_code == 0
    assert kathan_env.assistants[A]["name"] == "Renamed"


def test_the_backup_holds_unmanaged_fields_and_deleted_assistants_whole(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support", description="tuned by hand", voice={"speed": 1.2})
    kathan_env.seed(B, name="Old line", first_message="Hi")
    kathan_env.assistants[A]["voicemail_detection"] = True  # a field the tool does not know
    before = copy.deepcopy(kathan_env.assistants)
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nvoice:\n  speed: 1.0\n")
    result = invoke("apply", "--prune", "--force", "--auto-approve")
    assert result.exit_code == 0, result.output
    (backup,) = list_backups(backups(repo))
    entries = {e["id"]: e for e in backup.entries}
    assert entries[A]["action"] == "update" and entries[A]["remote"] == before[A]
    assert entries[B]["action"] == "delete" and entries[B]["remote"] == before[B]
    assert backup.data["summary"] == {"create": 0, "update": 1, "delete": 1, "no_op": 0}
    assert backup.counts() == {"updated": 1, "deleted": 1, "created": 0}


def test_the_backup_records_created_ids_and_where_it_came_from(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    (repo / "assistants" / "new.yaml").write_text("name: Brand new\n")
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    (backup,) = list_backups(backups(repo))
    (created_id,) = kathan_env.assistants
    assert backup.created == [{"handle": "new", "id": created_id}]
    assert backup.entries == []
    assert backup.data["api_url"] == kathan_env.url
    assert f"undo with: kathansync restore {backup.id}" in result.stderr
    text = backup.path.read_text()
    assert kathan_env.api_key not in text and kathan_env.user_id not in text


def test_backup_file_mode_is_0600_and_its_folder_0700(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    assert invoke("apply", "--auto-approve").exit_code == 0
    (backup,) = list_backups(backups(repo))
    assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backups(repo).stat().st_mode) == 0o700
    assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600  # still, after recording outcomes


def test_nothing_to_apply_takes_no_backup(repo: Path, kathan_env: EmulatorServer) -> None:
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Support\n")
    assert invoke("apply", "--auto-approve").exit_code == 0
    assert not backups(repo).exists()


def test_a_stale_assistant_is_not_backed_up(repo: Path, kathan_env: EmulatorServer) -> None:
    kathan_env.seed(A, name="Support")
    kathan_env.seed(B, name="Sales")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Support 2\n")
    (repo / "assistants" / "sales.yaml").write_text(f"id: {B}\nname: Sales 2\n")
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    kathan_env.assistants[B]["name"] = "Moved"
    assert invoke("apply", "plan.json").exit_code == 1  # sales is stale
    (backup,) = list_backups(backups(repo))
    assert [e["handle"] for e in backup.entries] == ["support"]


def test_the_backup_folder_is_configurable(repo: Path, kathan_env: EmulatorServer) -> None:
    (repo / "kathansync.yaml").write_text("backups:\n  dir: var/undo\n  keep: 2\n")
    kathan_env.seed(A, name="Support")
    for name in ("One", "Two", "Three"):
        (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: {name}\n")
        assert invoke("apply", "--auto-approve").exit_code == 0
    kept = list_backups(repo / "var" / "undo")
    assert [b.entries[0]["remote"]["name"] for b in kept] == ["One", "Two"]


def test_the_ci_workflow_keeps_the_backup_as_an_artifact(repo: Path) -> None:
    assert invoke("init", "project").exit_code == 0
    workflow = (repo / "project" / ".github" / "workflows" / "kathansync.yml").read_text()
    assert "path: .kathansync/backups/" in workflow
    assert "include-hidden-files: true" in workflow


def test_history_json_has_no_remote_values(repo: Path, kathan_env: EmulatorServer) -> None:
    kathan_env.seed(A, name="Support", call_actions={"webhook_url": "https://x/t0ken"})
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    assert invoke("apply", "--auto-approve").exit_code == 0
    result = invoke("history", "--format", "json")
    assert "t0ken" not in result.stdout
    assert json.loads(result.stdout)["backups"][0]["counts"]["updated"] == 1


def test_in_actions_the_apply_summary_names_the_backup(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    summary = repo / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_RUN_ID": "77"}
    result = invoke("apply", "--auto-approve", env=env)
    assert result.exit_code == 0, result.output
    (backup,) = list_backups(backups(repo))
    text = summary.read_text()
    assert (
        f"Backup taken before this apply: `{backup.id}` (artifact `kathansync-backup-77`)" in text
    )
    assert f"kathansync restore {backup.id}" in text


def test_an_adoption_alone_sends_nothing_and_takes_no_backup(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text("name: Support\n")  # adopted by name
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert A in (repo / "assistants" / "support.yaml").read_text()
    assert writes(kathan_env) == 0
    assert not backups(repo).exists()


def untracked(repo: Path) -> list[str]:
    """What `git status` would offer to commit: every untracked file, one by one."""
    found = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(line[3:] for line in found.stdout.splitlines())


COMMITTABLE = [".kathansync/.gitignore", "assistants/support.yaml", "kathansync.yaml"]


def test_backups_never_reach_git_wherever_they_are_kept(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    assert invoke("apply", "--auto-approve").exit_code == 0
    assert list_backups(backups(repo))  # taken, under .kathansync/ (its .gitignore: backups/)
    assert "backups/" in (repo / ".kathansync" / ".gitignore").read_text().splitlines()
    assert untracked(repo) == COMMITTABLE
    (repo / "kathansync.yaml").write_text("backups:\n  dir: undo\n")  # outside .kathansync/
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Again\n")
    assert invoke("apply", "--auto-approve").exit_code == 0
    assert list_backups(repo / "undo")
    assert untracked(repo) == COMMITTABLE


def test_backups_live_at_the_repository_root_from_a_subfolder(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "kathansync.yaml").write_text("manifests: assistants\nbackups:\n  dir: var/undo\n")
    kathan_env.seed(A, name="Support")
    (repo / "assistants" / "support.yaml").write_text(f"id: {A}\nname: Renamed\n")
    monkeypatch.chdir(repo / "assistants")  # kathansync.yaml is found upward
    assert invoke("apply", "--auto-approve").exit_code == 0
    (taken,) = list_backups(repo / "var" / "undo")
    assert not (repo / "assistants" / "var").exists()
    assert taken.id in invoke("history").stdout
