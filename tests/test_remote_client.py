"""The client's guards: redirects, credentials in the URL, secrets echoed back, parallelism."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MakeRepo, invoke
from test_client import ID, FakeTime, assistant, error, make_client, ok, sequence

from kathansync.apply import _scrub
from kathansync.errors import ApiError, ConfigError
from kathansync.plan import Action, Change
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials, check_api_url
from kathansync.remote.pacing import RetryPolicy
from kathansync.remote.redact import Redactor

# --- redirects ------------------------------------------------------------------------------


def test_a_307_on_the_same_host_is_followed_with_method_body_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == f"/assistants/{ID}":
            return httpx.Response(307, headers={"Location": f"/v2/assistants/{ID}/"})
        return httpx.Response(200, json=assistant())

    make_client(handler).update_assistant(ID, {"name": "New"})
    assert [(r.method, r.url.path) for r in seen] == [
        ("PUT", f"/assistants/{ID}"),
        ("PUT", f"/v2/assistants/{ID}/"),
    ]
    assert json.loads(seen[1].content) == {"name": "New"}
    assert seen[1].headers["Authorization"] == seen[0].headers["Authorization"]


def test_a_308_to_another_host_is_refused_naming_it() -> None:
    handler, seen = sequence(
        httpx.Response(308, headers={"Location": "https://evil.example:8443/collect?k=1"})
    )
    with pytest.raises(ApiError) as caught:
        make_client(handler).update_assistant(ID, {"name": "New"})
    assert len(seen) == 1
    message = str(caught.value)
    assert "redirected to https://evil.example:8443/collect, another host" in message
    assert "not followed" in message


def test_a_redirect_to_another_scheme_is_refused() -> None:
    handler, seen = sequence(httpx.Response(307, headers={"Location": "http://api.test/x"}))
    with pytest.raises(ApiError, match=r"redirected to http://api\.test/x"):
        make_client(handler).get_assistant(ID)
    assert len(seen) == 1


def test_a_redirect_loop_ends_in_an_error() -> None:
    handler, seen = sequence(httpx.Response(307, headers={"Location": "/again"}))
    with pytest.raises(ApiError, match="more than 5 redirects"):
        make_client(handler).get_assistant(ID)
    assert len(seen) == 6


# --- credentials in the URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://user:hunter2-PASS@api.test", "https://hunter2-PASS@api.test/v1"]
)
def test_credentials_in_the_api_url_are_refused_without_showing_them(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_api_url(url)
    assert "must not contain credentials" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError):
        KathanClient(url, Credentials("sk-1234567890", "u"))


def test_the_cli_refuses_credentials_in_kathan_api_url(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KATHAN_API_URL", "http://bob:hunter2-PASS@127.0.0.1:9")
    monkeypatch.setenv("KATHAN_API_KEY", "sk-1234567890")
    monkeypatch.setenv("KATHAN_USER_ID", "u")
    result = invoke("plan")
    assert result.exit_code == 1
    assert "must not contain credentials" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    "url",
    ["https://api.test/v1?token=hunter2-PASS", "https://api.test/#hunter2-PASS", "http://a.test?"],
)
def test_a_query_or_fragment_in_the_api_url_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_api_url(url)
    assert "must not have a query (?...) or a fragment (#...)" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_url_without_scheme_but_with_credentials_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        check_api_url("bob:hunter2@api.test")
    assert "hunter2" not in str(caught.value)


# --- secrets echoed back ----------------------------------------------------------------------

SECRET = "whsec/Live-0123456789-ABCDEF"


@pytest.mark.parametrize(
    "echo",
    [
        f"webhook token {SECRET} is revoked",
        f"webhook token {SECRET.lower()} is revoked",
        f"webhook token {SECRET.upper()} is revoked",
        "bad value " + json.dumps(SECRET).replace("/", "\\/"),
        f"url https://hooks.example/{SECRET}?x=1 refused",
        f"value starts {SECRET[:12]}",  # cut off by the server
        f"value starts {SECRET[:12]}...",
        "percent-encoded whsec%2FLive-0123456789-ABCDEF rejected",
    ],
)
def test_every_form_of_a_secret_is_scrubbed(echo: str) -> None:
    scrubbed = Redactor([SECRET])(echo)
    assert "0123456789" not in scrubbed and "Live-0123" not in scrubbed.replace("[secure]", "")
    assert "[secure]" in scrubbed


def test_the_server_echoing_the_key_in_any_form_never_shows_it() -> None:
    key = "sk-test-NEVER-LEAK-0123456789"
    echoes = [key.upper(), json.dumps({"k": key})[1:-1], key[:20]]
    for echo in echoes:
        handler, _ = sequence(error(422, f"bad header {echo}"))
        with pytest.raises(ApiError) as caught:
            make_client(handler).get_assistant(ID)
        assert "NEVER-LEAK" not in str(caught.value).upper(), caught.value
        assert "[secure]" in str(caught.value)


def test_interpolated_secrets_given_to_the_client_are_scrubbed_before_the_cut() -> None:
    # The server echoes a long body: the secret sits past the 500 characters a message keeps,
    # partly. Scrubbing before cutting leaves no tail of it.
    detail = "x" * 490 + " " + SECRET
    handler, _ = sequence(error(422, detail))
    with pytest.raises(ApiError) as caught:
        make_client(handler, secrets=[SECRET]).get_assistant(ID)
    assert "whsec" not in str(caught.value).lower()


def test_apply_scrubs_an_echo_of_a_sensitive_value_in_any_case() -> None:
    change = Change(
        "support",
        "support.yaml",
        ID,
        Action.UPDATE,
        payload={"call_actions": {"webhook_url": SECRET}},
        sensitive=frozenset({"call_actions.webhook_url"}),
    )
    message = _scrub(f"HTTP 422: token {SECRET.lower()} revoked", change)
    assert message == "HTTP 422: token (sensitive) revoked"


@pytest.mark.parametrize("key", ["k", "any", "kathan"])
def test_a_short_key_is_masked_only_as_a_token(key: str) -> None:
    redact = Redactor([key])
    text = "cannot reach https://api.staging.kathan.tech/any: many tokens"
    assert redact(text) == text
    if len(key) >= 3:
        assert redact(f"invalid key {key}.") == "invalid key [secure]."


def test_a_short_key_leaves_the_clients_messages_readable() -> None:
    handler, _ = sequence(error(401, "Invalid API key: any"))
    client = KathanClient(
        "https://api.staging.kathan.tech",
        Credentials("any", "user-1"),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(ApiError) as caught:
        client.get_assistant(ID)
    assert str(caught.value) == (
        f"HTTP 401 from GET /assistants/{ID}: Invalid API key: [secure] — check KATHAN_API_KEY"
        " and KATHAN_USER_ID"
    )


# --- parallelism from the budget, retries as they happen ----------------------------------------


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(reset)),
    }


@pytest.mark.parametrize(
    ("explicit", "limit", "expected"),
    [(None, None, 32), (None, 100, 10), (None, 1000, 32), (None, 5, 1), (8, 1000, 8), (64, 20, 20)],
)
def test_parallelism_comes_from_the_budget_and_never_exceeds_it(
    explicit: int | None, limit: int | None, expected: int
) -> None:
    fake = FakeTime()
    answer = httpx.Response(
        200, json=assistant(), headers=headers(limit, limit - 1, 60) if limit else {}
    )
    client = make_client(sequence(answer)[0], fake, parallelism=explicit)
    client.get_assistant(ID)
    assert client.parallelism == expected


def test_rate_limit_option_paces_without_headers() -> None:
    fake = FakeTime()
    client = make_client(sequence(ok())[0], fake, rate_limit=2)
    for _ in range(5):
        client.get_assistant(ID)
    assert fake.sleeps == [60.0, 60.0]


def test_retries_and_waits_are_announced_as_they_happen() -> None:
    handler, _ = sequence(
        error(503, "down"), error(429, "Rate limit exceeded", **{"Retry-After": "23"}), ok()
    )
    notes: list[str] = []
    make_client(handler, notify=notes.append).get_assistant(ID)
    assert notes == ["HTTP 503, retrying in 0.1 s (2/5)", "rate limit: waiting 23 s"]


def test_429s_do_not_use_up_the_tries_of_real_failures() -> None:
    limited = error(429, "Rate limit exceeded", **{"Retry-After": "1"})
    handler, seen = sequence(limited, limited, limited, ok())
    fake = FakeTime()
    make_client(handler, fake, retry=RetryPolicy(max_tries=1)).get_assistant(ID)
    assert len(seen) == 4 and fake.sleeps == [1.0, 1.0, 1.0]


def test_a_request_rate_limited_again_and_again_gives_up_saying_so() -> None:
    handler, seen = sequence(error(429, "Rate limit exceeded", **{"Retry-After": "1"}))
    with pytest.raises(ApiError) as caught:
        make_client(handler).get_assistant(ID)
    assert len(seen) == 11
    assert str(caught.value).endswith("(after 11 tries; rate limited 10 times in a row)")


def test_a_client_that_waits_out_no_429_reports_it_plainly() -> None:
    """doctor's client (max_rate_waits=0) once said "rate limited 0 times in a row"."""
    handler, seen = sequence(error(429, "Rate limit exceeded", **{"Retry-After": "1"}))
    with pytest.raises(ApiError) as caught:
        make_client(handler, max_rate_waits=0).get_assistant(ID)
    assert len(seen) == 1
    assert str(caught.value) == f"HTTP 429 from GET /assistants/{ID}: Rate limit exceeded"


def test_sensitive_values_are_found_at_their_paths_and_inside_lists() -> None:
    from kathansync.remote.redact import sensitive_values

    tree = {"call_actions": {"webhook_url": "https://h/tok-123456789"}, "kb": ["a1", 2, "b2"]}
    assert sensitive_values(tree, ["call_actions.webhook_url", "kb", "missing.path"]) == [
        "https://h/tok-123456789",
        "a1",
        "b2",
    ]


def test_a_plan_hands_the_interpolated_values_to_the_client(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, kathan_env: Any
) -> None:
    from kathansync.run import Run
    from kathansync.settings import resolve_settings

    monkeypatch.setenv("HOOK_TOKEN", "hook-Secret-0123456789")
    root = make_repo(files={"assistants/a.yaml": "name: A\nfirst_message: ${HOOK_TOKEN}\n"})
    settings = resolve_settings(
        directory=None, env=None, api_url=None, environ=dict(os.environ), cwd=root
    )
    session = Run(settings)
    with session.connect() as conn:
        session.plan(conn, session.load())
        assert conn.client.redact("echo HOOK-SECRET-0123456789!") == "echo [secure]!"
