"""End to end in separate processes: `python -m kathansync emulator`, then plan/apply/plan."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

SUPPORT = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> str:
    """The URL the emulator prints once bound, then polled until its control route answers."""
    # Real time on purpose: a separate process starts at its own pace, no clock to inject.
    deadline = time.monotonic() + timeout
    url = None
    while url is None:
        if process.poll() is not None:
            pytest.fail(f"emulator exited with {process.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"emulator did not start in {timeout} s: {log.read_text()}")
        match = LISTENING.search(log.read_text())
        url = match.group(1) if match else None
        time.sleep(0.02)
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=1) as response:
                if response.status == 200:
                    return url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`python -m kathansync emulator` on a port the OS picks (--port 0: no race for a free
    port), with a state file; its URL and state file. Always terminated."""
    state, log = tmp_path / "state.json", tmp_path / "emulator.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "kathansync", "emulator", "--port", "0", "--state", str(state)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield _wait_for_url(process, log), state
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _seed(url: str, assistant_id: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"{url}/_emulator/assistants/{assistant_id}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _kathansync(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kathansync", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plan_apply_plan_in_separate_processes(
    tmp_path: Path, emulator_process: tuple[str, Path]
) -> None:
    url, state = emulator_process
    _seed(url, SUPPORT, {"name": "Support", "voice": {"speed": 1}})
    work = tmp_path / "repo"
    (work / "assistants").mkdir(parents=True)
    (work / "assistants" / "support.yaml").write_text(
        f"id: {SUPPORT}\nname: Support\nvoice:\n  speed: 1.05\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV"}
    }
    env.update(KATHAN_API_URL=url, KATHAN_API_KEY="sk-e2e-secret", KATHAN_USER_ID="e2e")

    steps = [
        (["plan", "--detailed-exitcode"], 2),
        (["apply", "--auto-approve"], 0),
        (["plan", "--detailed-exitcode"], 0),
    ]
    results = []
    for args, expected in steps:
        result = _kathansync(*args, cwd=work, env=env)
        assert result.returncode == expected, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert "sk-e2e-secret" not in result.stdout + result.stderr
        results.append(result)

    assert "voice.speed: 1 -> 1.05" in results[0].stdout
    assert "No changes." in results[2].stdout
    # The emulator process persisted the applied change.
    stored = json.loads(state.read_text())["assistants"][SUPPORT]
    assert stored["voice"]["speed"] == 1.05
