"""The defaults in effect for a new manifest: what import may leave out because it changes nothing.

Two sources: the `_defaults.yaml` of the folder the manifest goes into (a value equal to it is
still managed, from there), and, with `--omit-defaults`, the values the API gives a new
assistant (a value equal to those is left unmanaged, as a manifest written by hand would).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kathansync.errors import ConfigError
from kathansync.load import yamlio

# (assumed; docs/api.md) What the API gives a new assistant: the response example of the
# Update Assistant page (../shared/seed/update-assistant.txt) without its "<string>"
# placeholders and without the values it shows only as examples (`search_limit`,
# `auto_hangup_silence_seconds`); the LLM from the newest page (variant C: openai/gpt-4o-mini,
# where older pages showed google/gemini-1.5-flash), as the emulator's defaults take it.
API_DEFAULTS: dict[str, Any] = {
    "voice": {"tts_provider": "cartesia", "tts_model": "sonic-3", "language": "en", "speed": 1},
    "llm": {"llm_provider": "openai", "model": "gpt-4o-mini"},
    "transcriber": {"stt_provider": "deepgram", "stt_model": "nova-3", "language": "en"},
    "speech_settings": {
        "style": "neutral",
        "responsiveness": "balanced",
        "interruptions": "on",
        "emotions": "natural",
    },
    "long_term_memory": {"enabled": False},
    "short_term_memory": {"enabled": False},
    "recording": {"enabled": False, "stereo": True, "mp3_enabled": True},
    "call_actions": {
        "enabled": True,
        "allow_hangup": True,
        "allow_transfer": True,
        "transfer_mode": "cold",
        "confirm_required": True,
        "webhook_timeout_ms": 3500,
    },
    "knowledge_base_ids": [],
    "assistant_speaks_first": True,
}

_DEFAULTS_NAMES = ("_defaults.yaml", "_defaults.yml")
_INTERPOLATED = re.compile(r"(?<!\$)\$\{")
_UNKNOWN = object()  # a value whose content is unknown here (or a key absent): never equal


def folder_defaults(directory: Path) -> dict[str, Any]:
    """The `_defaults.yaml` data of `directory` (the manifests directory: the only level above
    a manifest written there), without values the file does not spell out literally."""
    for name in _DEFAULTS_NAMES:
        path = directory / name
        if path.is_file():
            try:
                data = yamlio.parse_fast(yamlio.read_text(path))
            except yamlio.SourceError as exc:
                raise ConfigError(f"{path}:{exc.line}:{exc.column}: {exc.message}") from None
            return _literal(data) if isinstance(data, dict) else {}
    return {}


def _literal(value: Any) -> Any:
    """`value` without `!file` and `${VAR}` leaves: unknown until resolved, never equal."""
    if isinstance(value, dict):
        kept = {key: _literal(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item is not _UNKNOWN}
    if isinstance(value, yamlio.FileRef) or (
        isinstance(value, str) and _INTERPOLATED.search(value)
    ):
        return _UNKNOWN
    return value


def omit_defaults(
    fields: Mapping[str, Any], folder: Mapping[str, Any], api: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`fields` without the leaves equal to the folder's defaults, or, for a leaf the folder's
    defaults do not set, to `api` (None: keep those). An object left empty goes too."""
    kept: dict[str, Any] = {}
    for key, value in fields.items():
        given = folder.get(key, _UNKNOWN)
        api_value = api.get(key, _UNKNOWN) if api is not None else _UNKNOWN
        if isinstance(value, Mapping) and (given is _UNKNOWN or isinstance(given, Mapping)):
            inner = omit_defaults(
                value,
                given if isinstance(given, Mapping) else {},
                api_value if isinstance(api_value, Mapping) else None,
            )
            if inner or not value:
                kept[key] = inner
        elif not same(value, api_value if given is _UNKNOWN else given):
            kept[key] = value
    return kept


def same(a: Any, b: Any) -> bool:
    """Equal as the plan compares: `1 == 1.0`, but `True` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)
