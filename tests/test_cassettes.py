"""Recorded API interactions (vcrpy cassettes) and the scan that keeps secrets out of them.

Kept apart from tests/test_client.py because vcrpy patches httpx.MockTransport as well.
A missing cassette is recorded against a small local HTTP server; an existing one is replayed
with record_mode "none" against a port nobody listens on, so replay never touches the network.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import vcr

from kathansync.errors import ApiError
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.remote.pacing import RetryPolicy

CASSETTES = Path(__file__).parent / "cassettes"
KEY = "sk-cassette-NEVER-RECORD-9f8e7d"
USER = "user-cassette-NEVER-RECORD-77"
ID = "3f2b8c1e-0000-4000-8000-00000000c0de"
UNKNOWN_ID = "3f2b8c1e-0000-4000-8000-00000000dead"
REPLAY_URL = "http://127.0.0.1:9"  # the discard port: nothing answers there

SECRET_HEADERS = ("authorization", "x-user-id")


def stored_assistant() -> dict[str, Any]:
    return {
        "id": ID,
        "name": "Support line",
        "system_instruction": "You answer support calls for Acme.",
        "voice": {
            "voice_id": "ava",
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
            "system_prompt": "Relevant context:\n\n",
        },
        "short_term_memory": {"enabled": False, "search_limit": 3},
        "call_summary": {"prompt": "Summarise the call."},
        "recording": {"enabled": False, "stereo": True, "mp3_enabled": True},
        "call_actions": {
            "enabled": True,
            "allow_hangup": True,
            "allow_transfer": False,
            "transfer_mode": "cold",
            "webhook_timeout_ms": 3500,
        },
        "description": None,
        "first_message": "Hi, this is Acme support.",
        "knowledge_base_ids": [],
        "phone_number_id": None,
        "assistant_speaks_first": True,
    }


class StubApi(BaseHTTPRequestHandler):
    """GET and PUT /assistants/{id} for one stored assistant, auth required, 422 on a bad speed."""

    store: ClassVar[dict[str, dict[str, Any]]] = {}

    def do_GET(self) -> None:
        if not self._authorised():
            return
        url = urlsplit(self.path)
        if url.path == "/assistants":  # paged like GET /calls: limit (50) and offset (0)
            query = parse_qs(url.query)
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["50"])[0])
            self._answer(200, list(self.store.values())[offset : offset + limit])
            return
        found = self.store.get(url.path.rsplit("/", 1)[-1])
        self._answer(200, found) if found else self._answer(404, {"detail": "Not Found"})

    def do_PUT(self) -> None:
        if not self._authorised():
            return
        current = self.store.get(self.path.rsplit("/", 1)[-1])
        if current is None:
            self._answer(404, {"detail": "Not Found"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        speed = body.get("voice", {}).get("speed", 1)
        if not isinstance(speed, int | float):
            loc = ["body", "voice", "speed"]
            error = {"loc": loc, "msg": "Input should be a valid number", "type": "float_parsing"}
            self._answer(422, {"detail": [error]})
            return
        current.update(body)  # nested objects replaced whole, like a strict server
        self._answer(200, current)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {KEY}" and (
            self.headers.get("X-User-ID") == USER
        ):
            return True
        self._answer(401, {"detail": "Invalid API key"})
        return False

    def _answer(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


def _strip_volatile_headers(response: dict[str, Any]) -> dict[str, Any]:
    # Date and Server change on every recording: dropping them keeps re-recorded diffs honest.
    response["headers"] = {
        name: value
        for name, value in response["headers"].items()
        if name.lower() not in ("date", "server")
    }
    return response


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[KathanClient]:
    """A client inside the test's cassette: replayed if committed, else recorded live."""
    cassette = CASSETTES / f"{request.node.name}.yaml"
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        filter_headers=list(SECRET_HEADERS),
        before_record_response=_strip_volatile_headers,
        match_on=["method", "path", "query", "body"],  # not host/port: they vary per run
        record_mode="none" if cassette.exists() else "once",
    )
    server: ThreadingHTTPServer | None = None
    url = REPLAY_URL
    if not cassette.exists():
        StubApi.store = {ID: stored_assistant()}
        server = ThreadingHTTPServer(("127.0.0.1", 0), StubApi)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
    creds = Credentials(api_key=KEY, user_id=USER)
    try:
        with (
            recorder.use_cassette(cassette.name),
            KathanClient(url, creds, retry=RetryPolicy(max_tries=1)) as api,
        ):
            yield api
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def test_get_assistant(client: KathanClient) -> None:
    assert client.get_assistant(ID) == stored_assistant()


def test_put_sends_exactly_the_minimal_body(client: KathanClient) -> None:
    # The cassette matches on body: any change to what the client sends fails replay.
    voice = {**stored_assistant()["voice"], "speed": 1.05}
    answer = client.update_assistant(ID, {"voice": voice, "first_message": "Hello!"})
    assert answer["voice"]["speed"] == 1.05
    assert answer["first_message"] == "Hello!"
    assert answer["name"] == "Support line"


def test_put_invalid_body_is_a_422_with_its_detail(client: KathanClient) -> None:
    with pytest.raises(ApiError) as caught:
        client.update_assistant(ID, {"voice": {"speed": "fast"}})
    assert str(caught.value) == (
        f"HTTP 422 from PUT /assistants/{ID}: voice.speed: Input should be a valid number"
    )


def test_get_unknown_assistant_is_a_404(client: KathanClient) -> None:
    with pytest.raises(ApiError) as caught:
        client.get_assistant(UNKNOWN_ID)
    assert caught.value.status == 404
    assert str(caught.value).endswith(f"assistant {UNKNOWN_ID} not found")


def test_the_list_is_walked_with_limit_and_offset(client: KathanClient) -> None:
    # The cassette matches on the query: it pins the documented paging parameters.
    assert client.list_assistants() == [stored_assistant()]


# --- the secret scan: runs over every committed cassette ------------------------------------


def secrets_in(cassette: Path) -> list[str]:
    """What in this cassette must never be committed: auth headers, the test key or user id."""
    text = cassette.read_text(encoding="utf-8")
    found = [
        f"{cassette.name}: {name} header"
        for name in SECRET_HEADERS
        if re.search(rf"^\s*['\"]?{name}['\"]?\s*:", text, re.IGNORECASE | re.MULTILINE)
    ]
    found += [
        f"{cassette.name}: {what}"
        for what, value in (("api key", KEY), ("user id", USER))
        if value in text
    ]
    return found


def test_no_cassette_holds_a_secret() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert len(cassettes) >= 4, "cassettes missing: run the cassette tests once to record them"
    assert [problem for c in cassettes for problem in secrets_in(c)] == []


def test_the_scan_catches_a_leaky_cassette(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(
        "interactions:\n- request:\n    headers:\n      Authorization:\n"
        f"      - Bearer {KEY}\n      X-User-ID:\n      - {USER}\n",
        encoding="utf-8",
    )
    assert secrets_in(leaky) == [
        "leaky.yaml: authorization header",
        "leaky.yaml: x-user-id header",
        "leaky.yaml: api key",
        "leaky.yaml: user id",
    ]
