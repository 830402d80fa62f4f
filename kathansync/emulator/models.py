"""The API's fields as the documents read, written here and nowhere else: the emulator's models.

Sources, in ../shared/ of the project (see docs/emulator.md for every choice):
  seed/update-assistant.txt           PUT body and response (variant A): fields, types, defaults
  api/assistants-update-assistant.md  variant C, the newer page: icon, guardrails,
                                      machine_detection_timeout_seconds; LLM default openai
  api/opencorpus-assistants-create-assistant.md   create: name required (and see docs)
  api/chat-chat-with-assistant.md (+ opencorpus)  POST /chat body and answer
  api/authentication.md               GET /protected, the 401 and 429 bodies

Nothing here comes from kathansync's own models: the emulator is a second reading of the
documents, so a field the tool invents is a 422 here instead of an agreement by construction.
"""

from __future__ import annotations

import copy
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model, field_validator

from kathansync.emulator.defaults import DEFAULTS
from kathansync.emulator.errors import EmulatorError

# An object left out stays None (pydantic never validates defaults); one sent as null is a 422,
# since the seed types objects as `X · object`, never `| null`.
NOT_SENT: Any = None


def _default(part: str, field: str) -> Any:
    """A sub-field's default: the response example's value (a copy: lists are mutable)."""
    return copy.deepcopy(DEFAULTS[part][field])


class Body(BaseModel):
    """A request body part: strict JSON types (no "yes" for true, no 1 for "1"), unknown keys
    refused, no NaN. Stricter than a default FastAPI model on purpose: it checks the client."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# --- The nested objects: every sub-field optional, defaulting to the response example ----------


class Voice(Body):
    voice_id: str = _default("voice", "voice_id")
    tts_provider: str = _default("voice", "tts_provider")
    tts_model: str = _default("voice", "tts_model")
    language: str = _default("voice", "language")
    speed: float = _default("voice", "speed")


class Llm(Body):
    llm_provider: str = _default("llm", "llm_provider")
    model: str = _default("llm", "model")


class Transcriber(Body):
    stt_provider: str = _default("transcriber", "stt_provider")
    stt_model: str = _default("transcriber", "stt_model")
    language: str = _default("transcriber", "language")


class SpeechSettings(Body):
    style: str = _default("speech_settings", "style")
    responsiveness: str = _default("speech_settings", "responsiveness")
    interruptions: str = _default("speech_settings", "interruptions")
    emotions: str = _default("speech_settings", "emotions")


class LongTermMemoryConfig(Body):
    enabled: bool = _default("long_term_memory", "enabled")
    search_limit: int = _default("long_term_memory", "search_limit")
    search_threshold: float = _default("long_term_memory", "search_threshold")
    system_prompt: str = _default("long_term_memory", "system_prompt")


class ShortTermMemoryConfig(Body):
    enabled: bool = _default("short_term_memory", "enabled")
    search_limit: int = _default("short_term_memory", "search_limit")


class CallSummaryConfig(Body):
    prompt: str = _default("call_summary", "prompt")


class RecordingSettings(Body):
    enabled: bool = _default("recording", "enabled")
    stereo: bool = _default("recording", "stereo")
    mp3_enabled: bool = _default("recording", "mp3_enabled")


class CallActionsConfig(Body):
    enabled: bool = _default("call_actions", "enabled")
    allow_hangup: bool = _default("call_actions", "allow_hangup")
    allow_transfer: bool = _default("call_actions", "allow_transfer")
    hangup_triggers: list[str] = _default("call_actions", "hangup_triggers")
    transfer_triggers: list[str] = _default("call_actions", "transfer_triggers")
    transfer_number: str = _default("call_actions", "transfer_number")
    transfer_mode: str = _default("call_actions", "transfer_mode")
    confirm_required: bool = _default("call_actions", "confirm_required")
    auto_hangup_silence_seconds: int = _default("call_actions", "auto_hangup_silence_seconds")
    confirm_yes: list[str] = _default("call_actions", "confirm_yes")
    confirm_no: list[str] = _default("call_actions", "confirm_no")
    webhook_url: str = _default("call_actions", "webhook_url")
    webhook_timeout_ms: int = _default("call_actions", "webhook_timeout_ms")


# --- The assistant: PUT body, POST body, response ---------------------------------------------


class AssistantUpdate(Body):
    """PUT /assistants/{assistant_id}: every field optional (no "required" marker in the seed)."""

    name: str | None = None
    description: str | None = None  # in variant A; C's example omits it, kept (docs/emulator.md)
    system_instruction: str | None = None
    first_message: str | None = None
    voice: Voice = NOT_SENT
    llm: Llm = NOT_SENT
    transcriber: Transcriber = NOT_SENT
    knowledge_base_ids: list[str] | None = None
    phone_number_id: str | None = None
    assistant_speaks_first: bool | None = None
    speech_settings: SpeechSettings = NOT_SENT
    long_term_memory: LongTermMemoryConfig = NOT_SENT
    short_term_memory: ShortTermMemoryConfig = NOT_SENT
    call_summary: CallSummaryConfig = NOT_SENT
    recording: RecordingSettings = NOT_SENT
    call_actions: CallActionsConfig = NOT_SENT
    # Variant C, the newer page. Nullability is not visible there: nullable like its neighbours.
    icon: str | None = None
    guardrails: str | None = None
    machine_detection_timeout_seconds: float | None = None

    @field_validator("name", "system_instruction")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # The request type says `string | null`, but the response requires a string.
        if value is None:
            raise ValueError("cannot be null: every assistant has one")
        return value


class AssistantCreate(AssistantUpdate):
    """POST /assistants: `name` required. The earlier edition's create page also marks
    `system_instruction` required; not enforced, see docs/emulator.md ("Create")."""

    name: str


class AssistantOut(BaseModel):
    """What GET, PUT and POST answer (documented in openapi.json; answers are not filtered)."""

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
    knowledge_base_ids: list[str] = []
    phone_number_id: str | None = None
    assistant_speaks_first: bool | None = None
    icon: str | None = None
    guardrails: str | None = None
    machine_detection_timeout_seconds: float | None = None


# --- Other routes -----------------------------------------------------------------------------


class ChatRequest(Body):
    """POST /chat: assistant_id and input required, session_id optional (opencorpus edition)."""

    assistant_id: str
    input: str
    session_id: str | None = None


class ChatAnswer(BaseModel):
    output_type: str
    output: str
    session_id: str


class ProtectedAnswer(BaseModel):
    """GET /protected, as the authentication page shows it."""

    message: str
    user_id: str


# --- Extra fields (--extra-field NAME:TYPE) ---------------------------------------------------

EXTRA_TYPES: dict[str, type] = {"string": str, "number": float, "integer": int, "boolean": bool}


def parse_extra_fields(specs: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    """NAME -> TYPE from `{"name": "type"}` or `["name:type", ...]`; EmulatorError when bad."""
    if isinstance(specs, str):
        specs = [specs]  # one spec, not its characters
    pairs = (
        list(specs.items())
        if isinstance(specs, Mapping)
        else [tuple(spec.partition(":")[::2]) for spec in specs]
    )
    fields: dict[str, str] = {}
    for name, type_name in pairs:
        spec = f"{name}:{type_name}"
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise EmulatorError(f"emulator: --extra-field {spec}: NAME must be a field name")
        if name in AssistantOut.model_fields:
            raise EmulatorError(f"emulator: --extra-field {spec}: {name} is a documented field")
        if type_name not in EXTRA_TYPES:
            known = "|".join(EXTRA_TYPES)
            raise EmulatorError(f"emulator: --extra-field {spec}: TYPE must be one of {known}")
        fields[name] = type_name
    return fields


@dataclass(frozen=True)
class AssistantModels:
    """The assistant models of one app: the documented ones plus its extra fields."""

    update: type[AssistantUpdate]
    create: type[AssistantCreate]
    out: type[AssistantOut]


def assistant_models(extra_fields: Mapping[str, str]) -> AssistantModels:
    """The models with `extra_fields` (NAME -> TYPE, parsed) added as nullable top-level fields."""
    if not extra_fields:
        return AssistantModels(AssistantUpdate, AssistantCreate, AssistantOut)
    fields: dict[str, Any] = {
        name: (EXTRA_TYPES[type_name] | None, None) for name, type_name in extra_fields.items()
    }
    update = create_model("AssistantUpdate", __base__=AssistantUpdate, **fields)
    create = create_model("AssistantCreate", __base__=AssistantCreate, **fields)
    out = create_model("AssistantOut", __base__=AssistantOut, **fields)
    return AssistantModels(update, create, out)
