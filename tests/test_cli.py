"""CLI: every exit code and the whole pipeline, via click against the emulator on a free port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo, invoke

from kathansync.commands import sync

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SALES = "3115faf9-c94c-4b85-83de-fee57eb0657f"

SUPPORT_YAML = f"""\
# Support line
id: {SUPPORT}
name: Support
description: null
voice:
  speed: 1.05
call_actions:
  transfer_mode: warm
"""

SALES_YAML = f"""\
id: {SALES}
name: Sales
"""


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    """A repository with two manifests, the working directory of every command."""
    return make_repo(
        files={"assistants/support.yaml": SUPPORT_YAML, "assistants/sales.yaml": SALES_YAML}
    )


@pytest.fixture
def remote(emulator: Any, kathan_env: None) -> Any:
    """The emulator holding both assistants, differing from the manifests in a few leaves."""
    emulator.seed(
        SUPPORT,
        name="Support",
        description="Old description",
        voice={"voice_id": "keep-me", "tts_provider": "cartesia", "speed": 1},
        call_actions={"transfer_mode": "cold", "transfer_number": "+15550100", "enabled": True},
    )
    emulator.seed(SALES, name="Sales")
    return emulator


def puts(emulator: Any) -> int:
    return int(emulator.stats()["methods"].get("PUT", 0))


def requests(emulator: Any) -> int:
    return int(emulator.stats()["total"])


# --- exit codes ------------------------------------------------------------------------------


def test_usage_errors_exit_1_not_2(repo: Path) -> None:
    result = invoke("plan", "--no-such-flag")
    assert result.exit_code == 1
    assert "No such option" in result.output


def test_version_and_help_exit_0() -> None:
    assert invoke("--version").exit_code == 0
    for command in ("validate", "plan", "apply"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.output


def test_validate_ok_and_error(repo: Path) -> None:
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert "2 manifest(s) valid" in result.stdout
    (repo / "assistants" / "support.yaml").write_text(SUPPORT_YAML + "voice_sped: 1\n")
    result = invoke("validate")
    assert result.exit_code == 1
    assert "support.yaml:9:1" in result.output
    assert "voice" in result.output and "did you mean" in result.output


def test_missing_credentials_named_before_any_request(
    repo: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KATHAN_API_URL", emulator.url)
    monkeypatch.delenv("KATHAN_API_KEY", raising=False)
    monkeypatch.setenv("KATHAN_USER_ID", "someone")
    result = invoke("plan")
    assert result.exit_code == 1
    assert "KATHAN_API_KEY" in result.output
    assert requests(emulator) == 0


def test_invalid_manifest_sends_nothing(repo: Path, remote: Any) -> None:
    (repo / "assistants" / "sales.yaml").write_text(SALES_YAML + "voice: {speed: fast}\n")
    before = requests(remote)
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = invoke(*command)
        assert result.exit_code == 1
        assert "sales.yaml:3" in result.output
    assert requests(remote) == before


def test_plan_detailed_exitcode(repo: Path, remote: Any) -> None:
    assert invoke("plan").exit_code == 0
    assert invoke("plan", "--detailed-exitcode").exit_code == 2
    assert invoke("apply", "--auto-approve").exit_code == 0
    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0
    assert "No changes." in result.stdout


def test_unknown_target_is_an_error(repo: Path, remote: Any) -> None:
    result = invoke("plan", "--target", "suport")
    assert result.exit_code == 1
    assert "support" in result.output  # did you mean


def test_unknown_id_names_handle_and_status(repo: Path, remote: Any) -> None:
    del remote.assistants[SALES]
    result = invoke("plan")
    assert result.exit_code == 1
    assert "sales" in result.output and "404" in result.output
    assert "Traceback" not in result.output


def test_unreachable_api_is_one_clean_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KATHAN_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("KATHAN_API_KEY", "sk-test-secret-key")
    monkeypatch.setenv("KATHAN_USER_ID", "user")
    result = invoke("plan", "--max-retries", "0")
    assert result.exit_code == 1
    # One line for the shared failure, naming the URL and why: not one per assistant.
    assert result.stderr == (
        "Error: could not read the remote state:\n"
        "  all 2 assistants: cannot reach http://127.0.0.1:9: connection refused\n"
    )
    assert "sk-test-secret-key" not in result.output
    assert "Traceback" not in result.output


# --- plan output -----------------------------------------------------------------------------


def test_plan_json_is_the_documented_format(repo: Path, remote: Any) -> None:
    result = invoke("plan", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["format_version"] == "1"
    assert data["summary"] == {"create": 0, "update": 1, "delete": 0, "no_op": 1}
    by_handle = {c["handle"]: c for c in data["changes"]}
    assert by_handle["sales"]["action"] == "no-op"
    support = by_handle["support"]
    assert support["file"].endswith("support.yaml") and support["id"] == SUPPORT
    assert {f["path"] for f in support["fields"]} == {
        "description",
        "voice.speed",
        "call_actions.transfer_mode",
    }
    assert set(support["payload"]) == {"description", "voice", "call_actions"}


def test_plan_text(repo: Path, remote: Any) -> None:
    result = invoke("plan", "--no-color")
    assert result.exit_code == 0
    assert "support" in result.stdout
    assert "voice.speed" in result.stdout
    assert "Plan: 0 to create, 1 to update, 0 to delete, 1 unchanged." in result.stdout
    assert "\x1b[" not in result.stdout


# --- apply -----------------------------------------------------------------------------------


def test_apply_sends_minimal_whole_objects_and_converges(repo: Path, remote: Any) -> None:
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    stored = remote.assistants[SUPPORT]
    assert stored["voice"]["speed"] == pytest.approx(1.05)
    # The manifest manages voice.speed only: the emulator replaces nested objects, so the
    # sibling survives only because the client sent the whole object.
    assert stored["voice"]["voice_id"] == "keep-me"
    assert stored["call_actions"]["transfer_number"] == "+15550100"
    assert stored["call_actions"]["transfer_mode"] == "warm"
    assert stored["description"] is None, "explicit null clears"
    assert puts(remote) == 1, "sales has no change and gets no request"
    assert "No changes." in invoke("plan").stdout


def test_apply_without_terminal_refuses(repo: Path, remote: Any) -> None:
    result = invoke("apply")
    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert puts(remote) == 0


def test_apply_asks_for_yes(repo: Path, remote: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync, "_interactive", lambda: True)
    result = invoke("apply", input="no\n")
    assert result.exit_code == 1
    assert puts(remote) == 0
    result = invoke("apply", input="yes\n")
    assert result.exit_code == 0, result.output
    assert puts(remote) == 1


def test_apply_failure_of_one_does_not_stop_others(repo: Path, remote: Any) -> None:
    (repo / "assistants" / "sales.yaml").write_text(SALES_YAML.replace("Sales", "Sales 2"))
    remote.inject({"status": 422, "method": "PUT", "path": f"/assistants/{SALES}"})
    result = invoke("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 1
    outcomes = {o["handle"]: o for o in json.loads(result.stdout)["outcomes"]}
    assert outcomes["sales"]["status"] == "failed"
    assert outcomes["sales"]["http_status"] == 422
    assert outcomes["support"]["status"] == "applied"


# --- saved plans -----------------------------------------------------------------------------


def test_saved_plan_applies_without_prompt(repo: Path, remote: Any) -> None:
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    result = invoke("apply", "plan.json")
    assert result.exit_code == 0, result.output
    assert remote.assistants[SUPPORT]["voice"]["speed"] == pytest.approx(1.05)
    result = invoke("plan", "--out", "clean.json")
    assert invoke("apply", "clean.json").exit_code == 0
    assert puts(remote) == 1


def test_saved_plan_stale_remote_sends_nothing_for_it(repo: Path, remote: Any) -> None:
    (repo / "assistants" / "sales.yaml").write_text(SALES_YAML.replace("Sales", "Sales 2"))
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    remote.assistants[SUPPORT]["voice"]["speed"] = 1.2  # edited in the dashboard
    result = invoke("apply", "plan.json")
    assert result.exit_code == 1
    assert "stale" in result.output and "support" in result.output
    assert "remote" in result.output and "voice.speed" in result.output
    assert remote.assistants[SUPPORT]["voice"]["speed"] == 1.2
    assert remote.assistants[SALES]["name"] == "Sales 2", "the other assistant proceeds"
    assert puts(remote) == 1


def test_saved_plan_stale_manifest(repo: Path, remote: Any) -> None:
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    path = repo / "assistants" / "support.yaml"
    path.write_text(path.read_text().replace("1.05", "1.5"))
    result = invoke("apply", "plan.json")
    assert result.exit_code == 1
    assert "stale" in result.output and "manifest" in result.output
    assert puts(remote) == 0


def test_saved_plan_from_other_api_refused(
    repo: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    monkeypatch.setenv("KATHAN_API_URL", "http://127.0.0.1:9")
    result = invoke("apply", "plan.json")
    assert result.exit_code == 1
    assert "made against" in result.output


def test_validate_checks_every_environment_without_env(repo: Path) -> None:
    (repo / "kathansync.yaml").write_text(
        "environments:\n"
        "  staging:\n"
        "    vars:\n"
        "      HOOK: https://hooks.example/staging\n"
        "  production:\n"
        "    vars: {}\n"
    )
    (repo / "assistants" / "sales.yaml").write_text(
        f"id: {{staging: {SALES}, production: {SUPPORT.replace('3', '4')}}}\n"
        "name: Sales\n"
        "call_actions:\n"
        "  webhook_url: ${HOOK}\n"
    )
    result = invoke("validate")
    assert result.exit_code == 1
    assert "HOOK" in result.output and "sales.yaml:4" in result.output
    assert "environments: production, staging" in result.output
    assert "https://hooks.example" not in result.output
    result = invoke("validate", "--env", "staging")
    assert result.exit_code == 0, result.output


def test_unwritable_plan_file_is_a_clean_error(repo: Path, remote: Any) -> None:
    result = invoke("plan", "--out", "no/such/dir/plan.json")
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output


def test_annotations_only_in_github_actions(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "assistants" / "sales.yaml").write_text(SALES_YAML + "voice: {speed: fast}\n")
    monkeypatch.setenv("KATHAN_API_KEY", "k")
    monkeypatch.setenv("KATHAN_USER_ID", "u")
    assert "::error" not in invoke("plan").output
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert "::error file=" in invoke("plan").output


def test_timeout_and_retries_are_options(repo: Path, remote: Any) -> None:
    remote.inject({"delay_ms": 1500, "method": "GET", "path": f"/assistants/{SALES}"})
    result = invoke("plan", "--timeout", "0.2", "--max-retries", "0")
    assert result.exit_code == 1
    assert "sales" in result.output and "timed out after 0.2 s" in result.output
    assert remote.stats()["methods"]["GET"] == 2, "one GET each: --max-retries 0 is one try"


def test_prune_reuses_the_list_instead_of_fetching_again(repo: Path, remote: Any) -> None:
    result = invoke("plan", "--prune")
    assert result.exit_code == 0, result.output
    # One list walk serves prune and diff: a short first page, then the page past it (a server
    # may cap `limit`, see remote/paging.py).
    assert remote.stats()["methods"] == {"GET": 2}, "one list walk serves prune and diff"


def test_a_chosen_environment_url_beats_an_exported_one(
    repo: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "kathansync.yaml").write_text(
        f"api_url: http://127.0.0.1:9\nenvironments:\n  local:\n    api_url: {remote.url}\n"
    )
    monkeypatch.setenv("KATHAN_API_URL", "http://127.0.0.1:9")  # left over from another shell
    result = invoke("plan", "--env", "local")
    assert result.exit_code == 0, result.output
    assert remote.url in result.stdout and "(environment: local)" in result.stdout
    monkeypatch.delenv("KATHAN_API_URL")
    monkeypatch.setenv("KATHAN_API_URL", remote.url)
    assert invoke("plan").exit_code == 0, "without --env the variable beats the file's default"


def test_an_id_that_cannot_be_written_back_is_reported_after_the_outcomes(
    repo: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kathansync.writeback

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kathansync.writeback, "write_id", disk_full)
    (repo / "assistants" / "new.yaml").write_text("name: Brand new\n")
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "created  new" in result.stdout, "what happened remotely is shown first"
    assert "could not write id" in result.stderr and "No space left" in result.stderr


def test_a_change_made_while_the_prompt_waits_is_refused_as_stale(
    repo: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answer_later(*args: Any, **kwargs: Any) -> str:
        remote.assistants[SUPPORT]["voice"]["speed"] = 1.3  # edited in the dashboard meanwhile
        return "yes"

    monkeypatch.setattr(sync, "_interactive", lambda: True)
    monkeypatch.setattr(sync.click, "prompt", answer_later)
    result = invoke("apply")
    assert result.exit_code == 1
    assert "stale" in result.output and "voice.speed" in result.output
    assert puts(remote) == 0
    assert remote.assistants[SUPPORT]["voice"]["speed"] == 1.3


def test_failures_alike_are_reported_once_with_a_hint(
    repo: Path, remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KATHAN_API_URL", "http://127.0.0.1:9")
    result = invoke("plan", "--max-retries", "0")
    assert result.exit_code == 1
    assert "all 2 assistants: cannot reach http://127.0.0.1:9" in result.output
    remote.assistants.clear()
    monkeypatch.setenv("KATHAN_API_URL", remote.url)
    result = invoke("plan")
    assert "is the API URL right?" in result.output


def test_github_format_annotates_warnings_too(repo: Path, remote: Any) -> None:
    (repo / "assistants" / "sales.yaml").write_text(
        SALES_YAML + "speech_settings:\n  style: profesional\n"
    )
    result = invoke("plan", "--format", "github")
    assert result.exit_code == 0
    assert "::warning file=assistants/sales.yaml,line=4" in result.output


def test_a_misspelt_environment_in_an_id_mapping_is_an_error(repo: Path) -> None:
    (repo / "kathansync.yaml").write_text("environments:\n  staging: {}\n  production: {}\n")
    (repo / "assistants" / "sales.yaml").write_text(
        f"id:\n  stagng: {SALES}\n  production: {SUPPORT}\nname: Sales\n"
    )
    (repo / "assistants" / "support.yaml").unlink()
    result = invoke("validate", "--env", "production")
    assert result.exit_code == 1
    assert "sales.yaml:2:3" in result.output and "staging" in result.output
