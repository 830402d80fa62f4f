"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

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
