"""kathansync.yaml for conversation tests: `conversations:` per environment, `promote:` order."""

from __future__ import annotations

from pathlib import Path

import pytest

from kathansync.errors import ConfigError
from kathansync.settings import load_config, resolve_settings

ENVS = """\
conversations: tests/chats
environments:
  staging:
    api_url: https://staging.example
  production:
    api_url: https://production.example
    conversations: tests/prod-chats
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_conversations_directory_per_environment(root: Path) -> None:
    (root / "kathansync.yaml").write_text(ENVS)
    config = load_config(root)
    assert config.conversations_dir(None) == root / "tests/chats"
    assert config.conversations_dir("staging") == root / "tests/chats"
    assert config.conversations_dir("production") == root / "tests/prod-chats"


def test_default_conversations_directory(root: Path) -> None:
    assert load_config(root).conversations_dir(None) == Path("conversations")


def test_promotion_follows_promote_else_the_listed_order(root: Path) -> None:
    (root / "kathansync.yaml").write_text(ENVS)
    assert load_config(root).promotion == ("staging", "production")
    (root / "kathansync.yaml").write_text(ENVS + "promote: [production, staging]\n")
    assert load_config(root).promotion == ("production", "staging")
    (root / "kathansync.yaml").write_text("environments:\n  only: {}\n")
    assert load_config(root).promotion == ()


@pytest.mark.parametrize(
    ("promote", "message"),
    [
        (
            "[staging, producton]",
            "kathansync.yaml:8:20: error: promote: unknown environment 'producton' (known: staging,"
            " production); did you mean 'production'?",
        ),
        ("[staging]", "kathansync.yaml:8:10: error: promote: expected two or more environments"),
        (
            "[staging, staging]",
            "kathansync.yaml:8:20: error: promote: 'staging' is listed twice",
        ),
        ("staging", "kathansync.yaml:8:10: error: promote: expected a list, got string"),
    ],
)
def test_a_wrong_promote_names_file_line_and_column(root: Path, promote: str, message: str) -> None:
    (root / "kathansync.yaml").write_text(ENVS + f"promote: {promote}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(root)
    assert str(raised.value).startswith(message)


def test_conversations_are_found_beside_kathansync_yaml_from_a_subfolder(root: Path) -> None:
    (root / "kathansync.yaml").write_text(ENVS)
    (root / "assistants" / "deep").mkdir(parents=True)
    settings = resolve_settings(
        directory=None, env="production", api_url=None, environ={}, cwd=root / "assistants/deep"
    )
    assert settings.config.conversations_dir(settings.environment) == root / "tests/prod-chats"
    assert settings.config.conversations_dir(None) == root / "tests/chats"
