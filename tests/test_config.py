"""kathansync.yaml: defaults, environments, selection, and errors with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from kathansync.config import load_config
from kathansync.errors import ConfigError

CONFIG = """\
api_url: http://127.0.0.1:8787
manifests: assistants
prune_threshold: 0.5
environments:
  staging:
    api_url: http://127.0.0.1:9000
    vars:
      REGION: eu
  production:
    manifests: prod-assistants
"""


def test_absent_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.path is None and config.environments == {}
    settings = config.select(None)
    assert settings.api_url is None
    assert settings.manifests == Path("assistants")
    assert settings.vars == {}


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text("# nothing yet\n", encoding="utf-8")
    assert load_config(tmp_path).manifests == "assistants"


def test_environments_lay_over_top_level_settings(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path)
    assert config.prune_threshold == 0.5
    assert sorted(config.environments) == ["production", "staging"]

    staging = config.select("staging")
    assert (staging.env, staging.api_url) == ("staging", "http://127.0.0.1:9000")
    assert staging.manifests == tmp_path / "assistants"
    assert staging.vars == {"REGION": "eu"}

    production = config.select("production")
    # No api_url of its own: the CLI falls back to KATHAN_API_URL, then the top-level one.
    assert production.api_url is None
    assert config.api_url == "http://127.0.0.1:8787"
    assert production.manifests == tmp_path / "prod-assistants"
    assert production.vars == {}


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path).select("prod")
    message = str(info.value)
    assert "unknown environment 'prod'" in message
    assert "production, staging" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("manifest: x\n", ":1:1: unknown key 'manifest'; did you mean 'manifests'?"),
        (
            "environments:\n  staging:\n    apiurl: x\n",
            ":3:5: unknown key 'apiurl' in environments.staging; did you mean 'api_url'?",
        ),
        (
            "environments:\n  s:\n    vars: {A: 1}\n",
            ":3:15: environments.s.vars.A: expected a string, got integer 1",
        ),
        ("prune_threshold: 2\n", ":1:18: prune_threshold: expected a number less than or equal"),
        ("prune_threshold: lots\n", ":1:18: prune_threshold: expected a number"),
        ("api_url: a\napi_url: b\n", ":2:1: duplicate key 'api_url'"),
        ("- a\n", ":1:1: expected a mapping of settings"),
        # An empty value: at its key, not where the next token (or EOF) starts.
        ("api_url: x\nmanifests:\n\n# later\nenvironments: {}\n", ":2:1: manifests: expected"),
    ],
)
def test_errors_carry_file_line_column(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "kathansync.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    located = expected.replace(": ", ": error: ", 1)  # the same form as manifest problems
    assert f"kathansync.yaml{located}" in str(info.value)


def test_every_config_error_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text("manifest: x\napiurl: y\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value).count("\n") == 1
