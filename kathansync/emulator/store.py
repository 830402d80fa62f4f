"""The emulator's assistants: seed defaults, PUT/POST semantics, the optional JSON state file."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kathansync.atomic import write_atomic
from kathansync.errors import ConfigError

# The response example of ../shared/seed/update-assistant.txt, verbatim (placeholders included):
# a created assistant starts as exactly this, and an object sent in a PUT falls back to it.
DEFAULTS: dict[str, Any] = json.loads(
    """
{
  "name": "<string>",
  "system_instruction": "<string>",
  "voice": {"voice_id": "<string>", "tts_provider": "cartesia", "tts_model": "sonic-3",
            "language": "en", "speed": 1},
  "llm": {"llm_provider": "google", "model": "gemini-1.5-flash"},
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


def new_assistant(assistant_id: str) -> dict[str, Any]:
    """A fresh assistant: the seed's defaults with `id` first, as the seed's response orders it."""
    return {"id": assistant_id, **copy.deepcopy(DEFAULTS)}


def apply_put(stored: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored object after a PUT of `body` (only the keys the client sent).

    Strict on purpose: a top-level key replaces the stored value, and an object sent replaces the
    stored object, its omitted sub-fields falling back to the seed's defaults (not to what was
    stored), so a client that sends partial nested objects loses data, as it could for real.
    """
    result = copy.deepcopy(dict(stored))
    for key, value in body.items():
        default = DEFAULTS.get(key)
        if isinstance(value, dict) and isinstance(default, dict):
            result[key] = {**copy.deepcopy(default), **copy.deepcopy(value)}
        elif key == "knowledge_base_ids" and value is None:
            result[key] = []  # the response type is `string[]`, not nullable
        else:
            result[key] = copy.deepcopy(value)
    return result


def merge_seed(base: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` deep-merged over `base`, unvalidated: tests may seed fields the API may add.

    The same overlay the client uses to build whole objects; copied, so the store shares
    nothing with its caller."""
    from kathansync.plan.diff import overlay  # lazily: importing the emulator stays cheap

    return copy.deepcopy(overlay(base, fields))


class Store:
    """Assistants by id, in memory, mirrored to a JSON state file after every change when given.

    Handlers run on the server's event loop while tests read from their own thread: one lock.
    """

    def __init__(self, state_file: Path | None = None) -> None:
        self.state_file = state_file
        self.lock = threading.RLock()
        self.assistants: dict[str, dict[str, Any]] = {}
        if state_file is not None:
            self.assistants = load_state(state_file)

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.assistants.values()))

    def get(self, assistant_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.assistants.get(assistant_id)
            return copy.deepcopy(found) if found is not None else None

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        assistant = apply_put(new_assistant(str(uuid.uuid4())), body)
        return self._put(assistant)

    def update(self, assistant_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            stored = self.assistants.get(assistant_id)
            if stored is None:
                return None
            return self._put(apply_put(stored, body))

    def delete(self, assistant_id: str) -> bool:
        with self.lock:
            if self.assistants.pop(assistant_id, None) is None:
                return False
            self.save()
            return True

    def seed(self, assistant_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create or overwrite `assistant_id` as DEFAULTS with `fields` deep-merged over them."""
        seeded = merge_seed(new_assistant(assistant_id), fields)
        seeded["id"] = assistant_id
        return self._put(seeded)

    def clear(self) -> None:
        with self.lock:
            self.assistants.clear()
            self.save()

    def save(self) -> None:
        """Write the state file atomically, so a crash never leaves half a file behind."""
        if self.state_file is None:
            return
        with self.lock:
            text = json.dumps({"assistants": self.assistants}, indent=2, ensure_ascii=False)
            write_atomic(self.state_file, text + "\n")

    def _put(self, assistant: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.assistants[assistant["id"]] = assistant
            self.save()
            return copy.deepcopy(assistant)


def load_state(path: Path) -> dict[str, dict[str, Any]]:
    """The assistants in a state file; a missing file is an empty store, a bad one a ConfigError.

    A corrupt file is never reset: it may be the only copy of someone's demo or test data.
    """
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: the directory for the emulator state file does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the emulator state file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: emulator state file is not valid JSON ({exc.msg}); "
            "fix or delete it, it is never reset automatically"
        ) from None
    assistants = data.get("assistants") if isinstance(data, dict) else None
    if not isinstance(assistants, dict) or not all(
        isinstance(value, dict) for value in assistants.values()
    ):
        raise ConfigError(
            f'{path}: emulator state file must look like {{"assistants": {{"<id>": {{...}}}}}}; '
            "fix or delete it, it is never reset automatically"
        )
    for key, value in assistants.items():
        value["id"] = key  # the key is the truth; keeps GET /assistants/{id} and the body in step
    return assistants
