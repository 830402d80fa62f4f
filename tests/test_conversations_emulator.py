"""The emulator's POST /chat: deterministic replies from the stored prompt, sessions, 404, 422."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kathansync.emulator import EmulatorServer
from kathansync.emulator.chat import reply

ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SUPPORT: dict[str, Any] = {
    "first_message": "Hi, you've reached Acme support.",
    "system_instruction": (
        "You are Acme's support assistant on a phone line.\n"
        "Be brief: callers are listening, not reading.\n"
        "Answer questions about billing, plans and account access.\n"
        "Never promise refunds; offer to transfer to a human instead.\n"
        "If the caller asks for a human, transfer the call."
    ),
}


def test_first_turn_is_first_message_then_the_best_matching_sentence() -> None:
    assert reply(SUPPORT, "Can I get a refund?", first_turn=True) == (
        "Hi, you've reached Acme support. Never promise refunds; offer to transfer to a human"
        " instead."
    )


def test_later_turns_skip_the_first_message() -> None:
    assert reply(SUPPORT, "What about my billing plans?", first_turn=False) == (
        "Answer questions about billing, plans and account access."
    )


def test_ties_give_up_to_two_sentences_in_prompt_order() -> None:
    assert reply(SUPPORT, "a human please", first_turn=False) == (
        "Never promise refunds; offer to transfer to a human instead."
        " If the caller asks for a human, transfer the call."
    )


def test_no_shared_word_gives_the_first_sentence() -> None:
    assert reply(SUPPORT, "yes please", first_turn=False) == (
        "You are Acme's support assistant on a phone line."
    )


def test_a_prompt_change_changes_the_answer_and_the_same_input_the_same_one() -> None:
    changed = {**SUPPORT, "system_instruction": "Refunds are possible within 30 days."}
    assert reply(changed, "Can I get a refund?", first_turn=False) == (
        "Refunds are possible within 30 days."
    )
    assert reply(SUPPORT, "refund", first_turn=False) == reply(SUPPORT, "refund", False)


def test_missing_or_null_fields_give_an_empty_answer() -> None:
    assert reply({}, "hello", first_turn=True) == ""
    assert reply({"first_message": None, "system_instruction": "Hi."}, "x", True) == "Hi."


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    emulator.seed(ID, **SUPPORT)
    with httpx.Client(base_url=emulator.url, headers=emulator.headers) as client:
        yield client


def test_the_route_keeps_sessions(http: httpx.Client) -> None:
    first = http.post("/chat", json={"assistant_id": ID, "input": "refund?"})
    assert first.status_code == 200
    body = first.json()
    assert body["output_type"] == "text"
    assert body["output"].startswith("Hi, you've reached Acme support.")
    again = http.post(
        "/chat", json={"assistant_id": ID, "input": "refund?", "session_id": body["session_id"]}
    )
    assert again.json() == {
        "output_type": "text",
        "output": "Never promise refunds; offer to transfer to a human instead.",
        "session_id": body["session_id"],
    }
    other = http.post("/chat", json={"assistant_id": ID, "input": "refund?", "session_id": None})
    assert other.json()["session_id"] != body["session_id"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"assistant_id": "3f2b8c1e-0000-4000-8000-000000000001", "input": "hi"}, 404),
        ({"assistant_id": ID, "input": "hi", "session_id": "no-such-session"}, 404),
        ({"input": "hi"}, 422),
        ({"assistant_id": ID}, 422),
        ({"assistant_id": ID, "input": 3}, 422),
    ],
)
def test_the_route_refuses(http: httpx.Client, body: dict[str, Any], status: int) -> None:
    answer = http.post("/chat", json=body)
    assert answer.status_code == status
    if status == 422:
        assert {"loc", "msg", "type"} <= set(answer.json()["detail"][0])


def test_the_route_needs_credentials(emulator: EmulatorServer) -> None:
    answer = httpx.post(f"{emulator.url}/chat", json={"assistant_id": ID, "input": "hi"})
    assert answer.status_code == 401
