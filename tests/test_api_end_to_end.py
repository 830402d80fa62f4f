"""Issue 11 end to end: the real CLI against the real emulator, paged, rate-limited, extended.

Paged lists (120 assistants, pages capped at 50), apply under a rate limit, a field only the
API's own schema knows, `doctor`, and redirects. Every test uses real files in a temporary
repository and counts what the emulator received.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kathansync.cli import cli
from kathansync.emulator import EmulatorServer

COUNT, PAGE = 120, 50
IDS = [f"5e1d0c2a-0000-4000-8000-{n:012d}" for n in range(COUNT)]
KEY = "e2e-secret-key-0123456789"  # long enough that any echo of it would be unmistakable


def name_of(number: int) -> str:
    return f"Line {number:03d}"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository (kathansync.yaml, assistants/), the working directory."""
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "kathansync.yaml").write_text("")
    (tmp_path / "assistants").mkdir()
    return tmp_path


def serve(monkeypatch: pytest.MonkeyPatch, **knobs: Any) -> Iterator[EmulatorServer]:
    """An emulator with these knobs, and the KATHAN_* variables pointing at it."""
    with EmulatorServer(api_key=KEY, **knobs) as server:
        monkeypatch.setenv("KATHAN_API_URL", server.url)
        monkeypatch.setenv("KATHAN_API_KEY", server.api_key)
        monkeypatch.setenv("KATHAN_USER_ID", server.user_id)
        yield server


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """120 assistants (numbers 0..119, in creation order), pages capped at 50."""
    for server in serve(monkeypatch, max_page_size=PAGE):
        for number, assistant_id in enumerate(IDS):
            server.seed(assistant_id, name=name_of(number))
        yield server


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def count(emulator: EmulatorServer, key: str, value: str) -> int:
    """Requests the emulator received by method (key "methods") or status ("statuses")."""
    return int(emulator.stats()[key].get(value, 0))


def manage(repo: Path, numbers: range | list[int]) -> None:
    for number in numbers:
        (repo / "assistants" / f"line-{number:03d}.yaml").write_text(
            f"id: {IDS[number]}\nname: {name_of(number)}\n"
        )


# --- 1. paged lists: import, prune, adoption see all 120 ---------------------------------------


def test_import_all_writes_every_page(repo: Path, paged: EmulatorServer) -> None:
    result = run("import", "--all")
    assert result.exit_code == 0, result.output
    files = list((repo / "assistants").glob("*.yaml"))
    assert len(files) == COUNT
    written = {line for f in files for line in f.read_text().splitlines() if line.startswith("id:")}
    assert written == {f"id: {assistant_id}" for assistant_id in IDS}
    # Three pages of at most 50 (the cap is silent: a page of 50 after asking for more).
    assert count(paged, "methods", "GET") >= 3

    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


def test_prune_sees_every_page_and_counts_the_threshold_on_all(
    repo: Path, paged: EmulatorServer
) -> None:
    # 30 unmanaged, on every page: 0-4 (page 1), 60-64 (page 2), 100-119 (page 3).
    unmanaged = [*range(5), *range(60, 65), *range(100, COUNT)]
    manage(repo, [n for n in range(COUNT) if n not in unmanaged])

    plan = json.loads(run("plan", "--prune", "--format", "json").stdout)
    deletes = {c["id"] for c in plan["changes"] if c["action"] == "delete"}
    assert deletes == {IDS[n] for n in unmanaged}
    assert plan["summary"]["delete"] == 30 and plan["summary"]["no_op"] == 90

    # 30 of 120 is the 25 % threshold exactly; one more is refused, counted on all 120 (on the
    # first page alone, 50 remotes would allow 12 and 5 deletes would pass unnoticed).
    (repo / "assistants" / "line-050.yaml").unlink()
    result = run("plan", "--prune")
    assert result.exit_code == 1
    assert "31 of 120" in result.output and "30 allowed" in result.output
    assert count(paged, "methods", "DELETE") == 0


def test_a_name_past_the_first_page_is_adopted_not_duplicated(
    repo: Path, paged: EmulatorServer
) -> None:
    manifest = repo / "assistants" / "hotline.yaml"
    manifest.write_text(
        f"# number 110, on the third page\nname: {name_of(110)}\nvoice:\n  speed: 1.3\n"
    )

    result = run("plan")
    assert result.exit_code == 0, result.output
    assert "adopt" in result.output.lower() and IDS[110] in result.output
    assert "0 to create" in result.stdout

    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert count(paged, "methods", "POST") == 0
    assert len(paged.assistants) == COUNT
    assert paged.assistants[IDS[110]]["voice"]["speed"] == 1.3
    text = manifest.read_text()
    assert f"id: {IDS[110]}" in text and text.startswith("# number 110, on the third page\n")

    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


# --- 2. apply under a rate limit: every change lands once -------------------------------------


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """30 assistants behind a limit of 15 requests a second, with the X-RateLimit headers."""
    for server in serve(monkeypatch, rate_limit=15, rate_window=1.0):
        for number, assistant_id in enumerate(IDS[:30]):
            server.seed(assistant_id, name=name_of(number))
        yield server


def test_apply_under_a_rate_limit_lands_every_change_once(
    repo: Path, limited: EmulatorServer
) -> None:
    for number, assistant_id in enumerate(IDS[:30]):
        (repo / "assistants" / f"line-{number:03d}.yaml").write_text(
            f"id: {assistant_id}\nname: {name_of(number)}\ndescription: Change {number}\n"
        )

    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert count(limited, "methods", "PUT") == 30
    for number, assistant_id in enumerate(IDS[:30]):
        assert limited.assistants[assistant_id]["description"] == f"Change {number}"
    # Paced under the budget, not bouncing off it: at most one 429 per window (a Reset of whole
    # seconds may wake one request a moment early); unpaced, 8 threads meet dozens.
    assert count(limited, "statuses", "429") <= 2, limited.stats()
    assert "rate limit: waiting" in result.stderr

    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout
