"""Running cases: POST /chat bodies, session continuity, repeat, errors as values.

The client's edge is an httpx.MockTransport recording every body; one test goes through the
emulator on a free port to count the conversations a real server sees.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kathansync.conversations.runner import CaseResult, run_suites
from kathansync.conversations.suite import Case, ExpectSpec, Suite, TurnSpec
from kathansync.emulator import EmulatorServer
from kathansync.errors import ApiError
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.remote.pacing import RetryPolicy

ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
CREDS = Credentials(api_key="sk-NEVER-LEAK", user_id="u")


def case(repeat: int = 1, pass_rate: float = 1.0, *turns: TurnSpec) -> Case:
    turns = turns or (TurnSpec(user="first"), TurnSpec(user="second"))
    return Case("c", 3, repeat, pass_rate, turns)


def suite(*cases: Case) -> Suite:
    return Suite("conversations/s.yaml", "support", cases)


class Recorder:
    """A fake /chat: records every body; a new session id per conversation; answers `reply`."""

    def __init__(self, reply: Callable[[dict[str, Any]], httpx.Response] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.sessions = 0
        self.lock = threading.Lock()
        self.reply = reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            self.bodies.append(body)
            if body["session_id"] is None:
                self.sessions += 1
                session = f"s-{self.sessions}"
            else:
                session = body["session_id"]
        if self.reply is not None:
            return self.reply(body)
        output = f"echo {body['input']}"
        return httpx.Response(
            200, json={"output_type": "text", "output": output, "session_id": session}
        )

    def client(self, parallelism: int = 4) -> KathanClient:
        return KathanClient(
            "https://api.test",
            CREDS,
            parallelism=parallelism,
            transport=httpx.MockTransport(self),
            retry=RetryPolicy(max_tries=1),
        )


def run(recorder: Recorder, *suites: Suite, parallelism: int = 4) -> list[CaseResult]:
    with recorder.client(parallelism) as client:
        return run_suites(client, suites, {"support": ID})


def test_each_turn_carries_the_session_id_of_the_answer_before() -> None:
    recorder = Recorder()
    (result,) = run(recorder, suite(case()))
    first, second = recorder.bodies
    assert first == {"assistant_id": ID, "input": "first", "session_id": None}
    assert second == {"assistant_id": ID, "input": "second", "session_id": "s-1"}
    assert result.status == "pass"
    assert [t.output for t in result.runs[0].turns] == ["echo first", "echo second"]


def test_repeat_3_sends_exactly_3_conversations_each_new() -> None:
    recorder = Recorder()
    (result,) = run(recorder, suite(case(3)))
    starts = [b for b in recorder.bodies if b["session_id"] is None]
    assert len(starts) == 3
    assert len(recorder.bodies) == 6
    assert sorted(r.session_id or "" for r in result.runs) == ["s-1", "s-2", "s-3"]
    assert [r.number for r in result.runs] == [1, 2, 3]


def test_repeat_3_against_the_emulator_is_3_conversations() -> None:
    with EmulatorServer() as emulator:
        emulator.seed(ID, system_instruction="Offer a human.", first_message="Hi.")
        credentials = Credentials(emulator.api_key, emulator.user_id)
        with KathanClient(emulator.url, credentials, parallelism=3) as client:
            (result,) = run_suites(client, [suite(case(3))], {"support": ID})
        assert emulator.stats()["methods"] == {"POST": 6}
    sessions = {r.session_id for r in result.runs}
    assert len(sessions) == 3 and None not in sessions
    assert result.runs[0].turns[0].output.startswith("Hi. ")


def test_a_run_stops_at_the_first_broken_turn() -> None:
    recorder = Recorder()
    turns = (
        TurnSpec(user="one", expect=ExpectSpec(contains=("nope",))),
        TurnSpec(user="two"),
    )
    (result,) = run(recorder, suite(case(1, 1.0, *turns)))
    assert [b["input"] for b in recorder.bodies] == ["one"]
    assert result.status == "fail"
    assert result.shown_run is not None
    assert result.shown_run.turns[0].broken == ("contains: missing 'nope'",)


def test_a_case_passes_at_its_pass_rate() -> None:
    answers = iter(["good", "bad", "good"])

    def reply(body: dict[str, Any]) -> httpx.Response:
        output = next(answers)
        return httpx.Response(200, json={"output": output, "session_id": "s", "output_type": ""})

    turns = (TurnSpec(user="x", expect=ExpectSpec(contains=("good",))),)
    (result,) = run(Recorder(reply), suite(case(3, 0.67, *turns)), parallelism=1)
    assert (result.passed_runs, result.required_runs, result.status) == (2, 2, "pass")
    assert result.shown_run is None


def test_an_unknown_assistant_is_a_case_that_cannot_run() -> None:
    recorder = Recorder(lambda body: httpx.Response(404, json={"detail": "Assistant not found"}))
    (result,) = run(recorder, suite(case(2)))
    assert result.status == "error"
    assert result.runs[0].error == f"HTTP 404 from POST /chat: assistant {ID} not found"
    assert len(recorder.bodies) == 2  # not fatal for other runs: another case may differ


def test_refused_credentials_stop_the_runs_not_yet_started() -> None:
    recorder = Recorder(lambda body: httpx.Response(401, json={"detail": "Invalid API key"}))
    (result,) = run(recorder, suite(case(5)), parallelism=1)
    assert len(recorder.bodies) == 1
    assert result.status == "error"
    reasons = [r.error or "" for r in result.runs]
    assert reasons[0].startswith("HTTP 401 from POST /chat: Invalid API key — check")
    assert all(reason.startswith("not run: HTTP 401") for reason in reasons[1:])
    assert all("sk-NEVER-LEAK" not in reason for reason in reasons)


def test_an_answer_that_is_not_a_chat_reply_is_an_error() -> None:
    recorder = Recorder(lambda body: httpx.Response(200, json={"id": "x"}))
    with recorder.client() as client, pytest.raises(ApiError, match="not a chat reply"):
        client.chat(ID, "hi", None)
