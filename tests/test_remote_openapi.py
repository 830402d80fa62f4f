"""The API's own schema: extracting the PUT body from openapi.json, and `schema --update`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke

from kathansync.emulator import EmulatorServer
from kathansync.errors import ApiError
from kathansync.remote.openapi import request_schema, resolve_refs, saved_schema


def document(body: dict[str, Any], **schemas: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/assistants/{assistant_id}": {
                "get": {},
                "put": {"requestBody": {"content": {"application/json": {"schema": body}}}},
            }
        },
        "components": {"schemas": schemas},
    }


VOICE = {"type": "object", "properties": {"speed": {"type": "number"}}}
UPDATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "voice": {"$ref": "#/components/schemas/Voice"},
        "llm": {"anyOf": [{"$ref": "#/components/schemas/Voice"}, {"type": "null"}]},
        "icon": {"$ref": "#/components/schemas/Icon", "description": "kept over the target's"},
    },
}
ICON = {"type": "string", "description": "the target's"}


def test_refs_are_resolved_inline_everywhere() -> None:
    doc = document({"$ref": "#/components/schemas/Update"}, Update=UPDATE, Voice=VOICE, Icon=ICON)
    schema = request_schema(doc)
    assert schema["properties"]["voice"] == VOICE
    assert schema["properties"]["llm"]["anyOf"][0] == VOICE
    assert schema["properties"]["icon"] == {
        "type": "string",
        "description": "kept over the target's",
    }
    assert "$ref" not in json.dumps(schema)


def test_the_saved_file_has_the_agreed_format() -> None:
    doc = document({"$ref": "#/components/schemas/Update"}, Update=UPDATE, Voice=VOICE, Icon=ICON)
    when = datetime(2026, 11, 29, 15, 0, 0, tzinfo=UTC)
    saved = saved_schema(doc, "http://x/openapi.json", when)
    assert saved["format_version"] == "1" and saved["source"] == "http://x/openapi.json"
    assert saved["fetched_at"] == "2026-11-29T15:00:00Z"
    assert set(saved["schema"]["properties"]) == {"name", "voice", "llm", "icon"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "no `paths`"),
        ({"paths": {"/calls": {}}}, "documents no PUT"),
        (document({"$ref": "#/components/schemas/Gone"}), "points nowhere"),
        (document({"$ref": "https://elsewhere/schema.json"}), "only local references"),
        (document({"type": "string"}), "not an object with properties"),
        (
            document(
                {"$ref": "#/components/schemas/Loop"},
                Loop={"type": "object", "properties": {"x": {"$ref": "#/components/schemas/Loop"}}},
            ),
            "contains itself",
        ),
    ],
)
def test_unusable_documents_are_clear_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError, match=message):
        request_schema(doc)


def test_a_ref_used_twice_side_by_side_is_not_a_cycle() -> None:
    node = {"a": {"$ref": "#/components/schemas/V"}, "b": {"$ref": "#/components/schemas/V"}}
    assert resolve_refs(node, {"components": {"schemas": {"V": VOICE}}}) == {"a": VOICE, "b": VOICE}


def test_a_schema_that_doubles_at_every_level_is_refused_not_inlined() -> None:
    """30 levels each referring to the next twice would inline to 2**30 nodes: an error, fast."""
    schemas = {
        f"S{n}": {
            "properties": {
                "a": {"$ref": f"#/components/schemas/S{n + 1}"},
                "b": {"$ref": f"#/components/schemas/S{n + 1}"},
            }
        }
        for n in range(30)
    }
    schemas["S30"] = {"type": "string"}
    document = {"components": {"schemas": schemas}}
    with pytest.raises(ApiError, match="inlines to over 100000 nodes"):
        resolve_refs({"$ref": "#/components/schemas/S0"}, document)


def test_schema_update_saves_the_emulators_schema_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kathan_env: EmulatorServer
) -> None:
    (tmp_path / "kathansync.yaml").write_text("manifests: assistants\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    result = invoke("schema", "--update")
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "kathan-api-schema.json").read_text())
    assert saved["format_version"] == "1"
    assert saved["source"] == f"{kathan_env.url}/openapi.json"
    assert {"name", "voice", "system_instruction"} <= set(saved["schema"]["properties"])
    assert "$ref" not in json.dumps(saved)
    assert "created" in result.stdout and "commit this file" in result.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_schema_update_against_an_unreachable_api_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kathan_env: EmulatorServer
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("schema", "--update", "--api-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.output
    assert not (tmp_path / "kathan-api-schema.json").exists()
