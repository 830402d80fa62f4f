"""The emulator behaves like the Kathan API of the seed: its contract, auth, ids, bodies, PUT,
the state file, and running it (the newer documents: test_emulator_documents.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from kathansync.emulator import (
    DEFAULTS,
    EmulatorError,
    EmulatorServer,
    create_app,
)
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
# The newer Update Assistant page (variant C) answers with another default LLM; it wins.
NEWER_LLM = {"llm_provider": "openai", "model": "gpt-4o-mini"}
SUPPORT_ID = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
REPO = Path(__file__).resolve().parent.parent


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Dotted leaf paths -> values, so a mismatch names the field."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, child in value.items():
            found.update(leaves(child, f"{path}.{key}" if path else key))
        return found
    return {path: value}


# --- The contract with the seed -----------------------------------------------------------------


def test_created_assistant_is_the_seed_response_example(emulator_api: httpx.Client) -> None:
    response = emulator_api.post("/assistants", json={"name": "<string>"})

    assert response.status_code == 201
    created = response.json()
    assert uuid.UUID(created["id"]).version == 4
    expected = {**SEED_RESPONSE, "id": created["id"], "llm": NEWER_LLM}
    assert leaves(created) == leaves(expected)
    assert list(created) == list(SEED_RESPONSE)  # same field order as the seed
    assert tuple(created) == FIELD_ORDER[: len(created)]  # then the fields added since
    Assistant.model_validate(created)  # what the client parses


def test_defaults_are_the_seed_response_without_id_with_the_newer_llm() -> None:
    assert {"id": "<string>", **DEFAULTS} == {**SEED_RESPONSE, "llm": NEWER_LLM}


def test_created_assistant_is_listed_and_fetchable(emulator_api: httpx.Client) -> None:
    created = emulator_api.post(
        "/assistants", json={"name": "Acme", "voice": {"speed": 1.05}}
    ).json()

    assert emulator_api.get(f"/assistants/{created['id']}").json() == created
    assert emulator_api.get("/assistants").json() == [created]
    assert created["name"] == "Acme" and created["voice"]["speed"] == 1.05


def test_post_requires_a_name(emulator_api: httpx.Client) -> None:
    response = emulator_api.post("/assistants", json={"description": "no name"})

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
def test_unknown_id_is_404(emulator_api: httpx.Client, method: str) -> None:
    body = {"name": "x"} if method == "PUT" else None
    response = emulator_api.request(method, f"/assistants/{UNKNOWN_ID}", json=body)

    assert response.status_code == 404
    assert response.json() == {"detail": "Assistant not found"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_uuid_id_is_422(emulator_api: httpx.Client, method: str) -> None:
    response = emulator_api.request(
        method, "/assistants/support", json={} if method == "PUT" else None
    )

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
    emulator: EmulatorServer,
    emulator_api: httpx.Client,
    body: Any,
    loc: list[Any] | None,
    error_type: str,
) -> None:
    emulator.seed(SUPPORT_ID, name="Acme Support")
    before = emulator.assistants[SUPPORT_ID].copy()

    response = emulator_api.put(f"/assistants/{SUPPORT_ID}", json=body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert {"loc", "msg", "type"} <= set(error)
    assert error["type"] == error_type
    assert error["loc"] == (loc or ["body", "speech_settings", "interruptions"])
    assert emulator.assistants[SUPPORT_ID] == before


def test_nan_is_a_422_not_a_server_error(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    assistant_id = str(uuid.uuid4())
    emulator.seed(assistant_id)
    answer = emulator_api.put(
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


# --- PUT semantics ---------------------------------------------------------------------------


def test_put_replaces_nested_objects_and_omitted_subfields_fall_back_to_defaults(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.seed(
        SUPPORT_ID,
        name="Acme Support",
        voice={"voice_id": "v-1", "speed": 1.2, "language": "de"},
        call_actions={"transfer_mode": "warm"},
    )

    response = emulator_api.put(f"/assistants/{SUPPORT_ID}", json={"voice": {"speed": 1.05}})

    assert response.status_code == 200
    stored = response.json()
    # Strict on purpose: the partial object replaced the stored one, losing voice_id and language.
    assert stored["voice"] == {**DEFAULTS["voice"], "speed": 1.05}
    # Keys not sent are kept as they were.
    assert stored["name"] == "Acme Support"
    assert stored["call_actions"]["transfer_mode"] == "warm"
    assert emulator.assistants[SUPPORT_ID] == stored
    assert emulator_api.get(f"/assistants/{SUPPORT_ID}").json() == stored


@pytest.mark.parametrize("part", sorted(k for k, v in DEFAULTS.items() if isinstance(v, dict)))
def test_an_empty_object_sent_is_the_default_object(
    emulator: EmulatorServer, emulator_api: httpx.Client, part: str
) -> None:
    emulator.seed(SUPPORT_ID, **{part: {"not": "kept"}})

    stored = emulator_api.put(f"/assistants/{SUPPORT_ID}", json={part: {}}).json()

    assert stored[part] == DEFAULTS[part]


def test_put_of_a_whole_object_keeps_every_subfield_sent(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.seed(SUPPORT_ID, voice={"voice_id": "v-1", "speed": 1.2})
    whole = {**emulator.assistants[SUPPORT_ID]["voice"], "speed": 0.9}

    stored = emulator_api.put(f"/assistants/{SUPPORT_ID}", json={"voice": whole}).json()

    assert stored["voice"] == whole


def test_put_null_clears_nullable_fields(
    emulator: EmulatorServer, emulator_api: httpx.Client
) -> None:
    emulator.seed(SUPPORT_ID, description="old", knowledge_base_ids=["kb-1"])

    stored = emulator_api.put(
        f"/assistants/{SUPPORT_ID}", json={"description": None, "knowledge_base_ids": None}
    ).json()

    assert stored["description"] is None
    assert stored["knowledge_base_ids"] == []  # the response type is a list, never null


def test_delete_removes_the_assistant(emulator: EmulatorServer, emulator_api: httpx.Client) -> None:
    emulator.seed(SUPPORT_ID)

    response = emulator_api.delete(f"/assistants/{SUPPORT_ID}")

    assert response.status_code == 204 and response.content == b""
    assert SUPPORT_ID not in emulator.assistants
    assert emulator_api.get(f"/assistants/{SUPPORT_ID}").status_code == 404


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

    with pytest.raises(EmulatorError, match="never reset") as caught:
        create_app(state_file=state)

    assert expected in str(caught.value)
    assert str(state) in str(caught.value)
    assert state.read_text() == text


def test_a_state_file_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match="does not exist"):
        create_app(state_file=tmp_path / "nope" / "state.json")
