"""AssistantSpec's fields as plain data (see `shape_of` in kathansync/models.py).

Written by `make spec-shape` from the models, not by hand: load/conform.py reads it so that a
cold `validate` checks manifests without importing pydantic.
"""

from typing import Any

SHAPE: dict[str, Any] = {
    "name": "str?",
    "description": "str?",
    "system_instruction": "str?",
    "first_message": "str?",
    "voice": {
        "voice_id": "str",
        "tts_provider": "str",
        "tts_model": "str",
        "language": "str",
        "speed": "float",
    },
    "llm": {"llm_provider": "str", "model": "str"},
    "transcriber": {"stt_provider": "str", "stt_model": "str", "language": "str"},
    "knowledge_base_ids": "list?",
    "phone_number_id": "str?",
    "assistant_speaks_first": "bool?",
    "speech_settings": {
        "style": "str",
        "responsiveness": "str",
        "interruptions": "on/off",
        "emotions": "on/off",
    },
    "long_term_memory": {
        "enabled": "bool",
        "search_limit": "int",
        "search_threshold": "float",
        "system_prompt": "str",
    },
    "short_term_memory": {"enabled": "bool", "search_limit": "int"},
    "call_summary": {"prompt": "str"},
    "recording": {"enabled": "bool", "stereo": "bool", "mp3_enabled": "bool"},
    "call_actions": {
        "enabled": "bool",
        "allow_hangup": "bool",
        "allow_transfer": "bool",
        "hangup_triggers": "list",
        "transfer_triggers": "list",
        "transfer_number": "str",
        "transfer_mode": "str",
        "confirm_required": "bool",
        "auto_hangup_silence_seconds": "int",
        "confirm_yes": "list",
        "confirm_no": "list",
        "webhook_url": "str",
        "webhook_timeout_ms": "int",
    },
    "icon": "str",
    "guardrails": "str",
    "machine_detection_timeout_seconds": "float",
}
