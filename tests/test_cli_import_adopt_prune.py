"""CLI end to end: import, pull, create with id write-back, adoption by name, careful pruning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

from kathansync.emulator import EmulatorServer

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SALES = "3115faf9-c94c-4b85-83de-fee57eb0657f"
HOURS = "7d1c55a2-5b7e-4c1f-9e0b-2f6d3c1a9b10"
EXTRA = "9a8b7c6d-0000-4000-8000-00000000000e"


@pytest.fixture
def three(kathan_env: EmulatorServer) -> EmulatorServer:
    """The emulator with three assistants built in the dashboard."""
    kathan_env.seed(SUPPORT, name="Acme Support", voice={"speed": 1.05})
    kathan_env.seed(SALES, name="Sales Line", system_instruction="Sell.\nPolitely.\n")
    kathan_env.seed(HOURS, name="After Hours", description=None)
    return kathan_env


def count(emulator: EmulatorServer, method: str) -> int:
    return int(emulator.stats()["methods"].get(method, 0))


def manifest_with_id(repo: Path, assistant_id: str) -> Path:
    """The manifest file whose text holds this id."""
    files = [p for p in (repo / "assistants").rglob("*.yaml") if assistant_id in p.read_text()]
    assert len(files) == 1, files
    return files[0]


# --- import and pull -------------------------------------------------------------------------


def test_import_all_then_plan_is_clean(repo: Path, three: EmulatorServer) -> None:
    result = invoke("import", "--all")
    assert result.exit_code == 0, result.output
    files = sorted((repo / "assistants").glob("*.yaml"))
    assert len(files) == 3
    for assistant_id in (SUPPORT, SALES, HOURS):
        text = manifest_with_id(repo, assistant_id).read_text()
        assert text.startswith("# yaml-language-server: $schema=")
        assert text.splitlines()[1] == f"id: {assistant_id}"

    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout
    assert count(three, "PUT") == 0

    # A second import writes nothing new and overwrites nothing.
    before = {p: p.read_text() for p in files}
    result = invoke("import", "--all")
    assert result.exit_code == 0, result.output
    assert {p: p.read_text() for p in (repo / "assistants").glob("*.yaml")} == before


def test_pull_takes_remote_change_keeps_comments_and_plan_is_clean(
    repo: Path, three: EmulatorServer
) -> None:
    assert invoke("import", "--all").exit_code == 0
    support = manifest_with_id(repo, SUPPORT)
    commented = "# Owned by the support team\n" + support.read_text()
    commented = commented.replace("name: Acme Support", "name: Acme Support  # shown to callers")
    support.write_text(commented)

    three.assistants[SUPPORT]["voice"]["speed"] = 1.2  # a deliberate dashboard edit
    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output

    result = invoke("pull")
    assert result.exit_code == 0, result.output
    assert "voice.speed" in result.stdout
    pulled = support.read_text()
    assert "# Owned by the support team\n" in pulled
    assert "name: Acme Support  # shown to callers\n" in pulled
    # Only the changed line differs.
    changed = [
        (old, new)
        for old, new in zip(commented.splitlines(), pulled.splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 1 and "1.2" in changed[0][1], changed

    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


# --- create ----------------------------------------------------------------------------------

NEW_YAML = """\
# A brand new line, not yet created
name: Billing  # the caller hears this
description: Questions about invoices
voice:
  speed: 1.1
"""


def test_create_posts_writes_id_with_comments_and_next_plan_is_clean(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    manifest = repo / "assistants" / "billing.yaml"
    manifest.write_text(NEW_YAML)

    result = invoke("plan")
    assert result.exit_code == 0, result.output
    assert "+ billing" in result.stdout
    assert "name" in result.stdout and "Billing" in result.stdout
    assert "Questions about invoices" in result.stdout
    assert "1 to create" in result.stdout
    assert count(kathan_env, "POST") == 0

    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert count(kathan_env, "POST") == 1
    (created_id,) = kathan_env.assistants
    created = kathan_env.assistants[created_id]
    assert (created["name"], created["voice"]["speed"]) == ("Billing", 1.1)

    text = manifest.read_text()
    assert f"id: {created_id}" in text
    for line in NEW_YAML.splitlines():
        assert line + "\n" in text  # every line of the user's file kept as written

    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout
    assert count(kathan_env, "POST") == 1


# --- adoption by name ------------------------------------------------------------------------


def test_same_name_adopts_instead_of_creating(repo: Path, three: EmulatorServer) -> None:
    manifest = repo / "assistants" / "sales.yaml"
    manifest.write_text(
        "# Sales, already in the dashboard\nname: Sales Line\nvoice:\n  speed: 1.3\n"
    )

    result = invoke("plan")
    assert result.exit_code == 0, result.output
    assert SALES in result.output
    assert "adopt" in result.output
    assert "0 to create" in result.stdout

    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert count(three, "POST") == 0
    assert len(three.assistants) == 3
    assert three.assistants[SALES]["voice"]["speed"] == 1.3
    text = manifest.read_text()
    assert SALES in text and text.startswith("# Sales, already in the dashboard\n")

    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


def test_two_remotes_with_the_name_ask_for_an_explicit_id(
    repo: Path, three: EmulatorServer
) -> None:
    three.seed(EXTRA, name="Sales Line")
    (repo / "assistants" / "sales.yaml").write_text("name: Sales Line\n")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = invoke(*command)
        assert result.exit_code == 1
        assert "id" in result.output
        assert SALES in result.output and EXTRA in result.output
        assert "Traceback" not in result.output
    assert count(three, "POST") == count(three, "PUT") == 0


# --- prune -----------------------------------------------------------------------------------


def keep_support(repo: Path) -> None:
    (repo / "assistants" / "support.yaml").write_text(f"id: {SUPPORT}\nname: Acme Support\n")


def test_prune_lists_deletes_with_name_and_id_then_deletes(
    repo: Path, three: EmulatorServer
) -> None:
    keep_support(repo)
    (repo / "assistants" / "sales.yaml").write_text(f"id: {SALES}\nname: Sales Line\n")

    # Never deletes without --prune.
    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert invoke("apply", "--auto-approve").exit_code == 0
    assert count(three, "DELETE") == 0

    result = invoke("plan", "--prune")
    assert result.exit_code == 0, result.output
    assert "After Hours" in result.stdout and HOURS in result.stdout
    assert "1 to delete" in result.stdout

    plan = json.loads(invoke("plan", "--prune", "--format", "json").stdout)
    deletes = [c for c in plan["changes"] if c["action"] == "delete"]
    assert [(c["id"], c.get("name")) for c in deletes] == [(HOURS, "After Hours")]
    assert plan["summary"]["delete"] == 1

    result = invoke("apply", "--prune", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert count(three, "DELETE") == 1
    assert set(three.assistants) == {SUPPORT, SALES}


def test_prune_past_threshold_refused_without_force(repo: Path, three: EmulatorServer) -> None:
    three.seed(EXTRA, name="Old Pilot")
    keep_support(repo)  # 3 of 4 remotes (75 %) would go

    for command in (["plan", "--prune"], ["apply", "--prune", "--auto-approve"]):
        result = invoke(*command)
        assert result.exit_code == 1
        assert "--force" in result.output
        assert "Traceback" not in result.output
    assert count(three, "DELETE") == 0

    result = invoke("plan", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert "3 to delete" in result.stdout
    result = invoke("apply", "--prune", "--force", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert set(three.assistants) == {SUPPORT}
    assert count(three, "DELETE") == 3


def test_adoption_is_visible_in_text_and_markdown_plans(repo: Path, three: EmulatorServer) -> None:
    """An adoption writes an id into the manifest, so the plan a reviewer reads must say so.

    A name-only manifest adopting a remote has no field change: the plan once said "No
    changes." while --detailed-exitcode exited 2, and only a --quiet-silenced stderr remark
    mentioned the adoption.
    """
    (repo / "assistants" / "sales.yaml").write_text("name: Sales Line\n")
    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    for fmt in ("text", "markdown"):
        out = invoke("plan", "--quiet", "--format", fmt).stdout
        assert "adopt" in out.lower(), out
        assert SALES in out
        assert "No changes." not in out, out


def test_import_dedupes_handles_and_never_overwrites(repo: Path, three: EmulatorServer) -> None:
    three.seed(EXTRA, name="Sales Line")
    mine = repo / "assistants" / "sales-line.yaml"
    mine.write_text("# mine\nname: Other\n")
    result = invoke("import", SALES, EXTRA)
    assert result.exit_code == 0, result.output
    assert mine.read_text() == "# mine\nname: Other\n"
    names = {manifest_with_id(repo, i).name for i in (SALES, EXTRA)}
    assert names == {"sales-line-2.yaml", "sales-line-3.yaml"}


def test_import_checks_ids_before_any_request(repo: Path, three: EmulatorServer) -> None:
    result = invoke("import", "not-a-uuid")
    assert result.exit_code == 1
    assert "not an assistant id" in result.output
    assert three.stats()["total"] == 0
