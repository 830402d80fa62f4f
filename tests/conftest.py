"""Shared pytest fixtures and helpers: the emulator, a repository on disk, the CLI, an assistant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from click.testing import CliRunner, Result

from kathansync.cli import cli
from kathansync.emulator import EmulatorServer

# --- Emulator ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _private_cache_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The manifest cache's signing key (kathansync/load/cache.py) in a temporary folder, never
    the real ~/.cache: tests must not leave files in the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A fresh local Kathan API on a free port, stopped after the test (see docs/emulator.md)."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator_api(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """An httpx client with valid credentials for the `emulator`."""
    with httpx.Client(base_url=emulator.url, headers=emulator.headers, timeout=5) as client:
        yield client


@pytest.fixture
def kathan_env(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> EmulatorServer:
    """KATHAN_API_URL, KATHAN_API_KEY and KATHAN_USER_ID pointing at the `emulator`."""
    monkeypatch.setenv("KATHAN_API_URL", emulator.url)
    monkeypatch.setenv("KATHAN_API_KEY", emulator.api_key)
    monkeypatch.setenv("KATHAN_USER_ID", emulator.user_id)
    return emulator


# --- A repository on disk ---------------------------------------------------------------------

# Variables a CI runner (or the developer's shell) may set that change what the CLI prints or
# which environment it picks: every test starts without them.
RUNNER_VARIABLES = ("NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV")


class MakeRepo(Protocol):
    def __call__(self, *, config: str | None = None, files: Mapping[str, str] = ...) -> Path: ...


@pytest.fixture
def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeRepo:
    """Build the test's repository in tmp_path and make it the working directory.

    `config` is the text of kathansync.yaml (None: no file, so the repository root falls back to
    the working directory); `files` maps paths relative to the root to their text. assistants/
    always exists; no variable of RUNNER_VARIABLES leaks in from the shell running pytest.
    """

    def make(*, config: str | None = None, files: Mapping[str, str] = {}) -> Path:
        monkeypatch.chdir(tmp_path)
        for name in RUNNER_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        (tmp_path / "assistants").mkdir(exist_ok=True)
        if config is not None:
            (tmp_path / "kathansync.yaml").write_text(config, encoding="utf-8")
        for relative, text in files.items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path

    return make


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    """An empty repository: assistants/ and nothing else, the working directory."""
    return make_repo()


# --- The CLI in-process -----------------------------------------------------------------------


def invoke(*args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run `kathansync ARGS` in-process; an exception escapes so a traceback fails the test."""
    return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


# --- A full assistant as the API returns it ---------------------------------------------------


def full_assistant(assistant_id: str, **overrides: Any) -> dict[str, Any]:
    """Every field of the seed's GET/PUT response, with `overrides` replacing top-level keys."""
    data: dict[str, Any] = {
        "id": assistant_id,
        "name": "Support",
        "system_instruction": "Be helpful.",
        "voice": {
            "voice_id": "v1",
            "tts_provider": "cartesia",
            "tts_model": "sonic-3",
            "language": "en",
            "speed": 1,
        },
        "llm": {"llm_provider": "google", "model": "gemini-1.5-flash"},
        "transcriber": {"stt_provider": "deepgram", "stt_model": "nova-3", "language": "en"},
        "speech_settings": {
            "style": "neutral",
            "responsiveness": "balanced",
            "interruptions": "on",
            "emotions": "natural",
        },
        "long_term_memory": {
            "enabled": False,
            "search_limit": 5,
            "search_threshold": 0.1,
            "system_prompt": "ctx",
        },
        "short_term_memory": {"enabled": False, "search_limit": 3},
        "call_summary": {"prompt": "Summarise."},
        "recording": {"enabled": False, "stereo": True, "mp3_enabled": True},
        "call_actions": {"enabled": True, "transfer_mode": "cold", "webhook_timeout_ms": 3500},
        "description": None,
        "first_message": "Hello!",
        "knowledge_base_ids": [],
        "phone_number_id": None,
        "assistant_speaks_first": True,
    }
    data.update(overrides)
    return data
