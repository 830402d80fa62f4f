"""CLI end to end: ${VAR} secrets masked everywhere but the PUT, !file prompts, _defaults.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"

SECRET = "tok-9f8e7d6c5b4a"  # a value that must never appear in any output or file
WEBHOOK = f"https://hooks.example.com/{SECRET}"

PROMPT_REMOTE = "".join(f"Rule {n}: be kind.\n" for n in range(1, 11))
PROMPT_FILE = PROMPT_REMOTE.replace("Rule 5: be kind.", "Rule 5: be kind and brief.")

SUPPORT_YAML = f"""\
# Support line: the secret comes from the environment
id: {SUPPORT}
name: Support
system_instruction: !file prompts/support.md
call_actions:
  webhook_url: https://hooks.example.com/${{WEBHOOK_TOKEN}}
"""


@pytest.fixture
def repo(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one manifest using ${WEBHOOK_TOKEN} and a !file prompt."""
    monkeypatch.setenv("WEBHOOK_TOKEN", SECRET)
    return make_repo(
        files={
            "assistants/support.yaml": SUPPORT_YAML,
            "assistants/prompts/support.md": PROMPT_FILE,
        }
    )


@pytest.fixture
def remote(kathan_env: EmulatorServer) -> EmulatorServer:
    """The emulator holding Support with an older prompt and an older webhook."""
    kathan_env.seed(
        SUPPORT,
        name="Support",
        system_instruction=PROMPT_REMOTE,
        call_actions={"webhook_url": "https://hooks.example.com/old-token"},
    )
    return kathan_env


# --- ${VAR}: sensitive everywhere except the PUT body ----------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_secret_is_masked_in_every_plan_format(
    repo: Path, remote: EmulatorServer, fmt: str
) -> None:
    result = invoke("plan", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "(sensitive)" in result.stdout
    if fmt == "json":
        fields = {f["path"]: f for f in json.loads(result.stdout)["changes"][0]["fields"]}
        # Changed, so still listed: the reviewer knows it changed without seeing it.
        webhook = fields["call_actions.webhook_url"]
        assert (webhook["before"], webhook["after"]) == ("(sensitive)", "(sensitive)")


def test_plan_file_holds_no_secret_and_apply_sends_it(repo: Path, remote: EmulatorServer) -> None:
    planfile = repo / "plan.json"
    result = invoke("plan", "--out", str(planfile))
    assert result.exit_code == 0, result.output
    assert SECRET not in planfile.read_text()

    result = invoke("apply", str(planfile))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert remote.assistants[SUPPORT]["call_actions"]["webhook_url"] == WEBHOOK


def test_apply_sends_real_value_and_converges(repo: Path, remote: EmulatorServer) -> None:
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert remote.assistants[SUPPORT]["call_actions"]["webhook_url"] == WEBHOOK
    result = invoke("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


def test_missing_variable_names_file_line_and_variable_before_any_request(
    repo: Path, remote: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_TOKEN")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = invoke(*command)
        assert result.exit_code == 1
        assert "support.yaml:6" in result.output  # webhook_url is on line 6
        assert "WEBHOOK_TOKEN" in result.output
        assert "Traceback" not in result.output
    assert remote.stats()["total"] == 0


def test_literal_dollar_brace_is_not_a_variable(repo: Path, remote: EmulatorServer) -> None:
    manifest = repo / "assistants" / "support.yaml"
    manifest.write_text(SUPPORT_YAML + 'first_message: "Say $${name} literally"\n')
    assert invoke("apply", "--auto-approve").exit_code == 0
    assert remote.assistants[SUPPORT]["first_message"] == "Say ${name} literally"


# --- !file: prompts in their own file --------------------------------------------------------


def test_file_prompt_plans_as_line_diff_and_applies_exactly(
    repo: Path, remote: EmulatorServer
) -> None:
    result = invoke("plan")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "-Rule 5: be kind." in out
    assert "+Rule 5: be kind and brief." in out
    assert "@@ " in out  # a unified hunk header, not two blobs
    assert " Rule 2: be kind." in out  # context lines (3 around the change)
    assert "Rule 1: be kind." not in out  # beyond the context

    markdown = invoke("plan", "--format", "markdown").stdout
    assert "```diff" in markdown and "+Rule 5: be kind and brief." in markdown

    assert invoke("apply", "--auto-approve").exit_code == 0
    # Exactly the file's bytes, trailing newline included.
    assert remote.assistants[SUPPORT]["system_instruction"] == PROMPT_FILE


def test_missing_prompt_file_is_an_error_with_location(repo: Path, remote: EmulatorServer) -> None:
    (repo / "assistants" / "prompts" / "support.md").unlink()
    result = invoke("plan")
    assert result.exit_code == 1
    assert "support.yaml:4" in result.output
    assert "prompts/support.md" in result.output
    assert remote.stats()["total"] == 0


# --- _defaults.yaml --------------------------------------------------------------------------


def test_defaults_at_two_levels_nearer_wins_and_plan_names_the_file(
    repo: Path, remote: EmulatorServer
) -> None:
    manifests = repo / "assistants"
    (manifests / "_defaults.yaml").write_text("voice:\n  language: en\n  speed: 1.0\n")
    team = manifests / "team"
    team.mkdir()
    (team / "_defaults.yaml").write_text("voice:\n  speed: 1.1\n")
    (manifests / "support.yaml").rename(team / "support.yaml")
    (team / "support.yaml").write_text(SUPPORT_YAML.replace("!file prompts/", "!file ../prompts/"))
    remote.assistants[SUPPORT]["voice"].update(language="en", speed=1)

    result = invoke("plan")
    assert result.exit_code == 0, result.output
    speed_line = next(line for line in result.stdout.splitlines() if "voice.speed" in line)
    assert "1.1" in speed_line
    assert "assistants/team/_defaults.yaml" in speed_line
    assert "voice.language" not in result.stdout  # equal to the outer default: no change

    assert invoke("apply", "--auto-approve").exit_code == 0
    assert remote.assistants[SUPPORT]["voice"]["speed"] == 1.1


def test_apply_json_and_markdown_results_mask_the_secret(
    repo: Path, remote: EmulatorServer
) -> None:
    result = invoke("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    json.loads(result.stdout)
    remote.assistants[SUPPORT]["call_actions"]["webhook_url"] = "https://hooks.example.com/x"
    result = invoke("apply", "--auto-approve", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


def test_pull_leaves_variable_and_file_values_in_place(repo: Path, remote: EmulatorServer) -> None:
    assert invoke("apply", "--auto-approve").exit_code == 0
    remote.assistants[SUPPORT]["call_actions"]["webhook_url"] = "https://hooks.example.com/new"
    remote.assistants[SUPPORT]["system_instruction"] = "Rewritten in the dashboard.\n"
    manifest = repo / "assistants" / "support.yaml"

    result = invoke("pull")
    assert result.exit_code == 0, result.output
    assert "not pulled" in result.stdout
    assert SECRET not in result.output and "hooks.example.com/new" not in result.output
    assert manifest.read_text() == SUPPORT_YAML  # ${...} and !file kept as written
    assert (repo / "assistants" / "prompts" / "support.md").read_text() == PROMPT_FILE

    result = invoke("pull", "--write-files")
    assert result.exit_code == 0, result.output
    assert manifest.read_text() == SUPPORT_YAML
    prompt = repo / "assistants" / "prompts" / "support.md"
    assert prompt.read_text() == "Rewritten in the dashboard.\n"
