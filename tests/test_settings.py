"""kathansync.yaml: defaults, environments, selection, and errors with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from kathansync.errors import ConfigError
from kathansync.settings import find_config, load_config, resolve_settings

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
    assert (staging.name, staging.api_url) == ("staging", "http://127.0.0.1:9000")
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


# --- kathansync.yaml found upward, as git finds .git ------------------------------------------


def test_config_is_found_upward_and_its_paths_resolved_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text(CONFIG, encoding="utf-8")
    below = tmp_path / "assistants" / "sales"
    below.mkdir(parents=True)
    settings = resolve_settings(directory=None, env="staging", api_url=None, environ={}, cwd=below)
    assert settings.config.path == tmp_path.resolve() / "kathansync.yaml"
    assert settings.root == tmp_path.resolve()
    assert settings.manifests == tmp_path.resolve() / "assistants"
    assert settings.api_url == "http://127.0.0.1:9000"
    assert settings.variables == {"REGION": "eu"}
    assert settings.state_dir == tmp_path.resolve() / ".kathansync"


def test_top_level_api_url_is_used_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    settings = resolve_settings(
        directory=Path("."), env=None, api_url=None, environ={}, cwd=tmp_path / "deep" / "er"
    )
    assert settings.api_url == "http://127.0.0.1:8787"
    assert settings.manifests == Path(".")  # --dir is the user's own path, from the cwd


def test_the_search_stops_at_the_git_root(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text(CONFIG, encoding="utf-8")  # not this repository's
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    assert find_config(repo / "sub") == (None, repo.resolve())
    settings = resolve_settings(
        directory=None, env=None, api_url=None, environ={}, cwd=repo / "sub"
    )
    assert settings.root == repo.resolve() and settings.config.path is None
    assert settings.api_url == "https://api.staging.kathan.tech"


def test_without_config_or_git_the_root_is_the_cwd(tmp_path: Path) -> None:
    assert find_config(tmp_path) == (None, tmp_path.resolve())


def test_environment_variable_url_yields_to_a_named_environment(tmp_path: Path) -> None:
    (tmp_path / "kathansync.yaml").write_text(CONFIG, encoding="utf-8")
    environ = {"KATHAN_API_URL": "http://127.0.0.1:7000/"}
    staging = resolve_settings(
        directory=None, env="staging", api_url=None, environ=environ, cwd=tmp_path
    )
    assert staging.api_url == "http://127.0.0.1:9000"
    top = resolve_settings(directory=None, env=None, api_url=None, environ=environ, cwd=tmp_path)
    assert top.api_url == "http://127.0.0.1:7000"


def test_rate_limit_per_environment_overrides_the_top_level(tmp_path: Path) -> None:
    text = "rate_limit: 100\nenvironments:\n  prod: {rate_limit: 1000}\n  dev: {}\n"
    (tmp_path / "kathansync.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path)
    assert config.select("prod").rate_limit == 1000
    assert config.select("dev").rate_limit == 100
    assert config.select(None).rate_limit == 100
