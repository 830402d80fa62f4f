"""The JSON Schema of a manifest, for editors: generated from the pydantic models, then annotated.

The models stay the one source of truth for field names and types; this module only adds what an
editor needs and pydantic cannot know: a description for every field, the known enum values as
*suggestions* (DESIGN.md: they are not complete sets), and the `id` forms.

The result uses only keywords that mean the same in draft 7 and draft 2020-12 (no `$defs`,
`prefixItems`, `unevaluatedProperties`, ...), so both kinds of tooling read it the same way: the
YAML language server implements draft 7 and flags a 2020-12 `$schema` as "not yet fully
supported", hence `draft="7"` for the file an editor reads.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from kathansync.models import KNOWN_VALUES, ManifestSpec

Draft = Literal["2020-12", "7"]

META_SCHEMAS: dict[str, str] = {
    "2020-12": "https://json-schema.org/draft/2020-12/schema",
    "7": "http://json-schema.org/draft-07/schema#",
}

SCHEMA_ID = "urn:kathansync:manifest"

# The canonical spelling kathansync writes. `${VAR}` is accepted too: interpolation happens
# before the id is checked, so `id: ${SUPPORT_ID}` is a valid manifest.
UUID_OR_VAR_PATTERN = (
    r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|.*\$\{[^}]+\}.*)$"
)

# Fields whose value is "on"/"off": a YAML boolean there is read as on/off (models.OnOff).
_ON_OFF_FIELDS = frozenset({"speech_settings.interruptions", "speech_settings.emotions"})

DESCRIPTIONS: dict[str, str] = {
    "": "One Kathan assistant managed by kathansync: its id plus the fields of "
    "PUT /assistants/{assistant_id} it manages. A field left out is not managed; an explicit "
    "null on a nullable field clears it. Any string may use ${VAR} (environment variable) or "
    "`!file PATH` (file contents).",
    "id": "The remote assistant's UUID, or a mapping from environment name (kathansync.yaml) to "
    "UUID. Without an id the assistant is planned as a create.",
    "name": "Display name of the assistant.",
    "description": "Free-text description shown in the dashboard.",
    "system_instruction": "The system prompt. Long prompts read best from a file: "
    "`system_instruction: !file prompts/support.md`.",
    "first_message": "What the assistant says first when it speaks first.",
    "voice": "Text-to-speech settings.",
    "voice.voice_id": "Voice identifier at the TTS provider.",
    "voice.tts_provider": "Text-to-speech provider, e.g. cartesia.",
    "voice.tts_model": "Text-to-speech model, e.g. sonic-3.",
    "voice.language": "Language code of the voice, e.g. en.",
    "voice.speed": "Speaking rate; 1 is normal speed, 1.05 slightly faster.",
    "llm": "Language model settings.",
    "llm.llm_provider": "Language model provider, e.g. google.",
    "llm.model": "Language model name, e.g. gemini-1.5-flash.",
    "transcriber": "Speech-to-text settings.",
    "transcriber.stt_provider": "Speech-to-text provider, e.g. deepgram.",
    "transcriber.stt_model": "Speech-to-text model, e.g. nova-3.",
    "transcriber.language": "Language code the caller speaks, e.g. en.",
    "knowledge_base_ids": "Knowledge bases the assistant may search. Compared as a set: order "
    "does not matter.",
    "phone_number_id": "The phone number attached to the assistant.",
    "assistant_speaks_first": "Whether the assistant opens the call with first_message.",
    "speech_settings": "How the assistant talks and listens.",
    "speech_settings.style": "Speaking style. Known values: professional, neutral.",
    "speech_settings.responsiveness": "How quickly the assistant answers. Known values: "
    "instant, balanced.",
    "speech_settings.interruptions": "Whether callers can interrupt: on or off (a YAML boolean "
    "is read as on/off).",
    "speech_settings.emotions": "Emotional expressiveness. Known values: off, natural (a YAML "
    "boolean is read as on/off).",
    "long_term_memory": "Memory of earlier conversations with the same caller.",
    "long_term_memory.enabled": "Whether long-term memory is used.",
    "long_term_memory.search_limit": "How many memories to retrieve per turn.",
    "long_term_memory.search_threshold": "Minimum relevance score of a retrieved memory.",
    "long_term_memory.system_prompt": "Text placed before the retrieved memories in the prompt.",
    "short_term_memory": "Memory within the current conversation.",
    "short_term_memory.enabled": "Whether short-term memory is used.",
    "short_term_memory.search_limit": "How many recent items to retrieve per turn.",
    "call_summary": "Summary written after each call.",
    "call_summary.prompt": "Instructions for writing the call summary.",
    "recording": "Call recording.",
    "recording.enabled": "Whether calls are recorded.",
    "recording.stereo": "Record caller and assistant on separate channels.",
    "recording.mp3_enabled": "Also produce an MP3 file of the recording.",
    "call_actions": "What the assistant may do with the call itself: hang up, transfer, webhook.",
    "call_actions.enabled": "Whether call actions are enabled at all.",
    "call_actions.allow_hangup": "Whether the assistant may end the call.",
    "call_actions.allow_transfer": "Whether the assistant may transfer the call.",
    "call_actions.hangup_triggers": "Phrases that make the assistant end the call.",
    "call_actions.transfer_triggers": "Phrases that make the assistant transfer the call.",
    "call_actions.transfer_number": "Phone number calls are transferred to. Keep it out of git "
    "with ${VAR} if it is private.",
    "call_actions.transfer_mode": "warm: the assistant introduces the caller; cold: a direct "
    "transfer. Known values: warm, cold.",
    "call_actions.confirm_required": "Ask the caller to confirm before hanging up or transferring.",
    "call_actions.auto_hangup_silence_seconds": "End the call after this many seconds of silence.",
    "call_actions.confirm_yes": "Phrases that count as a yes when confirming.",
    "call_actions.confirm_no": "Phrases that count as a no when confirming.",
    "call_actions.webhook_url": "URL called on call actions. Use ${VAR} when it holds a token.",
    "call_actions.webhook_timeout_ms": "Webhook timeout in milliseconds.",
    "icon": "Icon shown for the assistant in the dashboard.",
    "guardrails": "Rules the assistant must keep to whatever the caller says.",
    "machine_detection_timeout_seconds": "Seconds to wait while detecting an answering machine "
    "on outbound calls.",
}


def manifest_schema(draft: Draft = "2020-12") -> dict[str, Any]:
    """The JSON Schema of one manifest file, declared as `draft` (the body is the same)."""
    raw = ManifestSpec.model_json_schema()
    definitions = raw.pop("$defs", {})
    schema = _annotate(_inline(raw, definitions), path="")
    schema["properties"]["id"] = _id_schema(schema["properties"]["id"]["description"])
    return {
        "$schema": META_SCHEMAS[draft],
        "$id": SCHEMA_ID,
        "title": "kathansync assistant manifest",
        **schema,
    }


def schema_json(draft: Draft = "2020-12") -> str:
    """The schema as stable text: sorted keys, two-space indent, a final newline."""
    return json.dumps(manifest_schema(draft), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace every `#/$defs/X` reference by a copy of X (the models have no cycles)."""
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].removeprefix("#/$defs/")]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _inline({**target, **siblings}, definitions)
    return {key: _inline(value, definitions) for key, value in node.items()}


def _annotate(node: dict[str, Any], path: str) -> dict[str, Any]:
    """Describe the field at `path`, drop pydantic's noise, and recurse into object properties."""
    # `default: null` is pydantic's "unset" marker, not an API default: an editor would offer to
    # insert `null`, which clears the field. Auto titles ("Voice Id") only repeat the key.
    node = {key: value for key, value in node.items() if key not in ("default", "title")}
    try:
        node["description"] = DESCRIPTIONS[path]
    except KeyError:
        raise KeyError(f"no description for manifest field {path!r} in DESCRIPTIONS") from None
    if path in KNOWN_VALUES:
        node = _suggest(node, KNOWN_VALUES[path], on_off=path in _ON_OFF_FIELDS)
    properties = node.get("properties")
    if isinstance(properties, dict):
        node["properties"] = {
            name: _annotate(child, f"{path}.{name}" if path else name)
            for name, child in properties.items()
        }
    return node


def _suggest(node: dict[str, Any], values: tuple[str, ...], *, on_off: bool) -> dict[str, Any]:
    """Offer known values for completion while still accepting any string (not a hard limit)."""
    choices: list[dict[str, Any]] = [{"enum": list(values)}, {"type": "string"}]
    if on_off:
        choices.append({"type": "boolean"})
    rest = {key: value for key, value in node.items() if key != "type"}
    return {**rest, "anyOf": choices}


def _id_schema(description: str) -> dict[str, Any]:
    uuid = {
        "type": "string",
        "pattern": UUID_OR_VAR_PATTERN,
        # Understood by the YAML language server; other validators ignore unknown keywords.
        "patternErrorMessage": "expected a UUID like 3f2b8c1e-0000-4000-8000-000000000000 "
        "or ${VAR}",
    }
    per_environment = {
        "type": "object",
        "additionalProperties": uuid,
        "minProperties": 1,
        "description": "Environment name -> UUID, e.g. {staging: ..., production: ...}.",
    }
    return {"description": description, "anyOf": [uuid, per_environment]}
