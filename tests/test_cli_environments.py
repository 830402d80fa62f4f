"""CLI end to end: --env and KATHANSYNC_ENV pick the API, the id and the vars of an environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke
from ruamel.yaml import YAML

from kathansync.emulator import EmulatorServer

STAGING_ID = "0b0c3f6e-1111-4000-8000-000000000001"
PRODUCTION_ID = "0b0c3f6e-2222-4000-8000-000000000002"

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
    make_repo: MakeRepo,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    production: EmulatorServer,
) -> Path:
    """kathansync.yaml with staging -> `emulator` and production -> `production`."""
    for name in ("KATHAN_API_URL", "REGION"):  # the environment's api_url and vars must win
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KATHAN_API_KEY", emulator.api_key)
    monkeypatch.setenv("KATHAN_USER_ID", emulator.user_id)
    emulator.seed(STAGING_ID, name="Support", description="old")
    production.seed(PRODUCTION_ID, name="Support", description="old")
    config = f"""\
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
    return make_repo(config=config, files={"assistants/support.yaml": ENV_SUPPORT_YAML})


def test_env_flag_selects_staging_api_id_and_vars(
    envs_repo: Path, emulator: EmulatorServer, production: EmulatorServer
) -> None:
    result = invoke("plan", "--env", "staging")
    assert result.exit_code == 0, result.output
    assert "staging" in result.stdout
    assert emulator.url in result.stdout
    assert STAGING_ID in result.stdout and PRODUCTION_ID not in result.stdout
    markdown = invoke("plan", "--env", "staging", "--format", "markdown").stdout
    assert "staging" in markdown.splitlines()[0]  # the PR comment's summary names it

    result = invoke("apply", "--env", "staging", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert emulator.assistants[STAGING_ID]["description"] == "Serving eu-staging"
    assert production.assistants[PRODUCTION_ID]["description"] == "old"
    assert production.stats()["total"] == 0


def test_kathansync_env_variable_selects_production(
    envs_repo: Path, emulator: EmulatorServer, production: EmulatorServer
) -> None:
    env = {"KATHANSYNC_ENV": "production"}
    result = invoke("plan", "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["environment"] == "production"
    assert plan["api_url"] == production.url
    assert plan["changes"][0]["id"] == PRODUCTION_ID

    assert invoke("apply", "--auto-approve", env=env).exit_code == 0
    assert production.assistants[PRODUCTION_ID]["description"] == "Serving us-production"
    assert emulator.assistants[STAGING_ID]["description"] == "old"
    assert emulator.stats()["total"] == 0

    result = invoke("plan", "--detailed-exitcode", env=env)
    assert result.exit_code == 0, result.output
    assert "production" in result.stdout and "No changes." in result.stdout


def test_mapping_id_without_env_is_an_error(envs_repo: Path, emulator: EmulatorServer) -> None:
    result = invoke("plan")
    assert result.exit_code == 1
    assert "--env" in result.output
    assert emulator.stats()["total"] == 0


def test_unknown_env_lists_known_ones(envs_repo: Path) -> None:
    result = invoke("plan", "--env", "prod")
    assert result.exit_code == 1
    assert "production" in result.output and "staging" in result.output


def test_environment_without_its_id_creates_and_writes_the_id_under_it(
    envs_repo: Path, emulator: EmulatorServer, production: EmulatorServer
) -> None:
    manifest = envs_repo / "assistants" / "support.yaml"
    manifest.write_text(ENV_SUPPORT_YAML.replace(f"  production: {PRODUCTION_ID}\n", ""))
    del production.assistants[PRODUCTION_ID]

    result = invoke("plan", "--env", "production")
    assert result.exit_code == 0, result.output
    assert "+ support" in result.stdout and "1 to create" in result.stdout

    result = invoke("apply", "--env", "production", "--auto-approve")
    assert result.exit_code == 0, result.output
    (created,) = production.assistants
    assert production.assistants[created]["description"] == "Serving us-production"
    loaded = YAML(typ="safe").load(manifest.read_text())
    assert loaded["id"] == {"staging": STAGING_ID, "production": created}
    assert emulator.stats()["total"] == 0

    assert "No changes." in invoke("plan", "--env", "production").stdout
    assert "No changes." not in invoke("plan", "--env", "staging").stdout  # staging still old
