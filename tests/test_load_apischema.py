"""Fields only the saved API schema (kathan-api-schema.json) knows: typed, noted, planned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo

from kathansync.load import LoadResult, load_manifests
from kathansync.plan.diff import build_payload, diff_leaves

UUID_A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"

# What FastAPI writes for `voicemail_detection: bool | None`, an int and an object field.
API_SCHEMA: dict[str, Any] = {
    "format_version": "1",
    "source": "http://127.0.0.1:1/openapi.json",
    "fetched_at": "2026-11-29T12:00:00Z",
    "schema": {
        "type": "object",
        "properties": {
            "name": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "voicemail_detection": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            "max_turns": {"type": "integer"},
            "voice": {  # FastAPI's Optional[Voice], with a field added since
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"speed": {"type": "number"}, "pitch": {"type": "number"}},
                    },
                    {"type": "null"},
                ]
            },
            "handoff": {
                "type": "object",
                "properties": {"queue": {"type": "string"}, "priority": {"type": "integer"}},
                "additionalProperties": False,
            },
        },
    },
}


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="")


def save_schema(repo: Path, data: Any = API_SCHEMA) -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    (repo / "kathan-api-schema.json").write_text(text, encoding="utf-8")


def load(repo: Path, text: str) -> LoadResult:
    (repo / "assistants" / "support.yaml").write_text(text, encoding="utf-8")
    return load_manifests(repo / "assistants", environ={})


def messages(result: LoadResult) -> list[str]:
    return [str(p) for p in result.problems]


def test_a_field_the_schema_documents_is_typed_accepted_and_noted(repo: Path) -> None:
    save_schema(repo)
    result = load(repo, f"id: {UUID_A}\nname: Support\nvoicemail_detection: true\n")

    assert result.errors == []
    assert result.manifests[0].desired == {"name": "Support", "voicemail_detection": True}
    [note] = result.warnings
    assert str(note) == (
        "assistants/support.yaml:3:1: warning: note: voicemail_detection is not in this"
        " kathansync's models; typed by kathan-api-schema.json (true or false or null)"
        " and planned like any field"
    )


def test_the_note_is_given_once_per_field_per_run(repo: Path) -> None:
    save_schema(repo)
    (repo / "assistants" / "other.yaml").write_text("max_turns: 3\n", encoding="utf-8")
    result = load(repo, "max_turns: 4\n")
    assert len(result.manifests) == 2
    assert [w.message.split(" ")[1] for w in result.warnings] == ["max_turns"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nvoicemail_detection: maybe\n",
            "assistants/support.yaml:2:22: error: voicemail_detection: expected true or false"
            " or null, got string 'maybe'",
        ),
        (
            "max_turns: 2.5\n",
            "assistants/support.yaml:1:12: error: max_turns: expected a whole number,"
            " got number 2.5",
        ),
        (
            "handoff:\n  queue: sales\n  priority: high\n",
            "assistants/support.yaml:3:13: error: handoff.priority: expected a whole number,"
            " got string 'high'",
        ),
        (
            "handoff:\n  qeue: sales\n",
            "assistants/support.yaml:2:3: error: unknown key 'qeue' in handoff;"
            " did you mean 'queue'?",
        ),
    ],
)
def test_a_wrong_type_is_an_error_at_file_line(repo: Path, text: str, expected: str) -> None:
    save_schema(repo)
    result = load(repo, text)
    assert result.manifests == []
    assert expected in messages(result)


def test_a_key_unknown_to_both_is_an_error_with_did_you_mean_from_either(repo: Path) -> None:
    save_schema(repo)
    result = load(repo, "voicemail_detecton: true\n")
    assert messages(result) == [
        "assistants/support.yaml:1:1: error: unknown key 'voicemail_detecton';"
        " did you mean 'voicemail_detection'?"
    ]


def test_without_the_schema_file_the_field_stays_unknown(repo: Path) -> None:
    result = load(repo, "voicemail_detection: true\n")
    assert messages(result) == [
        "assistants/support.yaml:1:1: error: unknown key 'voicemail_detection'"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format_version": "9", "schema": {}}), "expected format_version '1'"),
        (json.dumps({"format_version": "1", "schema": []}), 'expected "schema" with'),
        ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels deep"),
        (
            json.dumps(
                {"format_version": "1", "schema": {"properties": {"x": {"anyOf": []}}}}
            ).replace("[]", "[" * 70 + "]" * 70),
            "nested more than 64 levels deep",
        ),
    ],
)
def test_an_unusable_schema_file_is_an_error_naming_it(
    repo: Path, content: str, message: str
) -> None:
    save_schema(repo, content)
    result = load(repo, "name: x\n")
    [error] = result.errors
    assert error.file == "kathan-api-schema.json"
    assert message in error.message


def test_a_schema_only_field_is_carried_into_the_put_body(repo: Path) -> None:
    save_schema(repo)
    result = load(repo, "name: Support\nvoicemail_detection: true\nhandoff:\n  queue: sales\n")
    desired = result.manifests[0].desired
    remote = {"id": UUID_A, "name": "Support", "handoff": {"queue": "main", "priority": 2}}

    changes = diff_leaves(desired, remote)
    payload = build_payload(desired, remote, changes)

    assert [c.dotted for c in changes] == ["voicemail_detection", "handoff.queue"]
    # An object is sent whole, so a server that replaces objects keeps `priority`.
    assert payload == {"handoff": {"queue": "sales", "priority": 2}, "voicemail_detection": True}
    assert diff_leaves(desired, {**remote, **payload}) == []


def test_a_field_added_inside_a_known_object_is_typed_too(repo: Path) -> None:
    save_schema(repo)
    result = load(repo, "voice:\n  speed: 1.1\n  pitch: 0.5\n")
    assert result.errors == []
    assert result.manifests[0].desired == {"voice": {"speed": 1.1, "pitch": 0.5}}
    [note] = result.warnings
    assert note.line == 3 and note.message.startswith("note: voice.pitch is not in this")

    remote = {"id": UUID_A, "voice": {"speed": 1.1, "pitch": 0.1, "language": "en"}}
    desired = result.manifests[0].desired
    payload = build_payload(desired, remote, diff_leaves(desired, remote))
    assert payload == {"voice": {"speed": 1.1, "pitch": 0.5, "language": "en"}}


def test_a_wrong_type_inside_a_known_object_is_an_error(repo: Path) -> None:
    save_schema(repo)
    result = load(repo, "voice:\n  pitch: high\n  sped: 1\n")
    assert messages(result) == [
        "assistants/support.yaml:2:3: warning: note: voice.pitch is not in this kathansync's"
        " models; typed by kathan-api-schema.json (a number) and planned like any field",
        "assistants/support.yaml:2:10: error: voice.pitch: expected a number, got string 'high'",
        "assistants/support.yaml:3:3: error: unknown key 'sped' in voice; did you mean 'speed'?",
    ]


def test_the_extra_fields_are_the_ones_the_models_lack_for_load_and_restore(repo: Path) -> None:
    # Read against the models' plain shape (load/spec_shape.py), not the models themselves: the
    # same fields, top level and inside known objects, and never inside a field of another kind.
    from kathansync.backup.restoring import _schema_fields

    properties = {
        **API_SCHEMA["schema"]["properties"],
        "id": {"type": "string"},  # the manifest's own key
        "icon": {"type": "object", "properties": {"size": {"type": "integer"}}},  # a string here
        "llm": {"type": "object", "properties": {"model": {}, "temperature": {}}},
        "call_actions": {"anyOf": [{"properties": {"enabled": {}, "escalation": {}}}]},
    }
    save_schema(repo, {**API_SCHEMA, "schema": {"properties": properties}})
    assert _schema_fields(repo) == {
        "voicemail_detection",
        "max_turns",
        "voice.pitch",
        "handoff",
        "llm.temperature",
        "call_actions.escalation",
    }
