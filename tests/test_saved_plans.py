"""Saved plans never apply what the reviewer did not see: deletes, adoptions, and what moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

from kathansync.emulator import EmulatorServer

A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
B = "3115faf9-c94c-4b85-83de-fee57eb0657f"


def write(repo: Path, handle: str, text: str) -> Path:
    path = repo / "assistants" / f"{handle}.yaml"
    path.write_text(text)
    return path


def test_a_delete_is_refused_when_the_assistant_was_edited_since_the_plan(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support")
    kathan_env.seed(B, name="Old line")
    write(repo, "support", f"id: {A}\nname: Support\n")
    assert invoke("plan", "--prune", "--out", "plan.json").exit_code == 0
    kathan_env.seed(B, name="New VIP line")  # someone revived it in the dashboard
    result = invoke("apply", "plan.json")
    assert result.exit_code == 1
    assert "stale" in result.output and "name" in result.output
    assert B in kathan_env.assistants
    assert kathan_env.stats()["methods"].get("DELETE", 0) == 0


def test_a_reviewed_delete_is_applied(repo: Path, kathan_env: EmulatorServer) -> None:
    kathan_env.seed(A, name="Support")
    kathan_env.seed(B, name="Old line")
    write(repo, "support", f"id: {A}\nname: Support\n")
    assert invoke("plan", "--prune", "--out", "plan.json").exit_code == 0
    result = invoke("apply", "plan.json")
    assert result.exit_code == 0, result.output
    assert B not in kathan_env.assistants


def test_prune_cannot_be_narrowed_by_target(repo: Path, kathan_env: EmulatorServer) -> None:
    kathan_env.seed(A, name="Support")
    kathan_env.seed(B, name="Sales")
    write(repo, "support", f"id: {A}\nname: Support\n")
    write(repo, "sales", "name: Sales\n")  # manages B by name (adoption)
    assert "0 to delete" in invoke("plan", "--prune").stdout
    result = invoke("apply", "--prune", "--target", "support", "--auto-approve")
    assert result.exit_code == 1
    assert "--target" in result.output
    assert B in kathan_env.assistants


def test_an_adoption_in_a_saved_plan_is_refused_when_the_name_moved(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support")
    kathan_env.seed(B, name="Other")
    path = write(repo, "support", "# our support line\nname: Support\n")
    plan = invoke("plan", "--format", "json", "--out", "plan.json")
    assert json.loads(plan.stdout)["changes"][0]["adopted"] is True
    kathan_env.seed(A, name="Renamed")
    kathan_env.seed(B, name="Support")  # now B would be adopted: not what was reviewed
    result = invoke("apply", "plan.json")
    assert result.exit_code == 1
    assert "stale" in result.output
    assert B not in path.read_text() and A not in path.read_text()


def test_stale_message_names_only_the_fields_that_moved(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    kathan_env.seed(A, name="Support", first_message="Hi", voice={"speed": 1})
    write(repo, "support", f"id: {A}\nname: Support\nfirst_message: Hello\nvoice:\n  speed: 1\n")
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    kathan_env.assistants[A]["voice"]["speed"] = 1.2
    result = invoke("apply", "plan.json", "--format", "json")
    assert result.exit_code == 1
    (outcome,) = json.loads(result.stdout)["outcomes"]
    assert outcome["status"] == "stale"
    assert outcome["paths"] == ["voice.speed"]


def test_an_interpolated_name_never_shows_in_an_adoption_error(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_NAME", "s3cr3t-VALUE-xyz")
    kathan_env.seed(A, name="s3cr3t-VALUE-xyz")
    kathan_env.seed(B, name="s3cr3t-VALUE-xyz")
    write(repo, "support", "name: ${SECRET_NAME}\n")
    result = invoke("plan")
    assert result.exit_code == 1
    assert "2 remote assistants are named (sensitive)" in result.output
    assert "s3cr3t" not in result.output
