"""`kathansync doctor` against the emulator: healthy, wrong key, wrong URL; at most 5 requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import Result
from conftest import MakeRepo, full_assistant, invoke

from kathansync.emulator import EmulatorServer

IDS = [f"3f2b8c1e-0000-4000-8000-{index:012d}" for index in range(3)]


@pytest.fixture
def repo(make_repo: MakeRepo, kathan_env: EmulatorServer) -> Path:
    manifests = {}
    for index, assistant_id in enumerate(IDS[:2]):
        kathan_env.seed(assistant_id, name=f"A{index}")
        manifests[f"assistants/a{index}.yaml"] = f"id: {assistant_id}\nname: A{index}\n"
    kathan_env.seed(IDS[2], name="Unmanaged")
    return make_repo(
        config=f"environments:\n  local:\n    api_url: {kathan_env.url}\n", files=manifests
    )


def doctor(*args: str) -> Result:
    return invoke("doctor", *args)


def lines(result: Result) -> dict[str, str]:
    """check name -> its line."""
    found = {}
    for line in result.stdout.splitlines():
        level, rest = line.split(None, 1)
        found[rest.split(":", 1)[0]] = f"{level} {rest}"
    return found


def requests(emulator: EmulatorServer) -> int:
    return sum(int(n) for n in emulator.stats()["methods"].values())


def test_a_healthy_setup_passes_within_five_requests(
    repo: Path, kathan_env: EmulatorServer
) -> None:
    result = doctor("--env", "local")
    assert result.exit_code == 0, result.output
    checks = lines(result)
    assert checks["config"].startswith("ok") and "environment local" in checks["config"]
    assert checks["manifests"] == "ok manifests: 2 manifest(s), 2 with an id"
    assert checks["api"].startswith(("ok", "warn")) and "reachable" in checks["api"]
    assert checks["listing"] == "ok listing: 3 assistant(s) remote"
    assert checks["ids"] == "ok ids: 2 referenced, 2 found remote, 1 remote not referenced"
    assert checks["api schema"].startswith("warn") and "schema --update" in checks["api schema"]
    assert "rate limit" in checks
    assert requests(kathan_env) <= 5


def test_a_saved_schema_shows_its_age(repo: Path) -> None:
    (repo / "kathan-api-schema.json").write_text(
        json.dumps({"format_version": "1", "fetched_at": "2020-01-01T00:00:00Z", "schema": {}})
    )
    checks = lines(doctor("--env", "local"))
    assert checks["api schema"].startswith("warn") and "day(s) ago" in checks["api schema"]


def test_a_wrong_key_fails(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator_key = "definitely-not-the-key"
    monkeypatch.setenv("KATHAN_API_KEY", emulator_key)
    result = doctor("--env", "local")
    assert result.exit_code == 1, result.output
    failed = [line for line in result.stdout.splitlines() if line.startswith("fail")]
    assert failed and all("401" in line for line in failed), result.stdout
    assert emulator_key not in result.output


def test_a_wrong_url_fails_without_a_traceback(repo: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = doctor("--api-url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    checks = lines(result)
    assert checks["api"].startswith("fail") and "connection refused" in checks["api"]
    assert "Traceback" not in result.output


def test_missing_credentials_fail_before_any_request(
    repo: Path, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KATHAN_API_KEY")
    result = doctor("--env", "local")
    assert result.exit_code == 1
    assert lines(result)["credentials"].startswith("fail")
    assert "KATHAN_API_KEY" in result.stdout
    assert requests(kathan_env) == 0


def test_an_unknown_environment_fails(repo: Path) -> None:
    result = doctor("--env", "nope")
    assert result.exit_code == 1
    assert lines(result)["config"].startswith("fail")


# --- against a small server that follows the documents: /protected, pages, rate headers -------


class DocumentedApi(BaseHTTPRequestHandler):
    """GET /protected and a paged GET /assistants with X-RateLimit-* headers, as documented."""

    assistants: ClassVar[list[dict[str, Any]]] = []
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        url = urlsplit(self.path)
        if self.headers.get("Authorization") != "Bearer sk-doctor-0123456789":
            return self.answer(401, {"detail": "Invalid authentication credentials"})
        if url.path == "/protected":
            return self.answer(200, {"message": "Hello, user u-1!", "user_id": "u-1"})
        query = parse_qs(url.query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        return self.answer(200, self.assistants[offset : offset + limit])

    def answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-RateLimit-Limit", "100")
        self.send_header("X-RateLimit-Remaining", str(100 - len(self.requests)))
        self.send_header("X-RateLimit-Reset", str(int(time.time()) + 42))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def documented(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> Iterator[type[DocumentedApi]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DocumentedApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    DocumentedApi.requests = []
    make_repo(files={"assistants/a.yaml": f"id: {IDS[0]}\nname: A\n"})
    monkeypatch.setenv("KATHAN_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("KATHAN_API_KEY", "sk-doctor-0123456789")
    monkeypatch.setenv("KATHAN_USER_ID", "u-1")
    try:
        yield DocumentedApi
    finally:
        server.shutdown()
        server.server_close()
        DocumentedApi.assistants = []


def fleet_of(count: int) -> list[dict[str, Any]]:
    return [full_assistant(f"3f2b8c1e-0000-4000-8000-{index:012d}") for index in range(count)]


def test_a_documented_api_passes_every_remote_check(documented: type[DocumentedApi]) -> None:
    documented.assistants = fleet_of(120)
    result = doctor()
    assert result.exit_code == 0, result.output
    checks = lines(result)
    assert checks["credentials"] == "ok credentials: accepted (user u-1)"
    assert (
        checks["rate limit"].startswith("ok rate limit: 9") and "/100 left" in checks["rate limit"]
    )
    assert checks["listing"] == "ok listing: 120 assistant(s) remote"
    assert checks["ids"] == "ok ids: 1 referenced, 1 found remote, 119 remote not referenced"
    assert len(documented.requests) == 4  # /protected and 3 pages


def test_a_long_list_is_counted_within_five_requests(documented: type[DocumentedApi]) -> None:
    documented.assistants = fleet_of(260)
    result = doctor()
    assert result.exit_code == 0, result.output
    checks = lines(result)
    assert checks["listing"] == (
        "ok listing: 200 assistant(s) remote at least (stopped counting after 4 pages)"
    )
    assert "ids" not in checks  # a partial list cannot say which ids are missing
    assert len(documented.requests) == 5


def test_a_rejected_key_fails_the_credentials_check(
    documented: type[DocumentedApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KATHAN_API_KEY", "sk-wrong-0123456789")
    result = doctor()
    assert result.exit_code == 1
    assert lines(result)["credentials"].startswith("fail credentials: HTTP 401 from GET /protected")
    assert "sk-wrong" not in result.output
    assert documented.requests == ["/protected"]
