"""Client behaviour over httpx.MockTransport: requests, errors, retries, parallelism."""

from __future__ import annotations

import copy
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from conftest import full_assistant

from kathansync import __version__
from kathansync.errors import ApiError, ApiUnreachable, ConfigError
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.remote.pacing import RetryPolicy, retry_after_seconds

KEY = "sk-test-NEVER-LEAK-0123456789"
USER = "user-test-42"
CREDS = Credentials(api_key=KEY, user_id=USER)
ID = "3f2b8c1e-0000-4000-8000-000000000001"
URL = "https://api.test"

Handler = Callable[[httpx.Request], httpx.Response]


def assistant(assistant_id: str = ID, **overrides: Any) -> dict[str, Any]:
    """conftest's full assistant with this file's id by default (other test files import it)."""
    return full_assistant(assistant_id, **overrides)


class FakeTime:
    """sleep() records the delay and advances clock(): retries run instantly and measurably."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make_client(
    handler: Handler,
    fake: FakeTime | None = None,
    log: list[str] | None = None,
    **options: Any,
) -> KathanClient:
    fake = fake or FakeTime()
    options.setdefault("jitter", lambda: 0.5)
    return KathanClient(
        URL,
        CREDS,
        transport=httpx.MockTransport(handler),
        sleep=fake.sleep,
        clock=fake.clock,
        wall=fake.clock,
        log=log.append if log is not None else None,
        **options,
    )


def sequence(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving `answers` in order (the last one repeats), and the requests it saw."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def ok(body: Any = None, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=assistant() if body is None else body)


def error(status: int, detail: Any = None, **headers: str) -> httpx.Response:
    if detail is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json={"detail": detail}, headers=headers)


# --- requests -------------------------------------------------------------------------------


def test_every_request_carries_auth_and_json_headers() -> None:
    handler, seen = sequence(ok())
    make_client(handler).update_assistant(ID, {"voice": {"speed": 1.05}})
    request = seen[0]
    assert request.method == "PUT"
    assert str(request.url) == f"{URL}/assistants/{ID}"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-User-ID"] == USER
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"kathansync/{__version__}"
    assert json.loads(request.content) == {"voice": {"speed": 1.05}}


def test_base_url_path_is_kept() -> None:
    handler, seen = sequence(ok())
    KathanClient(f"{URL}/v1", CREDS, transport=httpx.MockTransport(handler)).get_assistant(ID)
    assert seen[0].url.path == f"/v1/assistants/{ID}"


def test_ids_are_quoted_into_the_path() -> None:
    handler, seen = sequence(error(404, "Not Found"))
    with pytest.raises(ApiError):
        make_client(handler).get_assistant("../admin")
    assert seen[0].url.raw_path == b"/assistants/..%2Fadmin"


def test_responses_are_returned_raw_with_unknown_fields_kept() -> None:
    remote = assistant(voice={**assistant()["voice"], "pitch": 3}, brand_new=True)
    handler, _ = sequence(ok(copy.deepcopy(remote)))
    assert make_client(handler).get_assistant(ID) == remote


def test_create_posts_and_accepts_201() -> None:
    handler, seen = sequence(ok(assistant("new-id"), status=201))
    created = make_client(handler).create_assistant({"name": "Support"})
    assert created["id"] == "new-id"
    assert (seen[0].method, seen[0].url.path) == ("POST", "/assistants")


def test_delete_accepts_204() -> None:
    handler, seen = sequence(httpx.Response(204))
    assert make_client(handler).delete_assistant(ID) is None
    assert seen[0].method == "DELETE"


# --- errors: one line, status, parsed detail, never the key -------------------------------


UNPROCESSABLE = [
    {"loc": ["body", "voice", "speed"], "msg": "Input should be a valid number", "type": "x"},
    {"loc": ["body", "name"], "msg": "Input should be a valid string", "type": "y"},
]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            error(422, UNPROCESSABLE),
            f"HTTP 422 from PUT /assistants/{ID}: voice.speed: Input should be a valid number; "
            "name: Input should be a valid string",
        ),
        (
            error(401, "Invalid API key"),
            f"HTTP 401 from PUT /assistants/{ID}: Invalid API key"
            " — check KATHAN_API_KEY and KATHAN_USER_ID",
        ),
        (
            error(403, "Forbidden"),
            f"HTTP 403 from PUT /assistants/{ID}: Forbidden — KATHAN_USER_ID is not allowed "
            "to do this",
        ),
        (error(404, "Not Found"), f"HTTP 404 from PUT /assistants/{ID}: assistant {ID} not found"),
        (
            httpx.Response(500, text="upstream\nexploded"),
            f"HTTP 500 from PUT /assistants/{ID}: upstream exploded",
        ),
        (
            httpx.Response(500, html="<html><body>Oops</body></html>"),
            f"HTTP 500 from PUT /assistants/{ID}: Internal Server Error",
        ),
        (
            httpx.Response(200, text="not json"),
            f"HTTP 200 from PUT /assistants/{ID}: expected JSON, got text/plain; charset=utf-8",
        ),
        (
            ok({"id": ID, "name": "x"}),
            f"HTTP 200 from PUT /assistants/{ID}: the answer is not an assistant "
            "(system_instruction: Field required); is the API URL right?",
        ),
        (ok([1, 2]), f"HTTP 200 from PUT /assistants/{ID}: the answer is not an assistant"),
    ],
    ids=["422", "401", "403", "404", "500-text", "500-html", "not-json", "partial", "list"],
)
def test_http_failures_become_one_line_errors(answer: httpx.Response, message: str) -> None:
    handler, _ = sequence(answer)
    with pytest.raises(ApiError) as caught:
        make_client(handler).update_assistant(ID, {"name": "x"})
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert KEY not in text and KEY not in repr(caught.value)
    assert caught.value.status == answer.status_code


def test_422_detail_is_kept_parsed() -> None:
    handler, _ = sequence(error(422, UNPROCESSABLE))
    with pytest.raises(ApiError) as caught:
        make_client(handler).update_assistant(ID, {"name": "x"})
    assert caught.value.detail == UNPROCESSABLE


def test_get_refuses_an_answer_for_another_assistant() -> None:
    handler, _ = sequence(ok(assistant("someone-else")))
    with pytest.raises(ApiError, match="answered with assistant someone-else"):
        make_client(handler).get_assistant(ID)


def test_key_echoed_by_the_server_is_redacted() -> None:
    handler, _ = sequence(error(401, f"Invalid API key {KEY}"))
    with pytest.raises(ApiError) as caught:
        make_client(handler).get_assistant(ID)
    assert KEY not in str(caught.value)
    assert "[secure]" in str(caught.value)


def test_credentials_never_show_the_key() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}", repr([CREDS])):
        assert KEY not in text
        assert USER in text


def test_credentials_from_env() -> None:
    env = {"KATHAN_API_KEY": f" {KEY}\n", "KATHAN_USER_ID": USER}
    assert Credentials.from_env(env) == CREDS


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "KATHAN_API_KEY and KATHAN_USER_ID"),
        ({"KATHAN_USER_ID": USER}, "KATHAN_API_KEY"),
        ({"KATHAN_API_KEY": KEY, "KATHAN_USER_ID": "  "}, "KATHAN_USER_ID"),
    ],
)
def test_missing_credentials_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=f"missing environment variables? {named}:"):
        Credentials.from_env(env)


def test_unsendable_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        Credentials.from_env({"KATHAN_API_KEY": "clé-secrète", "KATHAN_USER_ID": USER})
    assert "KATHAN_API_KEY" in str(caught.value)
    assert "secrète" not in str(caught.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: KathanClient("api.kathan.tech", CREDS),
        lambda: KathanClient(URL, CREDS, parallelism=0),
        lambda: KathanClient(URL, CREDS, timeout=0),
        lambda: RetryPolicy(max_tries=0),
    ],
    ids=["no-scheme", "parallelism", "timeout", "tries"],
)
def test_bad_settings_are_config_errors(make: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        make()


# --- retries --------------------------------------------------------------------------------


def test_transient_503_is_retried_with_jittered_backoff_and_logged() -> None:
    handler, seen = sequence(error(503), error(503), ok())
    fake, log = FakeTime(), []
    client = make_client(handler, fake, log)
    assert client.get_assistant(ID)["id"] == ID
    assert len(seen) == 3 and client.requests_sent == 3
    assert fake.sleeps == [0.1, 0.2]  # jitter 0.5 x 0.2 s, x 0.4 s
    assert log == [
        f"retrying GET /assistants/{ID} in 0.1 s (HTTP 503, try 2/5)",
        f"retrying GET /assistants/{ID} in 0.2 s (HTTP 503, try 3/5)",
    ]


def test_backoff_doubles_up_to_max_delay() -> None:
    handler, _ = sequence(error(502))
    fake = FakeTime()
    policy = RetryPolicy(max_tries=6, base_delay=0.25, max_delay=1.0, deadline=100)
    client = make_client(handler, fake, retry=policy, jitter=lambda: 1.0)
    with pytest.raises(ApiError):
        client.get_assistant(ID)
    assert fake.sleeps == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_full_jitter_draws_from_zero_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=10)
    rng = random.Random(7)
    delays = [policy.backoff(3, rng.random()) for _ in range(200)]
    assert all(0 <= d < 0.8 for d in delays)
    assert min(delays) < 0.1 and max(delays) > 0.7  # spread over the whole range


def test_gives_up_after_max_tries_with_the_count_in_the_message() -> None:
    handler, seen = sequence(error(503, "Service Unavailable"))
    with pytest.raises(ApiError) as caught:
        make_client(handler).update_assistant(ID, {"name": "x"})
    assert len(seen) == 5
    assert str(caught.value) == (
        f"HTTP 503 from PUT /assistants/{ID}: Service Unavailable (after 5 tries)"
    )


def test_retry_after_seconds_is_honoured() -> None:
    handler, _ = sequence(error(429, "slow down", **{"Retry-After": "3"}), ok())
    fake = FakeTime()
    make_client(handler, fake).get_assistant(ID)
    assert fake.sleeps == [3.0]


def test_retry_after_http_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=8)
    handler, _ = sequence(error(503, **{"Retry-After": format_datetime(when, usegmt=True)}), ok())
    fake = FakeTime()
    make_client(handler, fake).get_assistant(ID)
    assert len(fake.sleeps) == 1 and 6 < fake.sleeps[0] <= 8


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("Mon, 23 Nov 2026 20:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 19:59:00 GMT", 0.0),  # in the past: go now
        ("-4", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_parsing(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 23, 20, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now) == seconds


def test_retry_after_beyond_the_deadline_gives_up_without_sleeping() -> None:
    handler, seen = sequence(error(503, "Down for maintenance", **{"Retry-After": "120"}))
    fake = FakeTime()
    with pytest.raises(ApiError) as caught:
        make_client(handler, fake).get_assistant(ID)
    assert len(seen) == 1 and fake.sleeps == []
    assert str(caught.value) == (
        f"HTTP 503 from GET /assistants/{ID}: Down for maintenance (after 1 try; the server "
        "asked to wait 120.0 s, past the 60 s retry deadline)"
    )


def test_a_429_waits_for_the_rate_limit_past_the_retry_deadline() -> None:
    # A rate-limit window is a minute: a 429 is worth waiting for, well past the 60 s deadline
    # that bounds retries of failures.
    handler, seen = sequence(error(429, "Rate limit exceeded", **{"Retry-After": "120"}), ok())
    fake, notes = FakeTime(), []
    make_client(handler, fake, notify=notes.append).get_assistant(ID)
    assert len(seen) == 2 and fake.sleeps == [120.0]
    assert notes == ["rate limit: waiting 120 s"]


def test_a_rate_limit_reset_too_far_away_is_an_error_saying_when() -> None:
    fake = FakeTime()
    fake.now = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
    reset = str(int(fake.now) + 3600)
    answer = error(
        429, "Rate limit exceeded", **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    )
    handler, seen = sequence(answer)
    with pytest.raises(ApiError) as caught:
        make_client(handler, fake).get_assistant(ID)
    assert len(seen) == 1 and fake.sleeps == []
    assert str(caught.value) == (
        f"HTTP 429 from GET /assistants/{ID}: rate limit exhausted until 09:00:00 UTC"
        " (3600 s from now): try again then"
    )


def test_total_deadline_bounds_the_retries() -> None:
    handler, seen = sequence(error(504))
    fake = FakeTime()
    policy = RetryPolicy(max_tries=10, base_delay=1.0, max_delay=100, deadline=5.0)
    with pytest.raises(ApiError, match="past the 5 s retry deadline"):
        make_client(handler, fake, retry=policy, jitter=lambda: 1.0).get_assistant(ID)
    assert fake.sleeps == [1.0, 2.0]  # 1 + 2 + 4 would pass 5 s
    assert len(seen) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500])
def test_other_statuses_are_not_retried(status: int) -> None:
    handler, seen = sequence(error(status, "no"))
    with pytest.raises(ApiError):
        make_client(handler).get_assistant(ID)
    assert len(seen) == 1


def test_read_timeout_is_retried_for_put_and_reported() -> None:
    handler, seen = sequence(httpx.ReadTimeout("timed out"))
    with pytest.raises(ApiUnreachable) as caught:
        make_client(handler).update_assistant(ID, {"name": "x"})
    assert len(seen) == 5
    assert str(caught.value) == (
        f"no answer from {URL} to PUT /assistants/{ID}: timed out after 10 s (after 5 tries)"
    )


def test_connection_refused_is_retried_then_reported() -> None:
    handler, seen = sequence(httpx.ConnectError("[Errno 111] Connection refused"), ok())
    assert make_client(handler).get_assistant(ID)["id"] == ID
    assert len(seen) == 2


def test_a_real_refused_connection_reads_well() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = KathanClient(f"http://127.0.0.1:{port}", CREDS, retry=RetryPolicy(max_tries=1))
    with client, pytest.raises(ApiUnreachable) as caught:
        client.get_assistant(ID)
    assert str(caught.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"


def test_delete_after_an_unanswered_try_that_worked_is_success() -> None:
    handler, seen = sequence(httpx.RemoteProtocolError("dropped"), error(404, "Not Found"))
    assert make_client(handler).delete_assistant(ID) is None
    assert len(seen) == 2


def test_delete_of_an_unknown_assistant_is_a_404() -> None:
    handler, _ = sequence(error(404, "Not Found"))
    with pytest.raises(ApiError, match=f"assistant {ID} not found"):
        make_client(handler).delete_assistant(ID)


# --- POST: never sent twice when it may have worked -------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected")],
    ids=["read-timeout", "dropped"],
)
def test_post_is_not_retried_after_an_ambiguous_failure(failure: Exception) -> None:
    handler, seen = sequence(failure, ok(status=201))
    with pytest.raises(ApiUnreachable) as caught:
        make_client(handler).create_assistant({"name": "x"})
    assert len(seen) == 1
    assert "may have been created" in str(caught.value)


@pytest.mark.parametrize("status", [502, 504])
def test_post_is_not_retried_on_gateway_errors(status: int) -> None:
    handler, seen = sequence(error(status, "gateway"), ok(status=201))
    with pytest.raises(ApiError):
        make_client(handler).create_assistant({"name": "x"})
    assert len(seen) == 1


@pytest.mark.parametrize(
    "first",
    [httpx.ConnectError("Connection refused"), error(429, "slow"), error(503, "busy")],
    ids=["connect", "429", "503"],
)
def test_post_is_retried_when_nothing_was_created(first: httpx.Response | Exception) -> None:
    handler, seen = sequence(first, ok(status=201))
    assert make_client(handler).create_assistant({"name": "x"})["id"] == ID
    assert len(seen) == 2


def test_post_with_an_unreadable_success_warns_it_may_exist() -> None:
    handler, _ = sequence(httpx.Response(201, text="created"))
    with pytest.raises(ApiError, match="may have been created"):
        make_client(handler).create_assistant({"name": "x"})


# --- listing and fetching many -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        error(404, "Not Found"),
        error(405, "Method Not Allowed"),
        ok({"items": []}),
        ok([{"id": ID, "name": "summary only"}]),
    ],
    ids=["404", "405", "object", "summaries"],
)
def test_list_is_none_when_not_supported(answer: httpx.Response) -> None:
    handler, _ = sequence(answer)
    log: list[str] = []
    assert make_client(handler, log=log).list_assistants() is None
    assert log and log[0].startswith("GET /assistants: ")


def ids_for(count: int) -> list[str]:
    return [f"3f2b8c1e-0000-4000-8000-{n:012d}" for n in range(count)]


def server(listing: httpx.Response | None, known: set[str]) -> tuple[Handler, list[str]]:
    """An API with `known` assistants and the given answer to GET /assistants."""
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/assistants":
            return listing or error(404, "Not Found")
        assistant_id = request.url.path.rsplit("/", 1)[1]
        return ok(assistant(assistant_id)) if assistant_id in known else error(404, "Not Found")

    return handler, paths


def test_fetch_many_lists_once_and_gets_only_what_the_list_lacks() -> None:
    ids = ids_for(40)
    known = set(ids[:-1])
    listed = [assistant(i) for i in ids[:-3]]  # a list that lacks two known ids (paging?)
    handler, paths = server(ok(listed), known)
    result = make_client(handler, parallelism=4).fetch_assistants(ids)
    assert list(result) == ids
    assert paths.count("/assistants") == 2  # one walk: a short page, and the probe past it
    assert sorted(paths[2:]) == sorted(f"/assistants/{i}" for i in ids[-3:])
    assert all(isinstance(result[i], dict) for i in ids[:-1])
    missing = result[ids[-1]]
    assert isinstance(missing, ApiError) and missing.status == 404


def test_fetch_many_falls_back_to_one_by_one() -> None:
    ids = ids_for(20)
    handler, paths = server(None, set(ids))
    client = make_client(handler, parallelism=4)
    result = client.fetch_assistants([*ids, ids[0]])  # duplicates fetched once
    assert list(result) == ids and all(isinstance(v, dict) for v in result.values())
    assert client.requests_sent == len(paths) == 21


def test_fetch_few_skips_the_list() -> None:
    ids = ids_for(3)
    handler, paths = server(ok([assistant(i) for i in ids]), set(ids))
    make_client(handler, parallelism=4).fetch_assistants(ids)
    assert "/assistants" not in paths and len(paths) == 3


def test_fetch_many_with_bad_credentials_fails_every_id_with_one_request() -> None:
    ids = ids_for(20)
    handler, paths = server(error(401, "Invalid API key"), set(ids))
    result = make_client(handler, parallelism=4).fetch_assistants(ids)
    assert len(paths) == 1
    assert all(isinstance(v, ApiError) and v.status == 401 for v in result.values())


# --- parallelism -----------------------------------------------------------------------------


def test_at_most_parallelism_requests_in_flight_and_results_in_input_order() -> None:
    parallelism = 4
    ids = ids_for(40)
    all_busy = threading.Barrier(parallelism, timeout=5)  # fails unless 4 run at once
    lock = threading.Lock()
    in_flight, peak, served = 0, 0, 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak, served
        with lock:
            in_flight += 1
            served += 1
            # the first request goes alone (its answer sets the budget), then 4 at once
            first_wave = 2 <= served <= parallelism + 1
            peak = max(peak, in_flight)
        if first_wave:
            all_busy.wait()
        time.sleep(random.uniform(0, 0.01))  # random completion order
        with lock:
            in_flight -= 1
        return ok(assistant(request.url.path.rsplit("/", 1)[1]))

    client = make_client(handler, parallelism=parallelism)
    results = client.run_concurrently(client.get_assistant, ids)
    assert [r["id"] for r in results] == ids
    assert peak == parallelism


def test_run_concurrently_raises_the_first_failure_in_input_order() -> None:
    client = make_client(sequence(ok())[0], parallelism=3)

    def fail_on_odd(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    with pytest.raises(ValueError, match="odd 1"):
        client.run_concurrently(fail_on_odd, list(range(10)))
    assert client.run_concurrently(fail_on_odd, [0, 2, 4]) == [0, 2, 4]
