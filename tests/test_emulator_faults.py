"""The emulator's knobs and injected faults: it misbehaves exactly when asked, and only then."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from kathansync.emulator import DEFAULTS, EmulatorError, EmulatorServer, create_app

SUPPORT_ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"


# --- Knobs ----------------------------------------------------------------------------------


def test_latency_is_asynchronous_so_concurrent_requests_overlap() -> None:
    # Real time on purpose: the latency is the server's own asyncio sleep, no clock to inject.
    # A latency long enough that overlap is unmistakable on a loaded machine: one request at a
    # time takes 10 s, overlapping ones about 1 s plus the machine's own delays.
    with EmulatorServer(latency_ms=1000) as emulator:
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
    assert 1.0 <= elapsed < 5.0  # sequential would take 10 s


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


@pytest.mark.parametrize(
    "knobs",
    [
        {"latency_ms": -1},
        {"fail_rate": 1.5},
        {"rate_limit": 0},
        {"rate_limit": 5, "rate_window": 0},
        {"max_page_size": 0},
        {"extra_fields": ["voicemail_detection:bool"]},
        {"extra_fields": ["voice:string"]},
        {"extra_fields": {"not a name": "string"}},
        {"extra_fields": "voicemail_detection"},
    ],
)
def test_bad_knobs_are_emulator_errors(knobs: dict[str, Any]) -> None:
    with pytest.raises(EmulatorError, match="emulator: "):
        create_app(**knobs)


# --- Injected faults --------------------------------------------------------------------------


def test_injected_status_is_consumed_once_by_a_matching_request(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.seed(SUPPORT_ID)
    emulator.inject({"status": 503, "method": "PUT", "path": "/assistants/*"})

    assert emulator_api.get(f"/assistants/{SUPPORT_ID}").status_code == 200  # not a PUT: untouched
    failed = emulator_api.put(f"/assistants/{SUPPORT_ID}", json={"name": "x"})
    assert failed.status_code == 503 and failed.json() == {"detail": "Service Unavailable"}
    assert emulator.assistants[SUPPORT_ID]["name"] == "<string>"  # the request never got in
    assert emulator_api.put(f"/assistants/{SUPPORT_ID}", json={"name": "x"}).status_code == 200


def test_injected_429_carries_retry_after(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.inject({"status": 429, "retry_after": 2})

    response = emulator_api.get("/assistants")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_injected_delay_makes_a_client_time_out(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.inject({"delay_ms": 3000})

    # Real time on purpose: the socket read timeout is httpx's, measured by the OS.
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        emulator_api.get("/assistants", timeout=0.3)
    assert time.monotonic() - started < 2
    assert emulator_api.get("/assistants").status_code == 200  # consumed: the next one is normal


def test_a_write_delayed_past_the_client_timeout_is_still_processed(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    # As on a real server that received the whole request: the client's timeout does not undo
    # it. This is what makes "POST is never retried after an ambiguous failure" matter.
    emulator.inject({"delay_ms": 300, "method": "POST"})

    with pytest.raises(httpx.ReadTimeout):
        emulator_api.post("/assistants", json={"name": "Late"}, timeout=0.1)
    # Real time on purpose: the server thread is still sleeping the injected delay.
    deadline = time.monotonic() + 3
    while not any(a["name"] == "Late" for a in emulator.assistants.values()):
        assert time.monotonic() < deadline, "the delayed POST was never processed"
        time.sleep(0.05)


def test_injected_drop_closes_the_connection_without_a_response(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.inject({"drop": True})

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        emulator_api.get("/assistants")
    assert emulator_api.get("/assistants").status_code == 200


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
