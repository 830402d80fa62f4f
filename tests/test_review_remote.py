"""Review of the remote area: regressions found in review, end to end against the emulator."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from conftest import MakeRepo, invoke
from test_client import ID as CLIENT_ID
from test_client import FakeTime, error, make_client, ok, sequence

from kathansync.emulator import EmulatorServer
from kathansync.errors import ApiError

ID = "33df85c1-6f2b-4c4e-9a51-0a7c1f4f3b21"
HOOK = "tok-Review-0123456789abcdef"  # the variable's value alone, as a server may quote it


def test_a_server_echoing_a_variables_value_alone_never_shows_it(
    make_repo: MakeRepo, kathan_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 12: "the variable's value alone (`webhook token <value> is revoked`)" is scrubbed,
    # not only the whole interpolated string it was put into.
    kathan_env.seed(ID, name="Support")
    monkeypatch.setenv("HOOK", HOOK)
    make_repo(
        files={
            "assistants/support.yaml": (
                f"id: {ID}\n"
                "call_actions:\n"
                "  webhook_url: https://hooks.example.com/calls?token=${HOOK}\n"
            )
        }
    )
    kathan_env.inject(
        {"status": 422, "method": "PUT", "detail": f"webhook token {HOOK} is revoked"}
    )
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "is revoked" in result.output
    assert "0123456789abcdef" not in result.output.lower()
    for path in Path(".").rglob("*"):  # nor in anything written (backups hold real values)
        if path.is_file() and "backups" not in path.parts:
            assert "0123456789abcdef" not in path.read_text(errors="replace").lower(), path


def test_time_waiting_for_the_shared_budget_does_not_eat_a_calls_retry_deadline() -> None:
    # --rate-limit 1: the second PUT waits a whole window (60 s) for the budget before its
    # first try. That wait is the budget's, not this call's retrying: a 503 answering that
    # try must still be retried, not end as "past the 60 s retry deadline".
    handler, seen = sequence(ok(), error(503), ok())
    fake = FakeTime()
    client = make_client(handler, fake, rate_limit=1)
    client.update_assistant(CLIENT_ID, {"name": "One"})
    client.update_assistant(CLIENT_ID, {"name": "Two"})
    assert len(seen) == 3
    assert fake.now >= 60  # the window was waited for


def test_an_unreadable_first_answer_does_not_hold_the_next_request() -> None:
    # The first request goes alone until an answer comes. An answer that cannot be decoded
    # (a proxy's broken gzip) is an error, but it must release that hold: otherwise every
    # next request waits PROBE_PATIENCE (10 s, real time) for an answer that never comes.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        gzip = {"Content-Encoding": "gzip"}
        return httpx.Response(200, headers=gzip, stream=httpx.ByteStream(b"not gzip"))

    client = make_client(handler)
    started = time.monotonic()
    for _ in range(2):
        with pytest.raises(ApiError, match="unreadable answer"):
            client.get_assistant(CLIENT_ID)
    assert len(seen) == 2
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("odd_id", ["..", "."])
def test_an_id_of_dots_never_addresses_another_endpoint(odd_id: str) -> None:
    # An id comes from the server's list too (prune deletes what it lists): `..` must stay a
    # segment under /assistants, not climb to the API's root after URL normalisation.
    handler, seen = sequence(httpx.Response(204))
    make_client(handler).delete_assistant(odd_id)
    assert seen[0].url.path.startswith("/assistants/"), seen[0].url


def test_schema_update_replaces_a_saved_schema_that_is_not_utf8(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    # `schema --update` is how a broken kathan-api-schema.json gets fixed (an editor saved it
    # as UTF-16): it must replace it, not crash on reading the old one.
    repo = make_repo(config="manifests: assistants\n")
    (repo / "kathan-api-schema.json").write_bytes("{}".encode("utf-16"))
    result = invoke("schema", "--update")
    assert result.exit_code == 0, result.output
    assert "updated from" in result.output
    saved = (repo / "kathan-api-schema.json").read_text(encoding="utf-8")
    assert '"format_version": "1"' in saved


def test_an_openapi_document_nested_too_deep_is_an_error_not_a_traceback() -> None:
    # openapi.json comes from whatever server --api-url names: one JSON can parse and still be
    # too deep to resolve recursively. An ApiError (exit 1, one line), never a RecursionError.
    from kathansync.remote.openapi import request_schema

    node: dict[str, object] = {"type": "string"}
    for _ in range(400):
        node = {"type": "object", "properties": {"x": node}}
    body = {"content": {"application/json": {"schema": node}}}
    document = {"paths": {"/assistants/{assistant_id}": {"put": {"requestBody": body}}}}
    with pytest.raises(ApiError, match="nested too deeply"):
        request_schema(document)
