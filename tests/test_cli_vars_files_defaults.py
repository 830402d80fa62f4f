"""CLI end to end (issue 5): ${VAR} secrets, !file prompts, _defaults.yaml and environments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from kathansync.cli import cli
from kathansync.emulator import EmulatorServer

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
STAGING_ID = "0b0c3f6e-1111-4000-8000-000000000001"
PRODUCTION_ID = "0b0c3f6e-2222-4000-8000-000000000002"

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
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one manifest using ${WEBHOOK_TOKEN} and a !file prompt."""
    manifests = tmp_path / "assistants"
    (manifests / "prompts").mkdir(parents=True)
    (manifests / "support.yaml").write_text(SUPPORT_YAML)
    (manifests / "prompts" / "support.md").write_text(PROMPT_FILE)
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEBHOOK_TOKEN", SECRET)
    return tmp_path


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


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


# --- ${VAR}: sensitive everywhere except the PUT body ----------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_secret_is_masked_in_every_plan_format(
    repo: Path, remote: EmulatorServer, fmt: str
) -> None:
    result = run("plan", "--format", fmt)
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
    result = run("plan", "--out", str(planfile))
    assert result.exit_code == 0, result.output
    assert SECRET not in planfile.read_text()

    result = run("apply", str(planfile))
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert remote.assistants[SUPPORT]["call_actions"]["webhook_url"] == WEBHOOK


def test_apply_sends_real_value_and_converges(repo: Path, remote: EmulatorServer) -> None:
    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert remote.assistants[SUPPORT]["call_actions"]["webhook_url"] == WEBHOOK
    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


def test_missing_variable_names_file_line_and_variable_before_any_request(
    repo: Path, remote: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_TOKEN")
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = run(*command)
        assert result.exit_code == 1
        assert "support.yaml:6" in result.output  # webhook_url is on line 6
        assert "WEBHOOK_TOKEN" in result.output
        assert "Traceback" not in result.output
    assert remote.stats()["total"] == 0


def test_literal_dollar_brace_is_not_a_variable(repo: Path, remote: EmulatorServer) -> None:
    manifest = repo / "assistants" / "support.yaml"
    manifest.write_text(SUPPORT_YAML + 'first_message: "Say $${name} literally"\n')
    assert run("apply", "--auto-approve").exit_code == 0
    assert remote.assistants[SUPPORT]["first_message"] == "Say ${name} literally"


# --- !file: prompts in their own file --------------------------------------------------------


def test_file_prompt_plans_as_line_diff_and_applies_exactly(
    repo: Path, remote: EmulatorServer
) -> None:
    result = run("plan")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "-Rule 5: be kind." in out
    assert "+Rule 5: be kind and brief." in out
    assert "@@ " in out  # a unified hunk header, not two blobs
    assert " Rule 2: be kind." in out  # context lines (3 around the change)
    assert "Rule 1: be kind." not in out  # beyond the context

    markdown = run("plan", "--format", "markdown").stdout
    assert "```diff" in markdown and "+Rule 5: be kind and brief." in markdown

    assert run("apply", "--auto-approve").exit_code == 0
    # Exactly the file's bytes, trailing newline included.
    assert remote.assistants[SUPPORT]["system_instruction"] == PROMPT_FILE


def test_missing_prompt_file_is_an_error_with_location(repo: Path, remote: EmulatorServer) -> None:
    (repo / "assistants" / "prompts" / "support.md").unlink()
    result = run("plan")
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

    result = run("plan")
    assert result.exit_code == 0, result.output
    speed_line = next(line for line in result.stdout.splitlines() if "voice.speed" in line)
    assert "1.1" in speed_line
    assert "assistants/team/_defaults.yaml" in speed_line
    assert "voice.language" not in result.stdout  # equal to the outer default: no change

    assert run("apply", "--auto-approve").exit_code == 0
    assert remote.assistants[SUPPORT]["voice"]["speed"] == 1.1


# --- Environments ----------------------------------------------------------------------------


ENV_SUPPORT_YAML = f"""\
id:
  staging: {STAGING_ID}
  production: {PRODUCTION_ID}
name: Support
description: Serving ${{REGION}}
"""


@pytest.fixture
def production() -> Iterator[EmulatorServer]:
    """A second emulator, standing for the production API."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def envs_repo(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    production: EmulatorServer,
) -> Path:
    """kathansync.yaml with staging -> `emulator` and production -> `production`."""
    (tmp_path / "kathansync.yaml").write_text(
        f"""\
manifests: assistants
environments:
  staging:
    api_url: {emulator.url}
    vars:
      REGION: eu-staging
  production:
    api_url: {production.url}
    vars:
      REGION: us-production
"""
    )
    (tmp_path / "assistants").mkdir()
    (tmp_path / "assistants" / "support.yaml").write_text(ENV_SUPPORT_YAML)
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "GITHUB_ACTIONS", "KATHANSYNC_ENV", "KATHAN_API_URL", "REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KATHAN_API_KEY", emulator.api_key)
    monkeypatch.setenv("KATHAN_USER_ID", emulator.user_id)
    emulator.seed(STAGING_ID, name="Support", description="old")
    production.seed(PRODUCTION_ID, name="Support", description="old")
    return tmp_path


def test_env_flag_selects_staging_api_id_and_vars(
    envs_repo: Path, emulator: EmulatorServer, production: EmulatorServer
) -> None:
    result = run("plan", "--env", "staging")
    assert result.exit_code == 0, result.output
    assert "staging" in result.stdout
    assert emulator.url in result.stdout
    assert STAGING_ID in result.stdout and PRODUCTION_ID not in result.stdout
    markdown = run("plan", "--env", "staging", "--format", "markdown").stdout
    assert "staging" in markdown.splitlines()[0]  # the PR comment's summary names it

    result = run("apply", "--env", "staging", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert emulator.assistants[STAGING_ID]["description"] == "Serving eu-staging"
    assert production.assistants[PRODUCTION_ID]["description"] == "old"
    assert production.stats()["total"] == 0


def test_kathansync_env_variable_selects_production(
    envs_repo: Path, emulator: EmulatorServer, production: EmulatorServer
) -> None:
    env = {"KATHANSYNC_ENV": "production"}
    result = run("plan", "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["environment"] == "production"
    assert plan["api_url"] == production.url
    assert plan["changes"][0]["id"] == PRODUCTION_ID

    assert run("apply", "--auto-approve", env=env).exit_code == 0
    assert production.assistants[PRODUCTION_ID]["description"] == "Serving us-production"
    assert emulator.assistants[STAGING_ID]["description"] == "old"
    assert emulator.stats()["total"] == 0

    result = run("plan", "--detailed-exitcode", env=env)
    assert result.exit_code == 0, result.output
    assert "production" in result.stdout and "No changes." in result.stdout


def test_mapping_id_without_env_is_an_error(envs_repo: Path, emulator: EmulatorServer) -> None:
    result = run("plan")
    assert result.exit_code == 1
    assert "--env" in result.output
    assert emulator.stats()["total"] == 0


def test_unknown_env_lists_known_ones(envs_repo: Path) -> None:
    result = run("plan", "--env", "prod")
    assert result.exit_code == 1
    assert "production" in result.output and "staging" in result.output


def test_apply_json_and_markdown_results_mask_the_secret(
    repo: Path, remote: EmulatorServer
) -> None:
    result = run("apply", "--auto-approve", "--format", "json")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    json.loads(result.stdout)
    remote.assistants[SUPPORT]["call_actions"]["webhook_url"] = "https://hooks.example.com/x"
    result = run("apply", "--auto-approve", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output


def test_pull_leaves_variable_and_file_values_in_place(repo: Path, remote: EmulatorServer) -> None:
    assert run("apply", "--auto-approve").exit_code == 0
    remote.assistants[SUPPORT]["call_actions"]["webhook_url"] = "https://hooks.example.com/new"
    remote.assistants[SUPPORT]["system_instruction"] = "Rewritten in the dashboard.\n"
    manifest = repo / "assistants" / "support.yaml"

    result = run("pull")
    assert result.exit_code == 0, result.output
    assert "not pulled" in result.stdout
    assert SECRET not in result.output and "hooks.example.com/new" not in result.output
    assert manifest.read_text() == SUPPORT_YAML  # ${...} and !file kept as written
    assert (repo / "assistants" / "prompts" / "support.md").read_text() == PROMPT_FILE

    result = run("pull", "--write-files")
    assert result.exit_code == 0, result.output
    assert manifest.read_text() == SUPPORT_YAML
    prompt = repo / "assistants" / "prompts" / "support.md"
    assert prompt.read_text() == "Rewritten in the dashboard.\n"


def test_environment_without_its_id_creates_and_writes_the_id_under_it(
    envs_repo: Path, emulator: EmulatorServer, production: EmulatorServer
) -> None:
    manifest = envs_repo / "assistants" / "support.yaml"
    manifest.write_text(ENV_SUPPORT_YAML.replace(f"  production: {PRODUCTION_ID}\n", ""))
    del production.assistants[PRODUCTION_ID]

    result = run("plan", "--env", "production")
    assert result.exit_code == 0, result.output
    assert "+ support" in result.stdout and "1 to create" in result.stdout

    result = run("apply", "--env", "production", "--auto-approve")
    assert result.exit_code == 0, result.output
    (created,) = production.assistants
    assert production.assistants[created]["description"] == "Serving us-production"
    loaded = YAML(typ="safe").load(manifest.read_text())
    assert loaded["id"] == {"staging": STAGING_ID, "production": created}
    assert emulator.stats()["total"] == 0

    assert "No changes." in run("plan", "--env", "production").stdout
    assert "No changes." not in run("plan", "--env", "staging").stdout  # staging still old
