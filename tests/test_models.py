"""Models: the seed's fields, strict manifest types, lax responses."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from kathansync.models import (
    FIELD_ORDER,
    OBJECT_FIELDS,
    Assistant,
    AssistantSpec,
    ManifestSpec,
)


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        ManifestSpec.model_validate(data)
    return [(e["loc"], e["type"]) for e in caught.value.errors()]


def test_the_seed_body_fields_are_all_there_in_api_order() -> None:
    assert set(AssistantSpec.model_fields) == set(FIELD_ORDER) - {"id"}
    assert FIELD_ORDER[:3] == ("id", "name", "system_instruction")
    assert {
        "voice", "llm", "transcriber", "speech_settings", "long_term_memory",
        "short_term_memory", "call_summary", "recording", "call_actions",
    } == OBJECT_FIELDS  # fmt: skip


def test_absent_and_null_stay_distinguishable() -> None:
    model = ManifestSpec.model_validate({"description": None, "voice": {"speed": 1}})
    assert model.model_dump(mode="json", exclude_unset=True) == {
        "description": None,
        "voice": {"speed": 1.0},
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": 12}, [(("name",), "string_type")]),
        ({"voice": {"speed": "fast"}}, [(("voice", "speed"), "float_type")]),
        ({"voice": {"speed": math.nan}}, [(("voice", "speed"), "finite_number")]),
        ({"long_term_memory": {"search_threshold": math.inf}},
         [(("long_term_memory", "search_threshold"), "finite_number")]),
        ({"recording": {"enabled": "yes"}}, [(("recording", "enabled"), "bool_type")]),
        ({"voice": {"speed": None}}, [(("voice", "speed"), "float_type")]),  # not nullable
        ({"voice": {"sped": 1}}, [(("voice", "sped"), "extra_forbidden")]),
        ({"id": "not-a-uuid"}, [(("id",), "value_error")]),
    ],
)  # fmt: skip
def test_manifest_types_are_strict(
    data: dict[str, Any], expected: list[tuple[tuple[Any, ...], str]]
) -> None:
    found = errors(data)
    assert [f for f in found if f in expected] == expected


@pytest.mark.parametrize(("written", "read"), [(True, "on"), (False, "off"), ("on", "on")])
def test_a_yaml_boolean_where_on_off_is_expected_reads_as_on_off(written: Any, read: str) -> None:
    model = ManifestSpec.model_validate({"speech_settings": {"interruptions": written}})
    assert model.speech_settings.interruptions == read


def test_responses_ignore_unknown_fields_and_accept_lax_types() -> None:
    answer = Assistant.model_validate(
        {
            "id": "x", "name": "n", "system_instruction": "", "voice": {"speed": 1, "new": 1},
            "llm": {}, "transcriber": {}, "speech_settings": {}, "long_term_memory": {},
            "short_term_memory": {}, "call_summary": {}, "recording": {}, "call_actions": {},
            "added_later": True,
        }
    )  # fmt: skip
    assert answer.voice.speed == 1.0
    assert answer.knowledge_base_ids == []


def test_the_fields_of_the_newer_update_page_are_typed() -> None:
    body = {"icon": "headset", "guardrails": "No refunds.", "machine_detection_timeout_seconds": 31}
    model = AssistantSpec.model_validate(body)
    assert model.model_dump(mode="json", exclude_unset=True) == {
        **body,
        "machine_detection_timeout_seconds": 31.0,
    }
    assert errors({"icon": 1, "guardrails": None, "machine_detection_timeout_seconds": "31"}) == [
        (("icon",), "string_type"),
        (("guardrails",), "string_type"),
        (("machine_detection_timeout_seconds",), "float_type"),
    ]
    response = {
        "id": "x", "name": "n", "system_instruction": "", "voice": {}, "llm": {},
        "transcriber": {}, "speech_settings": {}, "long_term_memory": {},
        "short_term_memory": {}, "call_summary": {}, "recording": {}, "call_actions": {},
    }  # fmt: skip
    assert Assistant.model_validate(response).icon is None  # the response may not carry them
    assert Assistant.model_validate({**response, "icon": "headset"}).icon == "headset"
