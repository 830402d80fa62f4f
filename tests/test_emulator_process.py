"""Running the emulator: over ASGI in-process, as `python -m kathansync.emulator`, as
`kathansync emulator`, and without the optional dependencies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import invoke

from kathansync.emulator import EmulatorUnavailable, create_app
from kathansync.emulator.server import parse_args

REPO = Path(__file__).resolve().parent.parent


def test_create_app_runs_in_process_over_asgi() -> None:
    async def scenario() -> tuple[int, dict[str, Any]]:
        app = create_app(api_key="k", user_id="u")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer k", "X-User-ID": "u"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://emulator", headers=headers
        ) as client:
            response = await client.post("/assistants", json={"name": "Acme"})
            return response.status_code, response.json()

    status, created = asyncio.run(scenario())

    assert status == 201 and created["name"] == "Acme"


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail

    with pytest.raises(EmulatorUnavailable, match=r"pip install 'kathansync\[emulator\]'"):
        create_app()


def test_importing_the_emulator_does_not_import_fastapi() -> None:
    code = (
        "import sys, kathansync.emulator; print(sorted({'fastapi', 'uvicorn'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def start_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m kathansync.emulator --port 0 ...` and the URL it announced on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kathansync.emulator", "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    line = process.stderr.readline().strip()
    prefix = "Kathan emulator listening on "
    if not line.startswith(prefix):
        process.kill()
        process.wait()
        pytest.fail(f"unexpected first line from the emulator: {line!r}")
    return process, line.removeprefix(prefix)


@pytest.mark.e2e
def test_emulator_runs_as_a_separate_process(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    process, url = start_process("--state", str(state), "--api-key", "k", "--user-id", "u")
    try:
        headers = {"Authorization": "Bearer k", "X-User-ID": "u"}
        created = httpx.post(f"{url}/assistants", json={"name": "Acme"}, headers=headers)
        assert created.status_code == 201
        wrong = httpx.get(f"{url}/assistants", headers={**headers, "Authorization": "Bearer x"})
        assert wrong.status_code == 401
        httpx.post(f"{url}/_emulator/faults", json=[{"status": 503}])
        assert httpx.get(f"{url}/assistants", headers=headers).status_code == 503
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells the truth.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in stderr
    saved = json.loads(state.read_text())["assistants"]
    assert list(saved) == [created.json()["id"]]


@pytest.mark.e2e
def test_process_reports_a_corrupt_state_file_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{oops")

    result = subprocess.run(
        [sys.executable, "-m", "kathansync.emulator", "--port", "0", "--state", str(state)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {state}:1:2: emulator state file is not valid JSON")
    assert len(result.stderr.strip().splitlines()) == 1
    assert state.read_text() == "{oops"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--extra-field", "voicemail_detection:bool"], "TYPE must be one of string|number"),
        (["--extra-field", "voice:string"], "voice is a documented field"),
    ],
)
def test_cli_reports_a_bad_extra_field_in_one_line(args: list[str], message: str) -> None:
    result = invoke("emulator", "--port", "0", *args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_the_process_options_reach_create_app() -> None:
    rate = ["--rate-limit", "5", "--rate-window", "1.5", "--no-rate-limit-headers"]
    extra = ["--extra-field", "a:boolean", "--extra-field", "b:string"]
    options = parse_args([*rate, "--max-page-size", "3", *extra])
    host, port = options.pop("host"), options.pop("port")

    app = create_app(**options)

    assert (host, port) == ("127.0.0.1", 8787)
    knobs = app.state.controls.knobs
    assert (knobs.rate_limit, knobs.rate_window, knobs.rate_limit_headers) == (5, 1.5, False)
    assert options["max_page_size"] == 3
    assert options["extra_fields"] == ["a:boolean", "b:string"]
    body = app.openapi()["components"]["schemas"]["AssistantUpdate"]["properties"]
    assert {"a", "b"} <= set(body)
