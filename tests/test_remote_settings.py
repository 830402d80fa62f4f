"""Where the rate limit comes from: --rate-limit, then the environment's rate_limit, then the
top-level one; and the parallelism a run gets from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer
from kathansync.run import Run
from kathansync.settings import Network, resolve_settings

CONFIG = """\
rate_limit: 600
environments:
  dev:
    api_url: {url}
    rate_limit: 100
  prod:
    api_url: {url}
"""


@pytest.fixture
def root(make_repo: MakeRepo, kathan_env: EmulatorServer) -> Path:
    return make_repo(config=CONFIG.format(url=kathan_env.url))


@pytest.mark.parametrize(
    ("env", "option", "expected"), [("dev", None, 100), ("prod", None, 600), ("dev", 7, 7)]
)
def test_the_rate_limit_comes_from_the_option_then_the_environment_then_the_top(
    root: Path, env: str, option: int | None, expected: int
) -> None:
    settings = resolve_settings(
        directory=None, env=env, api_url=None, environ=dict(os.environ), cwd=root
    )
    with Run(settings).connect(Network(rate_limit=option)) as conn:
        assert conn.client.budget.configured == expected
        assert conn.client.parallelism == min(32, max(1, expected // 10))


def test_a_rate_limit_below_one_in_kathansync_yaml_is_an_error_with_its_line(root: Path) -> None:
    (root / "kathansync.yaml").write_text("rate_limit: 0\n")
    result = invoke("plan")
    assert result.exit_code == 1
    assert "kathansync.yaml:1:" in result.output and "rate_limit" in result.output


def test_a_rate_limit_option_below_one_is_a_usage_error(root: Path) -> None:
    result = invoke("plan", "--rate-limit", "0")
    assert result.exit_code == 1
    assert "--rate-limit" in result.output


def test_settings_and_credentials_do_not_import_httpx() -> None:
    """validate resolves settings (URL, credential names) and must stay offline and fast."""
    import subprocess
    import sys

    code = (
        "import sys, kathansync.settings, kathansync.remote.credentials, kathansync.remote.redact;"
        " sys.exit('httpx' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
