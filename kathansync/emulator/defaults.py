"""The seed's response example: what a created assistant starts as (kept apart: no pydantic)."""

from __future__ import annotations

import json
from typing import Any

# The response example of seed/update-assistant.txt without its `id`, placeholders included, with
# one change from the newer page (variant C): its response example's LLM is openai/gpt-4o-mini.
# A created assistant starts as exactly this, and an object sent in a PUT falls back to it.
DEFAULTS: dict[str, Any] = json.loads(
    """
{
  "name": "<string>",
  "system_instruction": "<string>",
  "voice": {"voice_id": "<string>", "tts_provider": "cartesia", "tts_model": "sonic-3",
            "language": "en", "speed": 1},
  "llm": {"llm_provider": "openai", "model": "gpt-4o-mini"},
  "transcriber": {"stt_provider": "deepgram", "stt_model": "nova-3", "language": "en"},
  "speech_settings": {"style": "neutral", "responsiveness": "balanced", "interruptions": "on",
                      "emotions": "natural"},
  "long_term_memory": {"enabled": false, "search_limit": 5, "search_threshold": 0.1,
                       "system_prompt":
                         "Relevant, user-specific context from previous conversations:\\n\\n"},
  "short_term_memory": {"enabled": false, "search_limit": 3},
  "call_summary": {"prompt": "<string>"},
  "recording": {"enabled": false, "stereo": true, "mp3_enabled": true},
  "call_actions": {
    "enabled": true, "allow_hangup": true, "allow_transfer": true,
    "hangup_triggers": ["<string>"], "transfer_triggers": ["<string>"],
    "transfer_number": "<string>", "transfer_mode": "cold", "confirm_required": true,
    "auto_hangup_silence_seconds": 123, "confirm_yes": ["<string>"], "confirm_no": ["<string>"],
    "webhook_url": "<string>", "webhook_timeout_ms": 3500
  },
  "description": "<string>",
  "first_message": "<string>",
  "knowledge_base_ids": [],
  "phone_number_id": "<string>",
  "assistant_speaks_first": true
}
"""
)
