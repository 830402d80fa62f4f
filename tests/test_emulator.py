"""The emulator behaves like the Kathan API of the seed, and misbehaves exactly when asked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kathansync.emulator import DEFAULTS, EmulatorServer, EmulatorUnavailable, create_app
from kathansync.errors import ConfigError
from kathansync.models import FIELD_ORDER, Assistant

# The response example of seed/update-assistant.txt, copied verbatim: the contract.
SEED_RESPONSE = json.loads(
    r"""
{
  "id": "<string>",
  "name": "<string>",
  "system_instruction": "<string>",
  "voice": {
    "voice_id": "<string>",
    "tts_provider": "cartesia",
    "tts_model": "sonic-3",
    "language": "en",
    "speed": 1
  },
  "llm": {
    "llm_provider": "google",
    "model": "gemini-1.5-flash"
  },
  "transcriber": {
    "stt_provider": "deepgram",
    "stt_model": "nova-3",
    "language": "en"
  },
  "speech_settings": {
    "style": "neutral",
    "responsiveness": "balanced",
    "interruptions": "on",
    "emotions": "natural"
  },
  "long_term_memory": {
    "enabled": false,
    "search_limit": 5,
    "search_threshold": 0.1,
    "system_prompt": "Relevant, user-specific context from previous conversations:\n\n"
  },
  "short_term_memory": {
    "enabled": false,
    "search_limit": 3
  },
  "call_summary": {
    "prompt": "<string>"
  },
  "recording": {
    "enabled": false,
    "stereo": true,
    "mp3_enabled": true
  },
  "call_actions": {
    "enabled": true,
    "allow_hangup": true,
    "allow_transfer": true,
    "hangup_triggers": [
      "<string>"
    ],
    "transfer_triggers": [
      "<string>"
    ],
    "transfer_number": "<string>",
    "transfer_mode": "cold",
    "confirm_required": true,
    "auto_hangup_silence_seconds": 123,
    "confirm_yes": [
      "<string>"
    ],
    "confirm_no": [
      "<string>"
    ],
    "webhook_url": "<string>",
    "webhook_timeout_ms": 3500
  },
  "description": "<string>",
  "first_message": "<string>",
  "knowledge_base_ids": [],
  "phone_number_id": "<string>",
  "assistant_speaks_first": true
}
"""
)
SUPPORT_ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def api(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A client with valid credentials for the `emulator`."""
    with httpx.Client(base_url=emulator.url, headers=emulator.headers, timeout=5) as client:
        yield client


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Dotted leaf paths -> values, so a mismatch names the field."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, child in value.items():
            found.update(leaves(child, f"{path}.{key}" if path else key))
        return found
    return {path: value}


# --- The contract with the seed -----------------------------------------------------------------


def test_created_assistant_is_the_seed_response_example(api: httpx.Client) -> None:
    response = api.post("/assistants", json={"name": "<string>"})

    assert response.status_code == 201
    created = response.json()
    assert uuid.UUID(created["id"]).version == 4
    expected = {**SEED_RESPONSE, "id": created["id"]}
    assert leaves(created) == leaves(expected)
    assert list(created) == list(SEED_RESPONSE)  # same field order as the seed
    assert tuple(created) == FIELD_ORDER[: len(created)]  # then the fields added since
    Assistant.model_validate(created)  # what the client parses


def test_defaults_are_the_seed_response_without_id() -> None:
    assert {"id": "<string>", **DEFAULTS} == SEED_RESPONSE


def test_created_assistant_is_listed_and_fetchable(api: httpx.Client) -> None:
    created = api.post("/assistants", json={"name": "Acme", "voice": {"speed": 1.05}}).json()

    assert api.get(f"/assistants/{created['id']}").json() == created
    assert api.get("/assistants").json() == [created]
    assert created["name"] == "Acme" and created["voice"]["speed"] == 1.05


def test_post_requires_a_name(api: httpx.Client) -> None:
    response = api.post("/assistants", json={"description": "no name"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


# --- Auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-User-ID": "test-user"}, 401),
        ({"Authorization": "Bearer test-api-key"}, 401),
        ({"Authorization": "test-api-key", "X-User-ID": "test-user"}, 401),
        ({"Authorization": "Bearer wrong-key", "X-User-ID": "test-user"}, 401),
        ({"Authorization": "Bearer test-api-key", "X-User-ID": "someone-else"}, 403),
    ],
    ids=["none", "no-key", "no-user", "not-bearer", "wrong-key", "wrong-user"],
)
def test_auth_is_required_on_every_api_route(
    emulator: EmulatorServer, headers: dict[str, str], status: int
) -> None:
    emulator.seed(SUPPORT_ID)
    for method, path in [("GET", "/assistants"), ("GET", f"/assistants/{SUPPORT_ID}")]:
        response = httpx.request(method, emulator.url + path, headers=headers)
        assert response.status_code == status
        detail = response.json()["detail"]
        assert isinstance(detail, str) and "wrong-key" not in detail


def test_any_credentials_pass_when_none_are_configured() -> None:
    with EmulatorServer(api_key=None, user_id=None) as emulator:
        headers = {"Authorization": "Bearer anything", "X-User-ID": "anyone"}
        assert httpx.get(f"{emulator.url}/assistants", headers=headers).status_code == 200


# --- Ids and bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_id_is_404(api: httpx.Client, method: str) -> None:
    body = {"name": "x"} if method == "PUT" else None
    response = api.request(method, f"/assistants/{UNKNOWN_ID}", json=body)

    assert response.status_code == 404
    assert response.json() == {"detail": "Assistant not found"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_uuid_id_is_422(api: httpx.Client, method: str) -> None:
    response = api.request(method, "/assistants/support", json={} if method == "PUT" else None)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "assistant_id"]
    assert error["type"] == "uuid_parsing" and error["msg"]


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"nmae": "x"}, ["body", "nmae"], "extra_forbidden"),
        ({"voice": {"sped": 1.1}}, ["body", "voice", "sped"], "extra_forbidden"),
        ({"voice": {"speed": "fast"}}, ["body", "voice", "speed"], "float_type"),
        ({"recording": {"enabled": "yes"}}, ["body", "recording", "enabled"], "bool_type"),
        ({"speech_settings": {"interruptions": False}}, None, "string_type"),
        ({"voice": None}, ["body", "voice"], "model_attributes_type"),
        ({"knowledge_base_ids": "kb-1"}, ["body", "knowledge_base_ids"], "list_type"),
        ({"name": None}, ["body", "name"], "value_error"),
        ([], ["body"], "model_attributes_type"),
    ],
)
def test_invalid_body_is_422_in_fastapi_shape(
    emulator: EmulatorServer, api: httpx.Client, body: Any, loc: list[Any] | None, error_type: str
) -> None:
    emulator.seed(SUPPORT_ID, name="Acme Support")
    before = emulator.assistants[SUPPORT_ID].copy()

    response = api.put(f"/assistants/{SUPPORT_ID}", json=body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert {"loc", "msg", "type"} <= set(error)
    assert error["type"] == error_type
    assert error["loc"] == (loc or ["body", "speech_settings", "interruptions"])
    assert emulator.assistants[SUPPORT_ID] == before


# --- PUT semantics ---------------------------------------------------------------------------


def test_put_replaces_nested_objects_and_omitted_subfields_fall_back_to_defaults(
    emulator: EmulatorServer, api: httpx.Client
) -> None:
    emulator.seed(
        SUPPORT_ID,
        name="Acme Support",
        voice={"voice_id": "v-1", "speed": 1.2, "language": "de"},
        call_actions={"transfer_mode": "warm"},
    )

    response = api.put(f"/assistants/{SUPPORT_ID}", json={"voice": {"speed": 1.05}})

    assert response.status_code == 200
    stored = response.json()
    # Strict on purpose: the partial object replaced the stored one, losing voice_id and language.
    assert stored["voice"] == {**DEFAULTS["voice"], "speed": 1.05}
    # Keys not sent are kept as they were.
    assert stored["name"] == "Acme Support"
    assert stored["call_actions"]["transfer_mode"] == "warm"
    assert emulator.assistants[SUPPORT_ID] == stored
    assert api.get(f"/assistants/{SUPPORT_ID}").json() == stored


def test_put_of_a_whole_object_keeps_every_subfield_sent(
    emulator: EmulatorServer, api: httpx.Client
) -> None:
    emulator.seed(SUPPORT_ID, voice={"voice_id": "v-1", "speed": 1.2})
    whole = {**emulator.assistants[SUPPORT_ID]["voice"], "speed": 0.9}

    stored = api.put(f"/assistants/{SUPPORT_ID}", json={"voice": whole}).json()

    assert stored["voice"] == whole


def test_put_null_clears_nullable_fields(emulator: EmulatorServer, api: httpx.Client) -> None:
    emulator.seed(SUPPORT_ID, description="old", knowledge_base_ids=["kb-1"])

    stored = api.put(
        f"/assistants/{SUPPORT_ID}", json={"description": None, "knowledge_base_ids": None}
    ).json()

    assert stored["description"] is None
    assert stored["knowledge_base_ids"] == []  # the response type is a list, never null


def test_delete_removes_the_assistant(emulator: EmulatorServer, api: httpx.Client) -> None:
    emulator.seed(SUPPORT_ID)

    response = api.delete(f"/assistants/{SUPPORT_ID}")

    assert response.status_code == 204 and response.content == b""
    assert SUPPORT_ID not in emulator.assistants
    assert api.get(f"/assistants/{SUPPORT_ID}").status_code == 404


# --- State file ------------------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with EmulatorServer(state_file=state) as first:
        client = httpx.Client(base_url=first.url, headers=first.headers)
        created = client.post("/assistants", json={"name": "Acme Sales"}).json()
        client.put(f"/assistants/{created['id']}", json={"voice": {"speed": 1.1}})
        first.seed(SUPPORT_ID, name="Acme Support")
        client.close()
        expected = {key: dict(value) for key, value in first.assistants.items()}

    assert json.loads(state.read_text()) == {"assistants": expected}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp files left
    with EmulatorServer(state_file=state) as second:
        fetched = httpx.get(f"{second.url}/assistants", headers=second.headers).json()
    assert {a["id"]: a for a in fetched} == expected
    assert expected[created["id"]]["voice"]["speed"] == 1.1


def test_delete_is_persisted(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with EmulatorServer(state_file=state) as emulator:
        emulator.seed(SUPPORT_ID)
        httpx.delete(f"{emulator.url}/assistants/{SUPPORT_ID}", headers=emulator.headers)

    assert json.loads(state.read_text()) == {"assistants": {}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"assistants": {', "state.json:1:17: emulator state file is not valid JSON"),
        ('{"assistants": []}', 'must look like {"assistants"'),
        ("[]", 'must look like {"assistants"'),
    ],
)
def test_a_corrupt_state_file_is_an_error_and_is_left_alone(
    tmp_path: Path, text: str, expected: str
) -> None:
    state = tmp_path / "state.json"
    state.write_text(text)

    with pytest.raises(ConfigError, match="never reset") as caught:
        create_app(state_file=state)

    assert expected in str(caught.value)
    assert str(state) in str(caught.value)
    assert state.read_text() == text


def test_a_state_file_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(state_file=tmp_path / "nope" / "state.json")


# --- Knobs ----------------------------------------------------------------------------------


def test_latency_is_asynchronous_so_concurrent_requests_overlap() -> None:
    with EmulatorServer(latency_ms=200) as emulator:
        emulator.seed(SUPPORT_ID)
        url = f"{emulator.url}/assistants/{SUPPORT_ID}"
        statuses: list[int] = []

        def fetch() -> None:
            statuses.append(httpx.get(url, headers=emulator.headers).status_code)

        threads = [threading.Thread(target=fetch) for _ in range(10)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

    assert statuses == [200] * 10
    assert 0.2 <= elapsed < 1.0  # sequential would take 2 s


def statuses_with_fail_rate(seed: int, count: int = 30) -> list[int]:
    with (
        EmulatorServer(fail_rate=0.5, seed=seed) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        return [client.get("/assistants").status_code for _ in range(count)]


def test_fail_rate_answers_503_reproducibly_with_a_seed() -> None:
    first = statuses_with_fail_rate(seed=7)

    assert first == statuses_with_fail_rate(seed=7)
    assert set(first) == {200, 503}
    assert first != statuses_with_fail_rate(seed=8)


def test_rate_limit_answers_429_with_retry_after() -> None:
    with (
        EmulatorServer(rate_limit=3) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        responses = [client.get("/assistants") for _ in range(5)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
        assert responses[3].headers["Retry-After"] == "1"
        assert responses[3].json() == {"detail": "Too Many Requests"}

        time.sleep(float(responses[3].headers["Retry-After"]))
        assert client.get("/assistants").status_code == 200


@pytest.mark.parametrize(
    "knobs",
    [{"latency_ms": -1}, {"fail_rate": 1.5}, {"rate_limit": 0}],
)
def test_bad_knobs_are_config_errors(knobs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="emulator: "):
        create_app(**knobs)


# --- Injected faults --------------------------------------------------------------------------


def test_injected_status_is_consumed_once_by_a_matching_request(
    emulator: EmulatorServer, api: httpx.Client
) -> None:
    emulator.seed(SUPPORT_ID)
    emulator.inject({"status": 503, "method": "PUT", "path": "/assistants/*"})

    assert api.get(f"/assistants/{SUPPORT_ID}").status_code == 200  # not a PUT: untouched
    failed = api.put(f"/assistants/{SUPPORT_ID}", json={"name": "x"})
    assert failed.status_code == 503 and failed.json() == {"detail": "Service Unavailable"}
    assert emulator.assistants[SUPPORT_ID]["name"] == "<string>"  # the request never got in
    assert api.put(f"/assistants/{SUPPORT_ID}", json={"name": "x"}).status_code == 200


def test_injected_429_carries_retry_after(emulator: EmulatorServer, api: httpx.Client) -> None:
    emulator.inject({"status": 429, "retry_after": 2})

    response = api.get("/assistants")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_injected_delay_makes_a_client_time_out(
    emulator: EmulatorServer, api: httpx.Client
) -> None:
    emulator.inject({"delay_ms": 3000})

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        api.get("/assistants", timeout=0.3)
    assert time.monotonic() - started < 2
    assert api.get("/assistants").status_code == 200  # consumed: the next one is normal


def test_a_write_delayed_past_the_client_timeout_is_still_processed(
    emulator: EmulatorServer, api: httpx.Client
) -> None:
    # As on a real server that received the whole request: the client's timeout does not undo
    # it. This is what makes "POST is never retried after an ambiguous failure" matter.
    emulator.inject({"delay_ms": 300, "method": "POST"})

    with pytest.raises(httpx.ReadTimeout):
        api.post("/assistants", json={"name": "Late"}, timeout=0.1)
    deadline = time.monotonic() + 3
    while not any(a["name"] == "Late" for a in emulator.assistants.values()):
        assert time.monotonic() < deadline, "the delayed POST was never processed"
        time.sleep(0.05)


def test_injected_drop_closes_the_connection_without_a_response(
    emulator: EmulatorServer, api: httpx.Client
) -> None:
    emulator.inject({"drop": True})

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        api.get("/assistants")
    assert api.get("/assistants").status_code == 200


def test_faults_are_controlled_over_http_without_auth(emulator: EmulatorServer) -> None:
    control = httpx.Client(base_url=f"{emulator.url}/_emulator")
    faults = [{"status": 502}, {"status": 429, "retry_after": 1, "method": "GET"}]

    assert control.post("/faults", json=faults).json() == {"pending": 2}
    assert control.get("/faults").json() == faults
    statuses = [httpx.get(f"{emulator.url}/assistants", headers=emulator.headers).status_code
                for _ in range(3)]  # fmt: skip
    assert statuses == [502, 429, 200]
    assert control.get("/stats").json() == {
        "total": 3,
        "methods": {"GET": 3},
        "statuses": {"502": 1, "429": 1, "200": 1},
        "faults_pending": 0,
    }
    control.close()


@pytest.mark.parametrize(
    "fault",
    [{"status": 99}, {"retry_after": 1}, {"drop": True, "status": 500}, {"sttaus": 503}, "503"],
)
def test_a_bad_fault_is_refused(emulator: EmulatorServer, fault: Any) -> None:
    response = httpx.post(f"{emulator.url}/_emulator/faults", json=[fault])

    assert response.status_code == 422
    assert response.json()["detail"].startswith("bad fault: ")
    assert emulator.stats()["faults_pending"] == 0


def test_faults_are_read_as_json_whatever_the_content_type(emulator: EmulatorServer) -> None:
    # What `curl -d '[...]'` sends: a form content type.
    response = httpx.post(
        f"{emulator.url}/_emulator/faults",
        content=b'[{"status": 503}]',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.json() == {"pending": 1}


def test_control_routes_are_untouched_by_faults_and_knobs() -> None:
    with EmulatorServer(fail_rate=1.0, rate_limit=1) as emulator:
        emulator.inject({"drop": True})
        for _ in range(3):
            assert httpx.get(f"{emulator.url}/_emulator/stats").status_code == 200
        assert emulator.stats()["total"] == 0


def test_seed_and_reset_over_http(emulator: EmulatorServer) -> None:
    control = f"{emulator.url}/_emulator"

    seeded = httpx.put(f"{control}/assistants/{SUPPORT_ID}", json={"voice": {"speed": 1.2}})

    assert seeded.status_code == 200
    assert seeded.json()["voice"] == {**DEFAULTS["voice"], "speed": 1.2}  # merged, not replaced
    assert seeded.json()["id"] == SUPPORT_ID
    httpx.get(f"{emulator.url}/assistants", headers=emulator.headers)
    emulator.inject({"status": 500})

    assert httpx.post(f"{control}/reset").status_code == 200
    assert emulator.assistants == {}
    assert emulator.stats() == {"total": 0, "methods": {}, "statuses": {}, "faults_pending": 0}


# --- Running it ------------------------------------------------------------------------------


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
    assert issubclass(EmulatorUnavailable, ConfigError)


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


def test_nan_is_a_422_not_a_server_error(emulator: EmulatorServer, api: httpx.Client) -> None:
    assistant_id = str(uuid.uuid4())
    emulator.seed(assistant_id)
    answer = api.put(
        f"/assistants/{assistant_id}",
        content=b'{"voice": {"speed": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json() == {
        "detail": [
            {"loc": ["body", "voice", "speed"], "msg": "Input should be a finite number",
             "type": "finite_number"}
        ]
    }  # fmt: skip
