"""Backup files: names that sort as time, retention, finding by id, git state, the config keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kathansync.apply import Outcome, Status
from kathansync.backup.files import (
    BackupError,
    _encode,
    find_backup,
    list_backups,
    load_backup,
    prune_backups,
    public_url,
    record_outcomes,
    write_backup,
)
from kathansync.backup.gitinfo import GitState, git_state
from kathansync.errors import ConfigError
from kathansync.plan import Action, Change, Plan
from kathansync.settings import load_config

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SHA = "3d72684" + "0" * 33
T0 = datetime(2026, 11, 29, 15, 0, 0, tzinfo=UTC)


def update(name: str) -> Change:
    return Change("support", "assistants/support.yaml", A, Action.UPDATE, remote={"name": name})


def write(folder: Path, minutes: int, keep: int = 50, name: str = "x") -> Path:
    plan = Plan((update(name),), "http://user:pw@api.example:8080/v1/?k=secret")
    backup = write_backup(
        folder,
        plan=plan,
        changes=plan.changes,
        root=folder,
        keep=keep,
        now=T0 + timedelta(minutes=minutes),
    )
    return backup.path


def test_names_sort_as_time_and_history_is_oldest_first(tmp_path: Path) -> None:
    for minutes in (30, 5, 600):  # written out of order on purpose
        write(tmp_path, minutes)
    whens = [b.data["when"] for b in list_backups(tmp_path)]
    assert whens == ["2026-11-29T15:05:00Z", "2026-11-29T15:30:00Z", "2026-11-30T01:00:00Z"]


def test_retention_keeps_the_newest_n(tmp_path: Path) -> None:
    paths = [write(tmp_path, minutes, keep=3, name=str(minutes)) for minutes in range(5)]
    (tmp_path / "notes.txt").write_text("not ours: never deleted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in paths[2:]] + ["notes.txt", ".gitignore"]  # files not ours are kept
    )
    assert prune_backups(tmp_path, 1) == paths[2:4]
    assert [b.entries[0]["remote"]["name"] for b in list_backups(tmp_path)] == ["4"]


def test_a_backup_holds_no_credentials_of_the_url(tmp_path: Path) -> None:
    backup = load_backup(write(tmp_path, 0))
    assert backup.data["api_url"] == "http://api.example:8080/v1"
    assert "pw" not in backup.path.read_text() and "secret" not in backup.path.read_text()
    assert public_url("https://api.staging.kathan.tech/") == "https://api.staging.kathan.tech"
    assert public_url("http://k:s@[::1]:8787/") == "http://[::1]:8787"


def test_find_by_short_id_prefix_file_name_or_path(tmp_path: Path) -> None:
    backup = load_backup(write(tmp_path, 0))
    assert find_backup(tmp_path, backup.id).path == backup.path
    assert find_backup(tmp_path, backup.id[:4]).path == backup.path
    assert find_backup(tmp_path, backup.path.name).path == backup.path
    assert find_backup(Path("elsewhere"), str(backup.path)).path == backup.path


def test_find_mistakes_are_clear(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no backups in"):
        find_backup(tmp_path, "abc123")
    first, second = (load_backup(write(tmp_path, m)) for m in (0, 1))
    with pytest.raises(BackupError, match="history` lists them"):
        find_backup(tmp_path, "zzzzzz")
    with pytest.raises(BackupError, match="names several backups"):
        find_backup(tmp_path, "")
    assert {first.id, second.id} == {b.id for b in list_backups(tmp_path)}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not a readable kathansync backup"),
        ('{"kind": "kathansync-plan"}', "not a kathansync backup"),
        ('{"kind": "kathansync-backup", "format_version": "9"}', "format '9' is not supported"),
        ('{"kind": "kathansync-backup", "format_version": "1"}', "incomplete or was edited"),
    ],
)
def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BackupError, match=message):
        load_backup(path)


def test_git_state_from_a_branch_with_a_loose_ref(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    (tmp_path / "sub").mkdir()
    assert git_state(tmp_path / "sub") == GitState(SHA, "main")


def test_git_state_from_packed_refs_in_a_linked_worktree(tmp_path: Path) -> None:
    common = tmp_path / "main" / ".git"
    linked = common / "worktrees" / "wt"
    linked.mkdir(parents=True)
    (common / "packed-refs").write_text(f"# pack-refs with: peeled\n{SHA} refs/heads/wip/x\n")
    (linked / "HEAD").write_text("ref: refs/heads/wip/x\n")
    (linked / "commondir").write_text("../..\n")
    tree = tmp_path / "wt"
    tree.mkdir()
    (tree / ".git").write_text(f"gitdir: {linked}\n")
    assert git_state(tree) == GitState(SHA, "wip/x")


def test_git_state_detached_unborn_and_outside(tmp_path: Path) -> None:
    git = tmp_path / "repo" / ".git"
    git.mkdir(parents=True)
    (git / "HEAD").write_text(SHA + "\n")
    assert git_state(tmp_path / "repo") == GitState(SHA, None)
    (git / "HEAD").write_text("ref: refs/heads/main\n")  # no commit yet
    assert git_state(tmp_path / "repo") == GitState(None, "main")
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_state(outside) is None


def test_the_backup_records_the_commit_and_branch(tmp_path: Path) -> None:
    git = tmp_path / ".git"
    git.mkdir()
    (git / "HEAD").write_text(SHA + "\n")
    plan = Plan((update("x"),), "http://api.example")
    taken = write_backup(tmp_path / "b2", plan=plan, changes=plan.changes, root=tmp_path, keep=5)
    assert taken.commit == SHA and taken.data["git"] == {"commit": SHA, "branch": None}


def test_config_backups_keys(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text("backups:\n  dir: /var/undo\n  keep: 7\n")
    config = load_config(tmp_path)
    assert (config.backup_dir, config.backup_keep) == ("/var/undo", 7)
    (tmp_path / "kathansync.yaml").write_text("backups:\n  keep: 0\n")
    with pytest.raises(ConfigError, match=r"kathansync\.yaml:2"):
        load_config(tmp_path)
    (tmp_path / "kathansync.yaml").write_text("api_url: http://x\n")
    assert load_config(tmp_path).backup_keep == 50


# --- recording the outcomes: only the new tail is encoded ------------------------------------


def _outcomes() -> list[Outcome]:
    return [
        Outcome("support", A, Action.UPDATE, Status.APPLIED),
        Outcome("Ünïcode ☕", "new-id-1", Action.CREATE, Status.CREATED),
        Outcome("sales", None, Action.CREATE, Status.FAILED),
        Outcome("gone", "new-id-2", Action.CREATE, Status.NOT_CONVERGED),
    ]


def test_recorded_outcomes_are_written_as_a_whole_new_encoding_would_be(tmp_path: Path) -> None:
    """The spliced file is byte for byte the whole encoding of the recorded data."""
    changes = tuple(
        Change(f"a-{n}", f"assistants/a-{n}.yaml", f"id-{n}", Action.UPDATE,
               remote={"name": f"Ä {n}", "voice": {"speed": n / 3, "tags": ["x", None]}})
        for n in range(3)
    )  # fmt: skip
    plan = Plan(changes, "http://api.example")
    backup = write_backup(tmp_path, plan=plan, changes=changes, root=tmp_path, keep=5, now=T0)
    assert backup.text == backup.path.read_text(encoding="utf-8")
    recorded = record_outcomes(backup, _outcomes(), info=pytest.fail)
    text = backup.path.read_text(encoding="utf-8")
    assert text == _encode(recorded.data)
    assert json.loads(text) == recorded.data
    assert recorded.text == text
    assert load_backup(backup.path).created == [
        {"handle": "Ünïcode ☕", "id": "new-id-1"},
        {"handle": "gone", "id": "new-id-2"},
    ]
    assert list(json.loads(text)) == [*backup.data, "outcomes"]


def test_outcomes_recorded_on_a_backup_read_back_encode_it_whole(tmp_path: Path) -> None:
    path = write(tmp_path, 0)
    recorded = record_outcomes(load_backup(path), _outcomes(), info=pytest.fail)
    text = path.read_text(encoding="utf-8")
    assert text == _encode(recorded.data)
    assert json.loads(text)["outcomes"]["support"] == "applied"


def test_a_backup_reads_back_as_written_one_assistant_a_line(tmp_path: Path) -> None:
    remote = {"name": 'Ä "q"\n2', "voice": {"speed": 0.1 + 0.2, "x": [None, True, {}]}, "e": []}
    changes = tuple(
        Change(f"a-{n}", f"a-{n}.yaml", f"id-{n}", Action.UPDATE, remote=remote) for n in range(3)
    )
    plan = Plan(changes, "http://api.example", environment="prod")
    backup = write_backup(tmp_path, plan=plan, changes=changes, root=tmp_path, keep=5, now=T0)
    text = backup.path.read_text(encoding="utf-8")
    assert json.loads(text) == backup.data == load_backup(backup.path).data
    lines = text.splitlines()
    assert [line for line in lines if '"handle": "a-' in line] == [
        f"    {json.dumps(entry, ensure_ascii=False)}" + ("," if n < 2 else "")
        for n, entry in enumerate(backup.data["assistants"])
    ]
    assert '  "summary": {' in lines and '  "created": []' in lines


def test_a_lone_surrogate_from_the_server_is_backed_up_escaped(tmp_path: Path) -> None:
    # json.loads reads "\\udc80" from an answer; UTF-8 cannot write it: no traceback, and the
    # backup reads back with the very string the server sent.
    odd = {"name": "caf\udc80", "voice": {"speed": 1}}
    plan = Plan((Change("a", "a.yaml", A, Action.UPDATE, remote=odd),), "http://api.example")
    backup = write_backup(tmp_path, plan=plan, changes=plan.changes, root=tmp_path, keep=5)
    assert load_backup(backup.path).data["assistants"][0]["remote"] == odd
    recorded = record_outcomes(load_backup(backup.path), _outcomes(), info=pytest.fail)
    assert load_backup(backup.path).data == recorded.data
