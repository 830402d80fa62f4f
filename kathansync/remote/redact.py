"""Secrets out of text a server may echo: every form of each secret, and the API key as a token.

A server that rejects a value often quotes it back: whole, lower-cased, JSON-escaped (`\\/`),
percent-encoded, or cut off at some length. Each of those forms is replaced by a marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

SECURE = "[secure]"
SENSITIVE = "(sensitive)"
# A secret at least this long is replaced wherever it appears, inside words too: that long a
# run of the same characters is no accident. A shorter one only where it stands as a token.
SUBSTRING_MIN = 8
# Shorter values cannot be told apart from ordinary text at all (`on`, `id`): left alone.
TOKEN_MIN = 3
# A truncated echo ending in at least this many leading characters of a secret is cut there.
TAIL_MIN = 8
# A short secret counts as a token only when no word character touches it and it is not part
# of a host name or path (`k` in `api.kathan.tech`, `any` in `many` or `/any/`).
_BEFORE = r"(?<![\w./@:%-])"
_AFTER = r"(?![\w%-]|[./@:]\w)"
_TRAILER = " \t\r\n.…\"'`)]}"


def _forms(secret: str) -> set[str]:
    """Every spelling of `secret` a server could send back."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    return {
        secret,
        escaped,
        escaped.replace("/", "\\/"),
        json.dumps(secret)[1:-1],  # \\uXXXX for non-ASCII
        quote(secret, safe=""),
    }


class Redactor:
    """Replaces secrets in text; built once per run, cheap to call per message."""

    def __init__(self, secrets: Iterable[str] = (), *, marker: str = SECURE) -> None:
        self.marker = marker
        self._secrets: frozenset[str] = frozenset()  # replaced, never mutated: threads read it
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Scrub these too (interpolated values learned after the client was made)."""
        new = {s for s in secrets if isinstance(s, str) and len(s) >= TOKEN_MIN}
        if new - self._secrets:
            merged = self._secrets | new
            self._pattern = _compile(merged)
            self._secrets = merged

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        text = self._pattern.sub(self.marker, text)
        return self._cut_tail(text)

    def _cut_tail(self, text: str) -> str:
        """A cut-off echo: text ending in the first TAIL_MIN+ characters of a secret."""
        body = text.rstrip(_TRAILER)
        lowered = body.lower()
        for secret in self._secrets:
            for form in _forms(secret):
                form = form.lower()
                # No longer than the text: a long secret made this quadratic for every message.
                for length in range(min(len(form) - 1, len(lowered)), TAIL_MIN - 1, -1):
                    if lowered.endswith(form[:length]):
                        return body[:-length] + self.marker + text[len(body) :]
        return text


def _compile(secrets: Iterable[str]) -> re.Pattern[str]:
    alternatives: list[str] = []
    forms = sorted({form for s in secrets for form in _forms(s)}, key=len, reverse=True)
    for form in forms:  # longest first: no partial leftovers of a longer secret
        if len(form) >= SUBSTRING_MIN:
            alternatives.append(re.escape(form))
        else:
            alternatives.append(_BEFORE + re.escape(form) + _AFTER)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str], *, marker: str = SENSITIVE) -> str:
    """`text` without any form of `secrets`: a one-off Redactor."""
    return Redactor(secrets, marker=marker)(text)


def redact_json(value: Any, change: Callable[[str], str]) -> Any:
    """`value` (decoded JSON) with `change` applied to every string in it."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [redact_json(item, change) for item in value]
    if isinstance(value, dict):
        return {key: redact_json(item, change) for key, item in value.items()}
    return value


def sensitive_values(tree: Any, dotted_paths: Iterable[str]) -> list[str]:
    """The strings at (or inside lists at) each dotted path of `tree`: interpolated values."""
    found: list[str] = []
    for path in dotted_paths:
        node = tree
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        found += [v for v in (node if isinstance(node, list) else [node]) if isinstance(v, str)]
    return found


def with_parts(values: Iterable[str], *variables: Mapping[str, str]) -> list[str]:
    """`values` (interpolated ones), and the value of each variable that sits inside one of
    them: a server may quote back `${HOOK}` alone from `https://hooks/…?token=${HOOK}`."""
    found = list(values)
    joined = "\0".join(found)
    parts = {v for names in variables for v in names.values() if len(v) >= TOKEN_MIN}
    return found + [v for v in parts if joined and v in joined]
