"""Issue 11 end to end: the real CLI against the real emulator, paged, rate-limited, extended.

Paged lists (120 assistants, pages capped at 50), apply under a rate limit, a field only the
API's own schema knows, `doctor`, and redirects. Every test uses real files in a temporary
repository and counts what the emulator received.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
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


@contextlib.contextmanager
def serve(monkeypatch: pytest.MonkeyPatch, **knobs: Any) -> Iterator[EmulatorServer]:
    """An emulator with these knobs, and the KATHAN_* variables pointing at it."""
    with EmulatorServer(api_key=KEY, **knobs) as server:
        monkeypatch.setenv("KATHAN_API_URL", server.url)
        monkeypatch.setenv("KATHAN_API_KEY", server.api_key)
        monkeypatch.setenv("KATHAN_USER_ID", server.user_id)
        yield server


@pytest.fixture
def paged(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    """120 assistants (numbers 0..119, in creation order), pages capped at 50 (or the param)."""
    with serve(monkeypatch, max_page_size=getattr(request, "param", PAGE)) as server:
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
    # Pages of 50, 50 and 20: every page was asked for, not just the first, and it says so.
    assert count(paged, "methods", "GET") >= 3
    assert "listed 120 assistant(s) in" in result.stderr

    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


# 50: kathansync's own page size; 20: a server that silently caps `limit=50` at 20 per page.
CAPS = pytest.mark.parametrize("paged", [PAGE, 20], ids=["cap50", "cap20"], indirect=True)


@CAPS
def test_prune_sees_every_page_and_counts_the_threshold_on_all(
    repo: Path, paged: EmulatorServer
) -> None:
    # 30 unmanaged, on every page of 50: 0-4 (page 1), 60-64 (page 2), 100-119 (page 3).
    unmanaged = [*range(5), *range(60, 65), *range(100, COUNT)]
    manage(repo, [n for n in range(COUNT) if n not in unmanaged])

    result = run("plan", "--prune", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "listed 120 assistant(s) in" in result.stderr  # says how many it saw, unasked
    plan = json.loads(result.stdout)
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


@CAPS
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
    with serve(monkeypatch, rate_limit=15, rate_window=1.0) as server:
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
    assert (
        "Apply: 30 applied," in result.stdout and ", 0 failed, 0 did not converge" in result.stdout
    )
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


# --- 3. a field only the API's own schema knows -------------------------------------------------

EXTRA_FIELD = "voicemail_detection"


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """One assistant, on an API that has a field kathansync's models do not know."""
    with serve(monkeypatch, extra_fields=[f"{EXTRA_FIELD}:boolean"]) as server:
        server.seed(IDS[0], name=name_of(0))
        yield server


def test_a_field_from_the_saved_api_schema_round_trips(
    repo: Path, extended: EmulatorServer
) -> None:
    (repo / "assistants" / "line.yaml").write_text(
        f"id: {IDS[0]}\nname: {name_of(0)}\n{EXTRA_FIELD}: true\n"
    )
    # Without the saved schema, an unknown key stays an error, before any request.
    result = run("plan")
    assert result.exit_code == 1
    assert f"line.yaml:3:1: error: unknown key '{EXTRA_FIELD}'" in result.output
    assert extended.stats()["total"] == 0

    result = run("schema", "--update")
    assert result.exit_code == 0, result.output
    saved = json.loads((repo / "kathan-api-schema.json").read_text())
    assert saved["source"] == f"{extended.url}/openapi.json"
    assert EXTRA_FIELD in saved["schema"]["properties"]

    result = run("validate")
    assert result.exit_code == 0, result.output
    note = f"note: {EXTRA_FIELD} is not in this kathansync's models; typed by kathan-api-schema"
    assert note in result.stderr

    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert f"{EXTRA_FIELD}: null -> true" in result.stdout

    result = run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert extended.assistants[IDS[0]][EXTRA_FIELD] is True
    assert count(extended, "methods", "PUT") == 1

    result = run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout

    # The saved schema types the field: a string where it documents a boolean is refused.
    (repo / "assistants" / "line.yaml").write_text(
        f"id: {IDS[0]}\nname: {name_of(0)}\n{EXTRA_FIELD}: sometimes\n"
    )
    result = run("validate")
    assert result.exit_code == 1
    assert "line.yaml:3" in result.output and EXTRA_FIELD in result.output


# --- 4. doctor: healthy, wrong key, wrong URL ---------------------------------------------------


@pytest.fixture
def checked(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The 120 paged assistants behind a rate limit, one manifest referencing number 110."""
    with serve(monkeypatch, max_page_size=PAGE, rate_limit=100) as server:
        for number, assistant_id in enumerate(IDS):
            server.seed(assistant_id, name=name_of(number))
        manage(repo, [110])
        yield server


def doctor_lines(result: Result) -> list[str]:
    assert "Traceback" not in result.output
    assert KEY not in result.output  # never the key, whatever happened
    return result.stdout.splitlines()


def test_doctor_on_a_healthy_api_passes_within_five_requests(checked: EmulatorServer) -> None:
    result = run("doctor")
    assert result.exit_code == 0, result.output
    lines = doctor_lines(result)
    assert lines and all(line.startswith(("ok ", "warn ")) for line in lines), lines
    assert "ok    listing: 120 assistant(s) remote" in lines  # every page, within the budget
    assert "ok    ids: 1 referenced, 1 found remote, 119 remote not referenced" in lines
    assert any(line.startswith("ok    rate limit:") and "/100 left" in line for line in lines)
    assert checked.stats()["total"] <= 5


def test_doctor_counts_past_a_server_cap_below_its_page_size(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch, max_page_size=20) as emulator:  # asked for 50, it answers 20
        for number, assistant_id in enumerate(IDS[:50]):
            emulator.seed(assistant_id, name=name_of(number))
        result = run("doctor")
    assert result.exit_code == 0, result.output
    assert "ok    listing: 50 assistant(s) remote" in doctor_lines(result)
    assert emulator.stats()["total"] <= 5


def test_doctor_with_a_wrong_key_fails_on_credentials(
    checked: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-key-9876543210-zyxw"
    monkeypatch.setenv("KATHAN_API_KEY", wrong)
    result = run("doctor")
    assert result.exit_code == 1, result.output
    lines = doctor_lines(result)
    failed = [line for line in lines if line.startswith("fail")]
    assert len(failed) == 1 and failed[0].startswith("fail  credentials: HTTP 401"), lines
    assert wrong not in result.output
    assert checked.stats()["total"] <= 5


def test_doctor_with_a_wrong_url_fails_on_reachability(
    checked: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("KATHAN_API_URL", closed)
    result = run("doctor")
    assert result.exit_code == 1, result.output
    failed = [line for line in doctor_lines(result) if line.startswith("fail")]
    assert failed == [f"fail  api: cannot reach {closed}: connection refused"], result.stdout
    assert checked.stats()["total"] == 0


def test_doctor_on_a_spent_budget_says_it_waits(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch, rate_limit=3, rate_window=2.0) as emulator:
        emulator.seed(IDS[0], name=name_of(0))
        with httpx.Client(base_url=emulator.url, headers=emulator.headers) as other_tool:
            for _ in range(3):  # another tool on the same key spends this window
                assert other_tool.get("/protected").status_code == 200
        result = run("doctor")
    assert result.exit_code == 0, result.output
    lines = doctor_lines(result)
    # Reported once, plainly (not "rate limited 0 times in a row"), and the listing still runs.
    unsure = "not verified (HTTP 429 from GET /protected: Rate limit exceeded)"
    assert f"warn  credentials: {unsure}; the listing below needs them too" in lines, lines
    assert "ok    listing: 1 assistant(s) remote" in lines
    assert "rate limit: waiting" in result.stderr  # the listing waited for the reset, and said so


# --- 5. redirects: the trailing-slash spelling and other hosts ----------------------------------


def test_a_create_lands_once_on_the_canonical_path(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch) as emulator:
        (repo / "assistants" / "billing.yaml").write_text("name: Billing\n")
        result = run("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        (created,) = emulator.assistants.values()
        assert created["name"] == "Billing"
        assert f"id: {created['id']}" in (repo / "assistants" / "billing.yaml").read_text()
        # kathansync asks for POST /assistants itself: the 307 of /assistants/ is never needed.
        stats = emulator.stats()
        assert stats["methods"].get("POST") == 1 and "307" not in stats["statuses"], stats


def test_the_emulators_307_is_followed_with_method_body_and_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kathansync.remote.client import KathanClient
    from kathansync.remote.credentials import Credentials

    with serve(monkeypatch) as emulator:
        with KathanClient(emulator.url, Credentials(KEY, emulator.user_id)) as client:
            # The earlier edition's spelling; no public method sends it, so the one sender.
            answer = client._call(
                "POST", "/assistants/", body={"name": "Slashed"}, idempotent=False
            )
        assert answer.status_code == 201 and answer.json()["name"] == "Slashed"
        assert [a["name"] for a in emulator.assistants.values()] == ["Slashed"]
        assert emulator.stats()["statuses"] == {"307": 1, "201": 1}


class Redirector(BaseHTTPRequestHandler):
    """Answers every request with a 307 to the same path on `target` (another port)."""

    target: ClassVar[str] = ""
    seen: ClassVar[list[str]] = []

    def answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(307)
        self.send_header("Location", f"{self.target}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no access log in tests
        pass


def test_a_redirect_to_another_host_is_refused_and_nothing_reaches_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(monkeypatch) as emulator:
        Redirector.target, Redirector.seen = emulator.url, []
        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            monkeypatch.setenv("KATHAN_API_URL", f"http://127.0.0.1:{server.server_port}")
            (repo / "assistants" / "billing.yaml").write_text("name: Billing\n")
            result = run("apply", "--auto-approve")
        finally:
            server.shutdown()
            server.server_close()
        assert result.exit_code == 1
        assert f"redirected to {emulator.url}/assistants, another host" in result.output
        assert "Traceback" not in result.output and KEY not in result.output
        assert Redirector.seen and emulator.stats()["total"] == 0  # the key never went there
        assert "id:" not in (repo / "assistants" / "billing.yaml").read_text()
