"""APPLY -> VERIFY: one Outcome per assistant, checked against the server's answer.

The server is an httpx.MockTransport at the client's edge, so each test decides exactly what
the API answers (including answers a well-behaved server would never give).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import full_assistant

from kathansync.apply import Outcome, Status, apply_changes, result_dict, succeeded
from kathansync.models import Manifest
from kathansync.plan import Action, Change, FingerprintKeys, make_plan
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials

ID_A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
ID_B = "3115faf9-c94c-4b85-83de-fee57eb0657f"
NEW_ID = "9fcab5ab-0455-4595-b9bd-a04c96744697"
SECRET = "https://hooks.example/T0KEN"


def assistant(assistant_id: str, **fields: Any) -> dict[str, Any]:
    """A full assistant as the API returns it, named A, with a short voice and an old webhook."""
    base: dict[str, Any] = {
        "name": "A",
        "system_instruction": "",
        "voice": {"voice_id": "v", "speed": 1},
        "call_actions": {"webhook_url": "https://old"},
    }
    return full_assistant(assistant_id, **{**base, **fields})


class Server:
    """Answers PUT/POST/DELETE; `keep` makes a PUT answer ignore the body (a lossy server)."""

    def __init__(self, *, keep: bool = False, status: int = 200) -> None:
        self.keep, self.status = keep, status
        self.requests: list[tuple[str, str, Any]] = []
        self.stored = {ID_A: assistant(ID_A), ID_B: assistant(ID_B)}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if self.status != 200:
            detail = [{"loc": ["body", "voice", "speed"], "msg": "too fast", "type": "x"}]
            return httpx.Response(self.status, json={"detail": detail})
        if request.method == "POST":
            created = assistant(NEW_ID, **body)
            return httpx.Response(201, json=created)
        assistant_id = request.url.path.rsplit("/", 1)[-1]
        if request.method == "DELETE":
            return httpx.Response(204)
        if not self.keep:
            self.stored[assistant_id] = {**self.stored[assistant_id], **body}
        return httpx.Response(200, json=self.stored[assistant_id])


def client_for(server: Server) -> KathanClient:
    return KathanClient(
        "http://api.test",
        Credentials("test-key", "test-user"),
        transport=httpx.MockTransport(server),
        sleep=lambda _: None,
    )


def plan_for(*manifests: Manifest, server: Server) -> list[Change]:
    remotes = {m.id: server.stored[m.id] for m in manifests if m.id}
    plan = make_plan(list(manifests), remotes, api_url="http://api.test", keys=KEYS)
    return list(plan.changes)


KEYS = FingerprintKeys("salt", b"secret")
FAST = Manifest("a", "a.yaml", ID_A, {"voice": {"speed": 1.2}})
SAME = Manifest("b", "b.yaml", ID_B, {"name": "A"})


def test_applied_and_unchanged() -> None:
    server = Server()
    changes = plan_for(FAST, SAME, server=server)
    with client_for(server) as client:
        outcomes = apply_changes(changes, client)
    assert [(o.handle, o.status, o.paths) for o in outcomes] == [
        ("a", Status.APPLIED, ("voice.speed",)),
        ("b", Status.UNCHANGED, ()),
    ]
    (sent,) = server.requests
    assert sent == ("PUT", f"/assistants/{ID_A}", {"voice": {"voice_id": "v", "speed": 1.2}})
    assert succeeded(outcomes)


def test_a_field_the_server_did_not_take_does_not_converge() -> None:
    server = Server(keep=True)
    changes = plan_for(FAST, server=server)
    with client_for(server) as client:
        (outcome,) = apply_changes(changes, client)
    assert outcome.status is Status.NOT_CONVERGED
    assert outcome.paths == ("voice.speed",)
    assert "voice.speed = 1" in (outcome.message or "")
    assert not succeeded([outcome])


def test_not_converged_never_shows_a_sensitive_value() -> None:
    server = Server(keep=True)
    secret = Manifest(
        "a",
        "a.yaml",
        ID_A,
        {"call_actions": {"webhook_url": SECRET}},
        frozenset({"call_actions.webhook_url"}),
    )
    server.stored[ID_A]["call_actions"]["webhook_url"] = "https://old/OLD-T0KEN"
    changes = plan_for(secret, server=server)
    with client_for(server) as client:
        (outcome,) = apply_changes(changes, client)
    assert outcome.status is Status.NOT_CONVERGED
    assert "(sensitive)" in (outcome.message or "")
    assert "T0KEN" not in json.dumps(outcome.to_dict())
    assert server.requests[0][2]["call_actions"]["webhook_url"] == SECRET, "the real value is sent"


def test_an_http_error_fails_that_assistant_with_status_and_detail() -> None:
    server = Server(status=422)
    changes = plan_for(FAST, server=server)
    with client_for(server) as client:
        (outcome,) = apply_changes(changes, client)
    assert outcome.status is Status.FAILED and outcome.http_status == 422
    assert outcome.message and outcome.message.startswith("a: ")
    assert "voice.speed: too fast" in outcome.message


def test_create_and_delete() -> None:
    server = Server()
    new = Manifest("new", "new.yaml", None, {"name": "New", "voice": {"speed": 1.1}})
    delete = Change(ID_B, None, ID_B, Action.DELETE, name="Old")
    changes = plan_for(new, server=server)
    with client_for(server) as client:
        outcomes = apply_changes([*changes, delete], client)
    assert [(o.handle, o.status, o.id) for o in outcomes] == [
        ("new", Status.CREATED, NEW_ID),
        (ID_B, Status.DELETED, ID_B),
    ]
    assert [r[:2] for r in server.requests] == [
        ("POST", "/assistants"),
        ("DELETE", f"/assistants/{ID_B}"),
    ]


def test_refused_assistants_get_no_request() -> None:
    server = Server()
    changes = plan_for(FAST, server=server)
    stale = Outcome("a", ID_A, Action.UPDATE, Status.STALE, "a: stale plan")
    with client_for(server) as client:
        (outcome,) = apply_changes(changes, client, refused={"a": stale})
    assert outcome is stale
    assert server.requests == []


@pytest.mark.parametrize("status", list(Status))
def test_result_dict_counts_every_status(status: Status) -> None:
    plan = make_plan([], {}, api_url="http://api.test", keys=KEYS)
    result = result_dict(plan, [Outcome("x", None, Action.UPDATE, status)])
    assert result["summary"][status.value.replace("-", "_")] == 1
    assert sum(result["summary"].values()) == 1
    assert result["outcomes"][0]["status"] == status.value


def test_an_unreadable_answer_fails_that_assistant_and_the_others_proceed() -> None:
    server = Server()

    def transport(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(ID_B):  # a proxy mangling one answer
            return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"garbage")
        return server(request)

    other = Manifest("b", "b.yaml", ID_B, {"name": "B2"})
    changes = plan_for(FAST, other, server=server)
    client = KathanClient(
        "http://api.test",
        Credentials("test-key", "test-user"),
        transport=httpx.MockTransport(transport),
        sleep=lambda _: None,
    )
    with client:
        outcomes = {o.handle: o for o in apply_changes(changes, client)}
    assert outcomes["a"].status is Status.APPLIED
    assert outcomes["b"].status is Status.FAILED
    assert "unreadable answer" in (outcomes["b"].message or "")


def test_a_secret_echoed_by_the_server_is_masked() -> None:
    secret = "+15550123987"
    manifest = Manifest(
        "a", "a.yaml", ID_A, {"call_actions": {"transfer_number": secret}},
        frozenset({"call_actions.transfer_number"}),
    )  # fmt: skip

    def transport(request: httpx.Request) -> httpx.Response:
        detail = f"transfer_number {secret} is not a valid number"
        return httpx.Response(422, json={"detail": detail})

    server = Server()
    changes = plan_for(manifest, server=server)
    client = KathanClient(
        "http://api.test",
        Credentials("test-key", "test-user"),
        transport=httpx.MockTransport(transport),
    )
    with client:
        (outcome,) = apply_changes(changes, client)
    assert outcome.status is Status.FAILED
    assert secret not in json.dumps(outcome.to_dict())
    assert "transfer_number (sensitive) is not a valid number" in (outcome.message or "")


def test_a_sibling_the_server_dropped_does_not_converge() -> None:
    server = Server()

    def transport(request: httpx.Request) -> httpx.Response:
        response = server(request)
        if request.method == "PUT":  # a server that replaced voice and lost voice_id
            stored = server.stored[ID_A]
            stored["voice"] = {"speed": stored["voice"]["speed"]}
            return httpx.Response(200, json=stored)
        return response

    changes = plan_for(FAST, server=server)
    client = KathanClient(
        "http://api.test", Credentials("k", "u"), transport=httpx.MockTransport(transport)
    )
    with client:
        (outcome,) = apply_changes(changes, client)
    assert outcome.status is Status.NOT_CONVERGED
    assert outcome.paths == ("voice.voice_id",)
