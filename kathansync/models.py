"""Pydantic models of the Kathan assistant, spelled exactly as the API spells it.

Two families, one set of field names:
- `*Spec` / `ManifestSpec`: what a manifest may say. Every field is optional (absent means
  "not managed"), unknown keys are errors, types are strict (a YAML `123` is not a string).
- `Assistant` and its parts: what the API returns. Unknown keys are ignored (the API may grow).

Field types follow ../shared/seed/update-assistant.txt. Where the seed only shows a placeholder
(`123`), the type chosen is listed in docs/api.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# The loaded desired state lives without pydantic (a warm load needs no models); re-exported.
from kathansync.manifest import Manifest as Manifest

# Values the seed shows for enum-like fields. Not complete sets (DESIGN.md): an unknown value is
# a warning with a suggestion, and an error only under `validate --strict`.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "speech_settings.style": ("professional", "neutral"),
    "speech_settings.responsiveness": ("instant", "balanced"),
    "speech_settings.interruptions": ("on", "off"),
    "speech_settings.emotions": ("off", "natural"),
    "call_actions.transfer_mode": ("warm", "cold"),
}

# Set-valued lists: compared without regard to order.
UNORDERED_LISTS = frozenset({"knowledge_base_ids"})

# Nullable in the request but a plain list in the response: the server stores null as [].
EMPTY_WHEN_NULL = frozenset({"knowledge_base_ids"})

# Top-level fields the seed marks `| null`: an explicit null in a manifest means "clear it".
NULLABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "system_instruction",
        "first_message",
        "knowledge_base_ids",
        "phone_number_id",
        "assistant_speaks_first",
    }
)


def _on_off(value: Any) -> Any:
    """YAML 1.1 tools write `on`/`off` as booleans; read them back as the API's words."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    return value


OnOff = Annotated[str, BeforeValidator(_on_off)]

# Absent and explicit null must stay distinguishable: fields default to None *without*
# validating the default, so `exclude_unset` tells what the user wrote, and an explicit null on
# a non-nullable field still fails type validation.
UNSET: Any = Field(default=None)


class Spec(BaseModel):
    """A manifest part: strict types, no unknown keys."""

    # JSON has no NaN or Infinity: a `.nan` in YAML could never be sent.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class VoiceSpec(Spec):
    voice_id: str = UNSET
    tts_provider: str = UNSET
    tts_model: str = UNSET
    language: str = UNSET
    speed: float = UNSET


class LlmSpec(Spec):
    llm_provider: str = UNSET
    model: str = UNSET


class TranscriberSpec(Spec):
    stt_provider: str = UNSET
    stt_model: str = UNSET
    language: str = UNSET


class SpeechSettingsSpec(Spec):
    style: str = UNSET
    responsiveness: str = UNSET
    interruptions: OnOff = UNSET
    emotions: OnOff = UNSET


class LongTermMemorySpec(Spec):
    enabled: bool = UNSET
    search_limit: int = UNSET
    search_threshold: float = UNSET
    system_prompt: str = UNSET


class ShortTermMemorySpec(Spec):
    enabled: bool = UNSET
    search_limit: int = UNSET


class CallSummarySpec(Spec):
    prompt: str = UNSET


class RecordingSpec(Spec):
    enabled: bool = UNSET
    stereo: bool = UNSET
    mp3_enabled: bool = UNSET


class CallActionsSpec(Spec):
    enabled: bool = UNSET
    allow_hangup: bool = UNSET
    allow_transfer: bool = UNSET
    hangup_triggers: list[str] = UNSET
    transfer_triggers: list[str] = UNSET
    transfer_number: str = UNSET
    transfer_mode: str = UNSET
    confirm_required: bool = UNSET
    auto_hangup_silence_seconds: int = UNSET
    confirm_yes: list[str] = UNSET
    confirm_no: list[str] = UNSET
    webhook_url: str = UNSET
    webhook_timeout_ms: int = UNSET


class AssistantSpec(Spec):
    """The body of PUT /assistants/{assistant_id}, every field optional."""

    name: str | None = UNSET
    description: str | None = UNSET
    system_instruction: str | None = UNSET
    first_message: str | None = UNSET
    voice: VoiceSpec = UNSET
    llm: LlmSpec = UNSET
    transcriber: TranscriberSpec = UNSET
    knowledge_base_ids: list[str] | None = UNSET
    phone_number_id: str | None = UNSET
    assistant_speaks_first: bool | None = UNSET
    speech_settings: SpeechSettingsSpec = UNSET
    long_term_memory: LongTermMemorySpec = UNSET
    short_term_memory: ShortTermMemorySpec = UNSET
    call_summary: CallSummarySpec = UNSET
    recording: RecordingSpec = UNSET
    call_actions: CallActionsSpec = UNSET
    # From the newer Update Assistant page (variant C). It shows no `| null`: not nullable here.
    icon: str = UNSET
    guardrails: str = UNSET
    machine_detection_timeout_seconds: float = UNSET


# The canonical spelling only: uuid.UUID() also takes braces, "urn:uuid:" and no hyphens, and
# two spellings of one id would defeat duplicate checks, adoption and prune.
UUID_PATTERN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


UUID_EXPECTED = (
    "expected a UUID like 3f2b8c1e-0000-4000-8000-000000000000 (8-4-4-4-12 hex digits, hyphens)"
)


def is_uuid(value: str) -> bool:
    """A UUID in the 8-4-4-4-12 hyphenated form (any case)."""
    return UUID_PATTERN.fullmatch(value) is not None


def _check_uuid(value: str) -> str:
    if not is_uuid(value):
        raise ValueError(f"{UUID_EXPECTED}, got {value!r}")
    return value


class ManifestSpec(AssistantSpec):
    """What one manifest file may say (for the editor's JSON Schema): the id plus the fields.

    Not to be confused with `Manifest`, the loaded desired state the pipeline passes on.

    `id` is a UUID, or a mapping from environment name to UUID (kathansync.yaml environments).
    """

    id: str | dict[str, str] = UNSET

    @field_validator("id")
    @classmethod
    def _id_is_uuid(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict):
            for env_id in value.values():
                _check_uuid(env_id)
            return value
        return _check_uuid(value)


# --- What the API returns -------------------------------------------------------------------


class Part(BaseModel):
    """A response part: lax types, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore")


class Voice(Part):
    voice_id: str | None = None
    tts_provider: str | None = None
    tts_model: str | None = None
    language: str | None = None
    speed: float | None = None


class Llm(Part):
    llm_provider: str | None = None
    model: str | None = None


class Transcriber(Part):
    stt_provider: str | None = None
    stt_model: str | None = None
    language: str | None = None


class SpeechSettings(Part):
    style: str | None = None
    responsiveness: str | None = None
    interruptions: str | None = None
    emotions: str | None = None


class LongTermMemoryConfig(Part):
    enabled: bool | None = None
    search_limit: int | None = None
    search_threshold: float | None = None
    system_prompt: str | None = None


class ShortTermMemoryConfig(Part):
    enabled: bool | None = None
    search_limit: int | None = None


class CallSummaryConfig(Part):
    prompt: str | None = None


class RecordingSettings(Part):
    enabled: bool | None = None
    stereo: bool | None = None
    mp3_enabled: bool | None = None


class CallActionsConfig(Part):
    enabled: bool | None = None
    allow_hangup: bool | None = None
    allow_transfer: bool | None = None
    hangup_triggers: list[str] | None = None
    transfer_triggers: list[str] | None = None
    transfer_number: str | None = None
    transfer_mode: str | None = None
    confirm_required: bool | None = None
    auto_hangup_silence_seconds: int | None = None
    confirm_yes: list[str] | None = None
    confirm_no: list[str] | None = None
    webhook_url: str | None = None
    webhook_timeout_ms: int | None = None


class Assistant(Part):
    """The response of GET/PUT /assistants/{assistant_id} (required fields as in the seed)."""

    id: str
    name: str
    system_instruction: str
    voice: Voice
    llm: Llm
    transcriber: Transcriber
    speech_settings: SpeechSettings
    long_term_memory: LongTermMemoryConfig
    short_term_memory: ShortTermMemoryConfig
    call_summary: CallSummaryConfig
    recording: RecordingSettings
    call_actions: CallActionsConfig
    description: str | None = None
    first_message: str | None = None
    knowledge_base_ids: list[str] = Field(default_factory=list)
    phone_number_id: str | None = None
    assistant_speaks_first: bool | None = None
    # Variant C's request fields; its response example is cut off, so they may be absent.
    icon: str | None = None
    guardrails: str | None = None
    machine_detection_timeout_seconds: float | None = None


# The API's field order (the seed's response), used when writing manifests and payloads.
FIELD_ORDER: tuple[str, ...] = tuple(Assistant.model_fields)

# Object-valued top-level fields: sent whole (remote object with desired leaves laid over it).
OBJECT_FIELDS: frozenset[str] = frozenset(
    name
    for name, field in AssistantSpec.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Spec)
)
