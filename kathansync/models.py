"""Pydantic models of the Kathan assistant, spelled exactly as the API spells it.

Two families, one set of field names:
- `*Spec` / `ManifestSpec`: what a manifest may say. Every field is optional (absent means
  "not managed"), unknown keys are errors, types are strict (a YAML `123` is not a string).
- `Assistant` and its parts: what the API returns. Unknown keys are ignored (the API may grow).

Field types follow ../shared/seed/update-assistant.txt. Where the seed only shows a placeholder
(`123`), the type chosen is listed in docs/api.md.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

# Re-exported: they live in manifest.py, which a cache-answered run imports without pydantic.
from kathansync.manifest import KNOWN_VALUES as KNOWN_VALUES
from kathansync.manifest import UUID_EXPECTED as UUID_EXPECTED
from kathansync.manifest import UUID_PATTERN as UUID_PATTERN
from kathansync.manifest import Manifest as Manifest
from kathansync.manifest import is_uuid as is_uuid

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


# --- The manifest fields as plain data (load/spec_shape.py) -----------------------------------

# What changes a model's validation or dump beyond its fields' annotations.
_DECORATORS = (
    "validators",
    "field_validators",
    "root_validators",
    "model_validators",
    "field_serializers",
    "model_serializers",
    "computed_fields",
)

# What a class may define that changes validation or the dump outside pydantic's decorators:
# model_validate calls a model's own __init__ and model_post_init; the loader calls these two.
_OVERRIDES = (
    "__init__",
    "model_post_init",
    "__get_pydantic_core_schema__",
    "model_validate",
    "model_dump",
)

# The one config load/conform.py is written for; not Spec's, which may change with the models.
_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

_SCALARS: dict[Any, str] = {str: "str", bool: "bool", int: "int", float: "float", list[str]: "list"}


def _refuse_model_rules(model: type[BaseModel]) -> None:
    """Raise on a config, validator, serializer or override the plain shape cannot carry."""
    decorators = model.__pydantic_decorators__
    overridden = [
        name
        for cls in model.__mro__[: model.__mro__.index(BaseModel)]
        for name in _OVERRIDES
        if name in vars(cls)
    ]
    if (
        model.model_config != _CONFIG
        or overridden
        or any(getattr(decorators, kind) for kind in _DECORATORS)
    ):
        raise TypeError(f"{model.__name__}: a validator or config the plain shape cannot carry")


def shape_of(model: type[Spec]) -> dict[str, Any]:
    """`model`'s fields as plain data: name -> kind ("str", "bool", "int", "float", "list" of
    strings, "on/off"; a "?" after it when null is allowed) or a nested shape.

    load/conform.py checks manifests against it without importing pydantic. Raises on anything
    that check does not know (a validator, a constraint, another type or config), so a model
    cannot change its rules without the check being taught them first.
    """
    _refuse_model_rules(model)
    shape: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        where = f"{model.__name__}.{name}"
        if field.alias or field.validation_alias or field.serialization_alias:
            raise TypeError(f"{where}: an alias the plain shape cannot carry")
        if field.exclude or getattr(field, "exclude_if", None) is not None:  # pydantic 2.11+
            raise TypeError(f"{where}: an exclusion the plain shape cannot carry")
        if field.default is not None or field.validate_default or field.default_factory:
            raise TypeError(f"{where}: a default other than UNSET")
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Spec) and not field.metadata:
            shape[name] = shape_of(annotation)
            continue
        args = get_args(annotation)
        nullable = type(None) in args
        if nullable:
            others = [arg for arg in args if arg is not type(None)]
            annotation = others[0] if len(others) == 1 else annotation
        kind = _SCALARS.get(annotation)
        if [type(meta) for meta in field.metadata] == [BeforeValidator] and kind == "str":
            if field.metadata[0].func is not _on_off:
                raise TypeError(f"{where}: a validator the plain shape cannot carry")
            kind = "on/off"
        elif field.metadata:
            raise TypeError(f"{where}: a constraint the plain shape cannot carry")
        if kind is None:
            raise TypeError(f"{where}: a type the plain shape cannot carry: {annotation}")
        shape[name] = f"{kind}?" if nullable else kind
    return shape
