"""What the emulated assistant says in POST /chat: deterministic, from its stored configuration.

A placeholder with the agreed signature; the conversations work replaces it. It answers with the
sentence of `system_instruction` sharing the most words with the input (the first on a tie or
when none shares any), after `first_message` on a session's first turn: a prompt change changes
the answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"[a-z0-9']+")


def reply(assistant: Mapping[str, Any], text: str, first_turn: bool) -> str:
    """The assistant's answer to `text`; `first_turn` is True on a session's first message."""
    instruction = assistant.get("system_instruction")
    sentences = _sentences(instruction if isinstance(instruction, str) else "")
    asked = set(_WORD.findall(text.lower()))
    best = max(sentences, key=lambda s: len(asked & set(_WORD.findall(s.lower()))), default="")
    greeting = assistant.get("first_message")
    parts = [greeting] if first_turn and isinstance(greeting, str) and greeting else []
    return " ".join([*parts, best]).strip()


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
