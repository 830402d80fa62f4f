"""The emulator follows the newer API documents: rate limits, paging, /protected, the 401 body,
the trailing-slash redirect, the fields added since the seed, --extra-field and openapi.json."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from kathansync.emulator import EmulatorServer
from kathansync.emulator.ratelimit import RateLimiter

SUPPORT_ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def seed_many(emulator: EmulatorServer, count: int) -> list[str]:
    """`count` assistants named n0, n1, ... in creation order; their ids."""
    ids = [str(uuid.UUID(int=n + 1, version=4)) for n in range(count)]
    for n, assistant_id in enumerate(ids):
        emulator.seed(assistant_id, name=f"n{n}")
    return ids


# --- Rate limit (authentication.md) -----------------------------------------------------------


def test_every_answer_carries_rate_limit_headers_counting_down() -> None:
    with (
        EmulatorServer(rate_limit=5) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        before = time.time()  # the real clock on purpose: the default Reset is Unix time
        answers = [
            client.get("/assistants"),
            client.get(f"/assistants/{SUPPORT_ID}"),  # 404
            client.put(f"/assistants/{SUPPORT_ID}", json={"nmae": "x"}),  # 422
            httpx.get(f"{emulator.url}/assistants"),  # 401
        ]

    assert [a.status_code for a in answers] == [200, 404, 422, 401]
    assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["5"] * 4
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1"]
    resets = {int(a.headers["X-RateLimit-Reset"]) for a in answers}
    assert len(resets) == 1  # one window: Unix seconds, about a minute ahead
    assert before + 59 <= resets.pop() <= time.time() + 61


def test_past_the_limit_the_documented_429_without_retry_after() -> None:
    now = [1000.0]
    with (
        EmulatorServer(rate_limit=3, rate_window=60) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        assert emulator.controls.limiter is not None
        # The limiter's injectable clock: a slow machine cannot end the window mid-burst.
        emulator.controls.limiter.clock = lambda: now[0]
        answers = [client.get("/assistants") for _ in range(5)]
        now[0] += 60  # the window ends: a new budget
        later = client.get("/assistants")

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert refused.json() == {"detail": "Rate limit exceeded"}
    assert "Retry-After" not in refused.headers
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert later.status_code == 200 and later.headers["X-RateLimit-Remaining"] == "2"


def test_without_a_limit_there_are_no_rate_limit_headers(emulator_api: httpx.Client) -> None:
    answer = emulator_api.get("/assistants")

    assert answer.status_code == 200
    assert not set(RATE_HEADERS) & set(answer.headers)


def test_the_limit_can_be_kept_silent_for_clients_that_must_pace_themselves() -> None:
    with (
        EmulatorServer(rate_limit=1, rate_limit_headers=False) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        answers = [client.get("/assistants") for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 429]
    assert not set(RATE_HEADERS) & set(answers[1].headers)


def test_injected_429_keeps_retry_after_and_does_not_use_the_budget() -> None:
    with (
        EmulatorServer(rate_limit=5) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        emulator.inject({"status": 429, "retry_after": 2})
        faulted, normal = client.get("/assistants"), client.get("/assistants")

    assert faulted.status_code == 429 and faulted.headers["Retry-After"] == "2"
    assert faulted.headers["X-RateLimit-Remaining"] == "5"
    assert normal.headers["X-RateLimit-Remaining"] == "4"


def test_reset_opens_a_new_window() -> None:
    with (
        EmulatorServer(rate_limit=1) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        before = [client.get("/assistants").status_code for _ in range(2)]
        httpx.post(f"{emulator.url}/_emulator/reset")
        after = client.get("/assistants").status_code

    assert before == [200, 429]
    assert after == 200


def test_the_window_opens_at_the_first_request_and_refusals_are_free() -> None:
    now = [1000.2]
    limiter = RateLimiter(2, window=60, clock=lambda: now[0])

    assert [limiter.admit()[0] for _ in range(4)] == [True, True, False, False]
    assert dict(limiter.peek()) == {
        b"x-ratelimit-limit": b"2",
        b"x-ratelimit-remaining": b"0",
        b"x-ratelimit-reset": b"1061",  # 1060.2 rounded up: waiting until then always works
    }
    now[0] = 1060.1
    assert limiter.admit()[0] is False
    now[0] = 1060.2
    assert limiter.admit() == (
        True,
        [
            (b"x-ratelimit-limit", b"2"),
            (b"x-ratelimit-remaining", b"1"),
            (b"x-ratelimit-reset", b"1121"),
        ],
    )


# --- Paging (calls-list-calls.md: limit default 50, offset default 0) ------------------------


def names(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200
    return [assistant["name"] for assistant in answer.json()]


def test_the_list_is_paged_fifty_by_default(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    seed_many(emulator, 120)

    assert names(emulator_api.get("/assistants")) == [f"n{n}" for n in range(50)]
    second = emulator_api.get("/assistants", params={"offset": 50})
    assert names(second) == [f"n{n}" for n in range(50, 100)]
    last = emulator_api.get("/assistants", params={"offset": 100, "limit": 50})
    assert names(last) == [f"n{n}" for n in range(100, 120)]


def test_an_exact_multiple_ends_with_an_empty_page(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    seed_many(emulator, 20)

    pages = [
        names(emulator_api.get("/assistants", params={"limit": 10, "offset": offset}))
        for offset in (0, 10, 20, 500)
    ]

    assert pages == [[f"n{n}" for n in range(10)], [f"n{n}" for n in range(10, 20)], [], []]


def test_the_page_size_cap_shortens_pages_silently() -> None:
    with (
        EmulatorServer(max_page_size=7) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        seed_many(emulator, 20)
        capped = client.get("/assistants", params={"limit": 50})
        small = client.get("/assistants", params={"limit": 3, "offset": 18})

    assert names(capped) == [f"n{n}" for n in range(7)]
    assert names(small) == ["n18", "n19"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [({"limit": 0}, "limit"), ({"offset": -1}, "offset"), ({"limit": "many"}, "limit")],
)
def test_bad_paging_parameters_are_422(
    emulator_api: httpx.Client, params: dict[str, Any], loc: str
) -> None:
    answer = emulator_api.get("/assistants", params=params)

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", loc]


# --- Auth (authentication.md) -----------------------------------------------------------------


def test_protected_answers_the_user_id(emulator_api: httpx.Client) -> None:
    answer = emulator_api.get("/protected")

    assert answer.status_code == 200
    assert answer.json() == {"message": "Hello, user test-user!", "user_id": "test-user"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key", "X-User-ID": "test-user"}],
    ids=["none", "wrong-key"],
)
def test_401_has_the_documented_body(emulator: EmulatorServer, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/protected"), ("GET", "/assistants"), ("POST", "/chat")]:
        answer = httpx.request(method, f"{emulator.url}{path}", headers=headers, json={})
        assert answer.status_code == 401
        assert answer.json() == {"detail": "Invalid authentication credentials"}


# --- Paths: no trailing slash, the other spelling is a 307 as FastAPI answers it -------------


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/assistants/"), ("GET", "/assistants/"), ("POST", "/chat/")]
)
def test_the_trailing_slash_spelling_answers_307(
    emulator: EmulatorServer, emulator_api: httpx.Client, method: str, path: str
) -> None:
    answer = emulator_api.request(method, path, json={"name": "Acme"}, params={"limit": 5})

    assert answer.status_code == 307
    assert answer.headers["Location"] == f"{emulator.url}{path.rstrip('/')}?limit=5"
    assert emulator.assistants == {}  # nothing was created by the redirect


def test_a_client_following_the_307_creates_once(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    answer = emulator_api.post("/assistants/", json={"name": "Acme"}, follow_redirects=True)

    assert answer.status_code == 201 and answer.json()["name"] == "Acme"
    assert [a["name"] for a in emulator.assistants.values()] == ["Acme"]


# --- Fields -----------------------------------------------------------------------------------

NEW_FIELDS = {
    "icon": "headset",
    "guardrails": "Never give legal advice.",
    "machine_detection_timeout_seconds": 2.5,
}


def test_fields_of_the_newer_page_are_stored_and_answered(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.seed(SUPPORT_ID)

    stored = emulator_api.put(f"/assistants/{SUPPORT_ID}", json=NEW_FIELDS).json()

    assert {key: stored[key] for key in NEW_FIELDS} == NEW_FIELDS
    assert emulator_api.get(f"/assistants/{SUPPORT_ID}").json() == stored
    cleared = emulator_api.put(f"/assistants/{SUPPORT_ID}", json={"icon": None}).json()
    assert cleared["icon"] is None


def test_fields_never_set_are_not_in_answers(emulator_api: httpx.Client) -> None:
    created = emulator_api.post("/assistants", json={"name": "Acme"}).json()

    assert not set(NEW_FIELDS) & set(created)


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"voicemail_detection": True}, ["body", "voicemail_detection"], "extra_forbidden"),
        ({"input_type": "text"}, ["body", "input_type"], "extra_forbidden"),
        ({"icon": 3}, ["body", "icon"], "string_type"),
        ({"machine_detection_timeout_seconds": "10"}, None, "float_type"),
    ],
)
def test_a_field_the_documents_do_not_have_is_422(
    emulator: EmulatorServer,
    emulator_api: httpx.Client,
    body: dict[str, Any],
    loc: list[str] | None,
    error_type: str,
) -> None:
    emulator.seed(SUPPORT_ID)

    answer = emulator_api.put(f"/assistants/{SUPPORT_ID}", json=body)

    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == (loc or ["body", *body])
    assert error["type"] == error_type


def request_schema(openapi: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The request body schema of one operation, its $ref followed."""
    ref = openapi["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = openapi["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return schema


def test_an_extra_field_is_stored_and_documented_in_openapi() -> None:
    extra = ["voicemail_detection:boolean", "max_turns:integer"]
    with (
        EmulatorServer(extra_fields=extra) as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        openapi = client.get("/openapi.json").json()
        created = client.post("/assistants", json={"name": "A", "voicemail_detection": True})
        wrong = client.put(f"/assistants/{created.json()['id']}", json={"max_turns": 2.5})

    properties = request_schema(openapi, "put", "/assistants/{assistant_id}")["properties"]
    assert properties["voicemail_detection"]["anyOf"] == [{"type": "boolean"}, {"type": "null"}]
    assert properties["max_turns"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert "voicemail_detection" in request_schema(openapi, "post", "/assistants")["properties"]
    assert created.status_code == 201 and created.json()["voicemail_detection"] is True
    assert emulator.assistants[created.json()["id"]]["voicemail_detection"] is True
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["type"] == "int_type"


def test_openapi_documents_the_documented_fields_only(emulator_api: httpx.Client) -> None:
    openapi = emulator_api.get("/openapi.json").json()

    put = request_schema(openapi, "put", "/assistants/{assistant_id}")
    assert put.get("additionalProperties") is False
    assert set(NEW_FIELDS) <= set(put["properties"])
    assert "voicemail_detection" not in put["properties"]
    assert set(openapi["paths"]) >= {"/assistants", "/assistants/{assistant_id}", "/chat"}
    assert not any(path.startswith("/_emulator") for path in openapi["paths"])
