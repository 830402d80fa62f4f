"""POST /chat on the emulator: the route, its sessions and its errors (the agreed interface).

The reply text is chat.reply's business; these tests only check the route hands it the stored
assistant, the input and whether this is the session's first turn.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from kathansync.emulator import EmulatorServer
from kathansync.emulator.chat import reply

SUPPORT_ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
SALES_ID = "6a1c3f0e-8a52-4d0b-9a34-1f2e3d4c5b6a"
PROMPT = "You are Acme support. Refunds go to a human agent. Opening hours are 8 to 18."


@pytest.fixture
def support(emulator: EmulatorServer) -> EmulatorServer:
    emulator.seed(SUPPORT_ID, system_instruction=PROMPT, first_message="Hi, Acme here.")
    emulator.seed(SALES_ID, system_instruction="You sell Acme boxes.")
    return emulator


def chat(client: httpx.Client, text: str, session_id: str | None = None, **body: Any) -> Any:
    answer = client.post(
        "/chat",
        json={"assistant_id": SUPPORT_ID, "input": text, "session_id": session_id, **body},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_conversation_keeps_its_session(
    support: EmulatorServer, emulator_api: httpx.Client
) -> None:
    assistant = support.assistants[SUPPORT_ID]

    first = chat(emulator_api, "Can I get a refund?")
    second = chat(emulator_api, "When are you open?", first["session_id"])
    other = chat(emulator_api, "Can I get a refund?")

    assert first == {
        "output_type": "text",
        "output": reply(assistant, "Can I get a refund?", True),
        "session_id": first["session_id"],
    }
    assert uuid.UUID(first["session_id"]).version == 4
    assert second["session_id"] == first["session_id"]
    assert second["output"] == reply(assistant, "When are you open?", False)
    assert other["session_id"] != first["session_id"]  # no session_id: a new conversation
    assert support.sessions.turns(first["session_id"]) == 2
    assert support.sessions.turns(other["session_id"]) == 1


def test_the_session_id_may_be_left_out(
    support: EmulatorServer, emulator_api: httpx.Client
) -> None:
    answer = emulator_api.post("/chat", json={"assistant_id": SUPPORT_ID, "input": "Hello"})

    assert answer.status_code == 200
    assert support.sessions.turns(answer.json()["session_id"]) == 1


def test_a_prompt_change_changes_the_answers(
    support: EmulatorServer, emulator_api: httpx.Client
) -> None:
    session = chat(emulator_api, "Hello")["session_id"]
    before = chat(emulator_api, "Do refunds go to a human?", session)["output"]
    emulator_api.put(
        f"/assistants/{SUPPORT_ID}",
        json={"system_instruction": "You are Acme support. Refunds are handled by email."},
    )

    after = chat(emulator_api, "Do refunds go to a human?", session)["output"]

    assert after != before


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"assistant_id": str(uuid.uuid4()), "input": "Hi"}, "Assistant not found"),
        ({"assistant_id": "support", "input": "Hi"}, "Assistant not found"),
        ({"assistant_id": SUPPORT_ID, "input": "Hi", "session_id": "nope"}, "Session not found"),
    ],
)
def test_unknown_assistant_or_session_is_404(
    support: EmulatorServer, emulator_api: httpx.Client, body: dict[str, Any], detail: str
) -> None:
    answer = emulator_api.post("/chat", json=body)

    assert answer.status_code == 404
    assert answer.json() == {"detail": detail}


def test_a_session_belongs_to_its_assistant(
    support: EmulatorServer, emulator_api: httpx.Client
) -> None:
    session = chat(emulator_api, "Hello")["session_id"]

    answer = emulator_api.post(
        "/chat", json={"assistant_id": SALES_ID, "input": "Hi", "session_id": session}
    )

    assert answer.status_code == 404
    assert answer.json() == {"detail": "Session not found"}
    assert support.sessions.turns(session) == 1


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"assistant_id": SUPPORT_ID}, ["body", "input"], "missing"),
        ({"input": "Hi"}, ["body", "assistant_id"], "missing"),
        ({"assistant_id": SUPPORT_ID, "input": 3}, ["body", "input"], "string_type"),
        (
            {"assistant_id": SUPPORT_ID, "input": "Hi", "input_type": "text"},
            None,
            "extra_forbidden",
        ),
        ({"assistant_id": SUPPORT_ID, "input": "Hi", "session_id": 7}, None, "string_type"),
    ],
)
def test_a_bad_body_is_422(
    support: EmulatorServer,
    emulator_api: httpx.Client,
    body: dict[str, Any],
    loc: list[str] | None,
    error_type: str,
) -> None:
    answer = emulator_api.post("/chat", json=body)

    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["type"] == error_type
    assert error["loc"] == (loc or ["body", list(body)[-1]])


def test_reset_forgets_every_conversation(
    support: EmulatorServer, emulator_api: httpx.Client
) -> None:
    session = chat(emulator_api, "Hello")["session_id"]

    httpx.post(f"{support.url}/_emulator/reset")

    assert support.sessions.turns(session) == 0
