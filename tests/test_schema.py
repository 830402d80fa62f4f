"""The manifest JSON Schema: valid for both drafts, agrees with the models, stable text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from pydantic import ValidationError
from ruamel.yaml import YAML

from kathansync.models import KNOWN_VALUES, ManifestSpec
from kathansync.schema import DESCRIPTIONS, manifest_schema, schema_json

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "assistants").glob("*.yaml"))
VALIDATORS = (Draft202012Validator, Draft7Validator)
UUID = "3115faf9-c94c-4b85-83de-fee57eb0657f"


def _accepts(document: Any, validator: type = Draft202012Validator) -> bool:
    return validator(manifest_schema()).is_valid(document)


def _model_accepts(document: Any) -> bool:
    try:
        ManifestSpec.model_validate(document)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
def test_schema_is_a_valid_schema_for_both_drafts(validator: Any) -> None:
    validator.check_schema(manifest_schema())


def test_declared_draft() -> None:
    assert manifest_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert manifest_schema("7")["$schema"] == "http://json-schema.org/draft-07/schema#"
    # Only the declaration differs: one body for both kinds of tooling.
    body_2020 = {k: v for k, v in manifest_schema("2020-12").items() if k != "$schema"}
    body_7 = {k: v for k, v in manifest_schema("7").items() if k != "$schema"}
    assert body_2020 == body_7


def test_no_draft_specific_references() -> None:
    text = schema_json()
    # Draft-7 tooling (the YAML language server) does not know `$defs`.
    assert "$defs" not in text
    assert "$ref" not in text


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
def test_repository_examples_are_valid(example: Path, validator: Any) -> None:
    document = YAML(typ="safe").load(example.read_text(encoding="utf-8"))
    errors = [e.message for e in validator(manifest_schema()).iter_errors(document)]
    assert errors == []


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 3


# Documents the schema and the models must judge alike: the schema is a faithful editor aid.
AGREEMENT = [
    ({"name": "x"}, True),
    ({}, True),
    ({"id": UUID}, True),
    ({"id": {"staging": UUID, "production": UUID.upper()}}, True),
    ({"id": "not-a-uuid"}, False),
    ({"id": {"staging": "nope"}}, False),
    ({"id": 12}, False),
    ({"name": None, "knowledge_base_ids": None}, True),  # explicit null clears
    ({"voice": None}, False),  # objects are not nullable
    ({"nmae": "x"}, False),  # unknown top-level key
    ({"voice": {"sped": 1.0}}, False),  # unknown nested key
    ({"voice": {"speed": "fast"}}, False),  # wrong type
    ({"voice": {"speed": 1}}, True),  # an integer is a fine float
    ({"long_term_memory": {"search_limit": 2.5}}, False),
    ({"recording": {"enabled": "yes"}}, False),
    ({"name": 123}, False),
    ({"knowledge_base_ids": ["kb-1", 2]}, False),
    ({"speech_settings": {"style": "cheerful"}}, True),  # unknown value: a warning, not an error
    ({"speech_settings": {"interruptions": False}}, True),  # YAML 1.1 boolean, read as "off"
    ({"speech_settings": {"interruptions": 1}}, False),
    ({"call_actions": {"transfer_mode": "warm", "hangup_triggers": ["bye"]}}, True),
]


@pytest.mark.parametrize(("document", "valid"), AGREEMENT, ids=lambda x: json.dumps(x))
def test_schema_agrees_with_models(document: dict[str, Any], valid: bool) -> None:
    assert _model_accepts(document) is valid
    for validator in VALIDATORS:
        assert _accepts(document, validator) is valid


def test_interpolated_id_is_accepted() -> None:
    # `${VAR}` is replaced before the id is checked, so the editor must not flag it.
    assert _accepts({"id": "${SUPPORT_ASSISTANT_ID}"})
    assert _accepts({"id": {"production": "${PROD_ID}"}})


def test_unknown_key_error_names_the_key() -> None:
    errors = list(Draft202012Validator(manifest_schema()).iter_errors({"voice": {"sped": 1.0}}))
    assert len(errors) == 1
    assert "sped" in errors[0].message
    assert list(errors[0].absolute_path) == ["voice"]


def _properties(node: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        found[child_path] = child
        found.update(_properties(child, child_path))
    return found


def test_every_field_is_described_and_no_description_is_stale() -> None:
    properties = _properties(manifest_schema())
    assert all(prop.get("description") for prop in properties.values())
    assert set(properties) | {""} == set(DESCRIPTIONS)


def test_known_values_are_suggestions() -> None:
    properties = _properties(manifest_schema())
    for path, values in KNOWN_VALUES.items():
        choices = properties[path]["anyOf"]
        assert {"enum": list(values)} in choices
        assert {"type": "string"} in choices


def test_pydantic_unset_defaults_are_not_offered() -> None:
    # `default: null` would make editors insert a null, which clears the field.
    assert '"default"' not in schema_json()


def test_schema_json_is_stable_sorted_text() -> None:
    text = schema_json()
    assert text == schema_json()
    assert text.endswith("}\n")
    assert json.loads(text) == manifest_schema()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
