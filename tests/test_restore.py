"""restore: apply -> restore puts back every field, shown as a plan, refused when stale."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MakeRepo, invoke
from test_client import assistant, make_client

from kathansync.backup.files import list_backups
from kathansync.backup.restoring import fetch_current
from kathansync.emulator import EmulatorServer

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
B = "3115faf9-c94c-4b85-83de-fee57eb0657f"


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="manifests: assistants\n")


def write(repo: Path, handle: str, text: str) -> Path:
    path = repo / "assistants" / f"{handle}.yaml"
    path.write_text(text)
    return path


def without_id(assistant: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in assistant.items() if k != "id"}


def latest_id(repo: Path) -> str:
    return list_backups(repo / ".kathansync" / "backups")[-1].id


@pytest.fixture
def applied(repo: Path, kathan_env: EmulatorServer) -> dict[str, dict[str, Any]]:
    """An apply that updated A (managed and, through a whole object, unmanaged fields), pruned
    B, and created `new`; returns the remote as it was before."""
    kathan_env.seed(
        A,
        name="Support",
        description="Tuned by hand",
        system_instruction="Be kind.",
        voice={"voice_id": "v-1", "speed": 1.1},
        call_actions={"webhook_url": "https://hooks.example/t0ken-abc", "transfer_mode": "cold"},
    )
    kathan_env.seed(B, name="Old line", first_message="Hello from B", knowledge_base_ids=["kb1"])
    before = copy.deepcopy(kathan_env.assistants)
    write(repo, "support", f"id: {A}\nname: Support\nvoice:\n  speed: 0.9\nfirst_message: Hi\n")
    write(repo, "new", "name: Brand new\nsystem_instruction: New one.\n")
    result = invoke("apply", "--prune", "--force", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert B not in kathan_env.assistants and len(kathan_env.assistants) == 2
    return before


def test_apply_then_restore_gives_back_every_field(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    result = invoke("restore", latest_id(repo), "--delete-created", "--auto-approve")
    assert result.exit_code == 0, result.output
    remote = kathan_env.assistants
    assert remote[A] == applied[A]  # updates undone, unmanaged fields as they were
    (recreated,) = [a for i, a in remote.items() if i != A]  # `new` deleted, B back
    assert without_id(recreated) == without_id(applied[B])
    assert recreated["id"] != B
    assert f"re-created with a new id {recreated['id']} (was {B})" in result.stderr
    assert "the manifests still say" in result.stderr and "next apply will redo it" in result.stderr


def test_the_restore_plan_shows_each_kind_of_change(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    result = invoke("restore", latest_id(repo), "--delete-created", "--out", "undo.json")
    assert result.exit_code == 0, result.output
    plan = json.loads(Path("undo.json").read_text())
    by_action = {c["action"]: c for c in plan["changes"]}
    assert set(by_action) == {"update", "create", "delete"}
    assert {f["path"] for f in by_action["update"]["fields"]} == {"voice.speed", "first_message"}
    assert by_action["create"]["name"] == "Old line"
    assert by_action["delete"]["handle"] == "new"
    assert "t0ken" not in Path("undo.json").read_text()
    assert kathan_env.stats()["methods"].get("PUT", 0) == 1  # only the apply's: nothing sent


def test_a_saved_restore_plan_is_refused_per_assistant_when_it_moved(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    assert (
        invoke("restore", latest_id(repo), "--out", "undo.json", "--format", "json").exit_code == 0
    )
    kathan_env.assistants[A]["voice"]["speed"] = 1.5  # someone changed it since the review
    result = invoke("apply", "undo.json", "--format", "json")
    assert result.exit_code == 1
    outcomes = {o["handle"]: o for o in json.loads(result.stdout)["outcomes"]}
    assert outcomes["support"]["status"] == "stale"
    assert outcomes["support"]["paths"] == ["voice.speed"]
    assert outcomes["support"]["message"].endswith("Run restore again.")
    assert outcomes[B]["status"] == "created"  # the other assistant is restored all the same
    assert kathan_env.assistants[A]["voice"]["speed"] == 1.5


def test_a_saved_restore_plan_applies_when_nothing_moved(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    assert (
        invoke("restore", latest_id(repo), "--target", "support", "--out", "u.json").exit_code == 0
    )
    result = invoke("apply", "u.json")
    assert result.exit_code == 0, result.output
    assert kathan_env.assistants[A] == applied[A]
    assert B not in kathan_env.assistants  # not targeted


def test_a_restore_writes_its_own_backup_first(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    first = latest_id(repo)
    assert invoke("restore", first, "--target", "support", "--auto-approve").exit_code == 0
    undo = list_backups(repo / ".kathansync" / "backups")[-1]
    assert undo.data["restore_of"] == first
    (entry,) = undo.entries
    assert entry["remote"]["voice"]["speed"] == 0.9  # the state the restore overwrote
    assert invoke("restore", undo.id, "--auto-approve").exit_code == 0  # the undo of the undo
    assert kathan_env.assistants[A]["voice"]["speed"] == 0.9


def test_restore_masks_backed_up_webhook_urls(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    kathan_env.assistants[A]["call_actions"]["webhook_url"] = "https://hooks.example/m0ved-xyz"
    result = invoke("restore", latest_id(repo), "--target", "support", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "call_actions.webhook_url" in result.output
    assert "t0ken" not in result.output and "m0ved" not in result.output
    assert kathan_env.assistants[A] == applied[A]


def test_restore_with_nothing_to_do_sends_nothing(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    first = latest_id(repo)
    assert invoke("restore", first, "--target", "support", "--auto-approve").exit_code == 0
    puts = kathan_env.stats()["methods"].get("PUT", 0)
    result = invoke("restore", first, "--target", "support", "--auto-approve")
    assert result.exit_code == 0
    assert "No changes" in result.stdout
    assert kathan_env.stats()["methods"].get("PUT", 0) == puts


def test_a_recreated_assistant_id_is_written_into_a_manifest_pointing_at_the_old_one(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    path = write(repo, "old-line", f"# kept\nid: {B}\nname: Old line\n")
    result = invoke("restore", latest_id(repo), "--target", B, "--auto-approve")
    assert result.exit_code == 0, result.output
    (new_id,) = [i for i in kathan_env.assistants if i not in (A, B)][-1:]
    assert path.read_text().startswith(f"# kept\nid: {new_id}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope12",), "no backup 'nope12'"),
        (("--target", "ghost"), "--target ghost: not in backup"),
        (("--api-url", "http://127.0.0.1:9"), "was taken against"),
    ],
)
def test_restore_mistakes_are_one_clear_line(
    repo: Path,
    kathan_env: EmulatorServer,
    applied: dict[str, dict[str, Any]],
    args: tuple[str, ...],
    message: str,
) -> None:
    ref = [] if args[0] == "nope12" else [latest_id(repo)]
    result = invoke("restore", *ref, *args, "--auto-approve")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_restore_asks_first_and_a_no_sends_nothing(
    repo: Path,
    kathan_env: EmulatorServer,
    applied: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kathansync.commands import sync

    monkeypatch.setattr(sync, "_interactive", lambda: True)
    puts = kathan_env.stats()["methods"].get("PUT", 0)
    answer = invoke("restore", latest_id(repo), input="no\n")
    assert answer.exit_code == 1
    assert "voice.speed: 0.9 -> 1.1" in answer.stdout
    assert kathan_env.stats()["methods"].get("PUT", 0) == puts
    answer = invoke("restore", latest_id(repo), "--target", "support", input="yes\n")
    assert answer.exit_code == 0, answer.output
    assert kathan_env.assistants[A] == applied[A]


def test_restore_without_a_terminal_needs_auto_approve(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    result = invoke("restore", latest_id(repo))
    assert result.exit_code == 1
    assert "--auto-approve" in result.stderr
    assert kathan_env.assistants[A] != applied[A]


def test_restore_json_output_is_the_apply_result(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    result = invoke("restore", latest_id(repo), "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    statuses = {o["handle"]: o["status"] for o in json.loads(result.stdout)["outcomes"]}
    assert statuses == {"support": "applied", B: "created"}
    assert "next apply will redo it" in result.stderr


def test_restore_needs_the_environment_the_backup_was_taken_in(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    (repo / "kathansync.yaml").write_text(
        f"environments:\n  staging: {{api_url: '{kathan_env.url}'}}\n"
    )
    result = invoke("restore", latest_id(repo), "--env", "staging", "--auto-approve")
    assert result.exit_code == 1
    assert "taken in environment None, not 'staging'" in result.stderr


def test_restore_reads_one_by_one_when_the_api_cannot_list(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    from kathansync.emulator import Fault

    kathan_env.inject(Fault(status=405, method="GET", path="/assistants"))
    result = invoke("restore", latest_id(repo), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert kathan_env.assistants[A] == applied[A]
    assert len(kathan_env.assistants) == 3  # B re-created (a 404 meant "gone"), `new` kept
    # Three ids are read one by one: the list (which would answer 405) is never asked.
    assert len(kathan_env.controls.pending()) == 1


def test_an_id_the_list_lacks_is_read_before_it_counts_as_gone() -> None:
    # A list can lag behind the API or be cut short: taking the missing id for deleted would
    # plan creating it a second time. It is asked for by itself; only a 404 means gone.
    ids = [f"3f2b8c1e-0000-4000-8000-{n:012d}" for n in range(40)]
    listed, alive, gone = ids[:38], ids[38], ids[39]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/assistants":
            offset = int(request.url.params["offset"])
            return httpx.Response(200, json=[assistant(i) for i in listed][offset : offset + 50])
        if request.url.path == f"/assistants/{alive}":
            return httpx.Response(200, json=assistant(alive))
        return httpx.Response(404, json={"detail": "Assistant not found"})

    current = fetch_current(make_client(handler), ids)
    assert current[alive] == assistant(alive)
    assert current[gone] is None
    assert all(current[i] == assistant(i) for i in listed)


def test_restore_applies_under_the_apply_lock(
    repo: Path, kathan_env: EmulatorServer, applied: dict[str, dict[str, Any]]
) -> None:
    from kathansync.state import apply_lock

    writes_before = kathan_env.stats()["methods"].get("PUT", 0)
    with apply_lock(repo / ".kathansync", "kathansync apply held-by-test"):
        result = invoke("restore", latest_id(repo), "--auto-approve")
        assert result.exit_code == 1
        assert "another apply is running on this repository" in result.stderr
        assert "held-by-test" in result.stderr
        # Planning only takes no lock; applying the saved plan waits like any apply.
        assert invoke("restore", latest_id(repo), "--out", "undo.json").exit_code == 0
        result = invoke("apply", "undo.json")
        assert result.exit_code == 1
        assert "another apply is running on this repository" in result.stderr
    assert kathan_env.stats()["methods"].get("PUT", 0) == writes_before
    assert kathan_env.assistants[A] != applied[A]
    assert invoke("apply", "undo.json").exit_code == 0  # once the other apply is done
    assert kathan_env.assistants[A] == applied[A]
