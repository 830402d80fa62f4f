"""history: one line per backup, newest first, filtered by environment, as text or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.backup.files import write_backup
from kathansync.plan import Action, Change, Plan

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
B = "3115faf9-c94c-4b85-83de-fee57eb0657f"
SHA = "3d72684aa" + "1" * 31
CONFIG = """\
environments:
  staging: {api_url: "http://staging.example"}
  production: {api_url: "http://production.example"}
"""


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    """A git checkout of main at SHA (the files git itself reads for HEAD), no git needed."""
    return make_repo(
        config=CONFIG,
        files={".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": SHA + "\n"},
    )


def backup(repo: Path, minute: int, env: str, changes: tuple[Change, ...]) -> str:
    plan = Plan(changes, f"http://{env}.example", environment=env)
    taken = write_backup(
        repo / ".kathansync" / "backups",
        plan=plan,
        changes=changes,
        root=repo,
        keep=50,
        now=datetime(2026, 11, 29, 9, minute, 5, tzinfo=UTC) + timedelta(days=minute % 2),
    )
    return taken.id


UPDATE = Change("support", "assistants/support.yaml", A, Action.UPDATE, remote={"id": A})
DELETE = Change(B, None, B, Action.DELETE, remote={"id": B})


def test_history_lists_newest_first_with_counts_commit_and_id(repo: Path) -> None:
    first = backup(repo, 0, "staging", (UPDATE, DELETE))  # 29 Nov 09:00
    second = backup(repo, 1, "production", (UPDATE,))  # 30 Nov 09:01
    third = backup(repo, 2, "staging", ())  # 29 Nov 09:02
    result = invoke("history")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"2026-11-30 09:01:05Z  {second}  production  3d72684 (main)"
        "  1 updated, 0 deleted, 0 created",
        f"2026-11-29 09:02:05Z  {third}  staging  3d72684 (main)  0 updated, 0 deleted, 0 created",
        f"2026-11-29 09:00:05Z  {first}  staging  3d72684 (main)  1 updated, 1 deleted, 0 created",
    ]


def test_history_filters_by_environment_and_speaks_json(repo: Path) -> None:
    first = backup(repo, 0, "staging", (UPDATE, DELETE))
    backup(repo, 1, "production", (UPDATE,))
    result = invoke("history", "--env", "staging", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format_version"] == "1"
    (only,) = data["backups"]
    assert only["id"] == first
    assert only["environment"] == "staging" and only["api_url"] == "http://staging.example"
    assert (only["commit"], only["branch"]) == (SHA, "main")
    assert only["counts"] == {"updated": 1, "deleted": 1, "created": 0}
    assert only["restore_of"] is None
    assert Path(only["file"]).is_file()


def test_history_without_backups_says_so(repo: Path) -> None:
    result = invoke("history")
    assert result.exit_code == 0
    assert "No backups in" in result.stdout
    assert json.loads(invoke("history", "--format", "json").stdout)["backups"] == []


def test_history_of_an_unknown_environment_is_an_error(repo: Path) -> None:
    result = invoke("history", "--env", "prod")
    assert result.exit_code == 1
    assert "unknown environment 'prod'" in result.stderr and "production" in result.stderr


def test_history_marks_restores(repo: Path) -> None:
    plan = Plan((UPDATE,), "http://staging.example", environment="staging")
    taken = write_backup(
        repo / ".kathansync" / "backups",
        plan=plan,
        changes=plan.changes,
        root=repo,
        keep=50,
        restore_of="abc123",
    )
    assert (
        invoke("history")
        .stdout.rstrip()
        .endswith(
            f"{taken.id}  staging  3d72684 (main)"
            "  1 updated, 0 deleted, 0 created"
            "  (restore of abc123)"
        )
    )
