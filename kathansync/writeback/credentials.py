"""Credential-looking values the server holds, written into new manifests as `${VAR}` instead.

A webhook URL often carries its secret (`https://user:pass@host`, `?token=...`, a long random
path segment). Import must not put it into a file meant for git, so such a value becomes a
`${NAME}` placeholder and the command names the variable (never the value) on stderr.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Query or fragment parameter names that carry a credential whatever the value looks like.
_SECRET_NAMES = re.compile(
    r"token|secret|passw|pwd|key|sig|auth|credential|session|code", re.IGNORECASE
)
# A random-looking run: long, letters and digits mixed (a UUID counts: it is often the secret).
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+/=]{16,}")
# Letters and digits switching this often is randomness, not words (`events-v2-production`).
_SWITCHES = 3
# The whole value is one URL: a prompt that mentions a URL is prose, judged by nobody here.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")


@dataclass(frozen=True)
class Placeholder:
    """A value written as `${variable}`: where it was (dotted path) and the variable's name."""

    path: str
    variable: str


def looks_like_credential(value: str) -> bool:
    """True for a URL with user info, a secret-named or random-looking query/fragment value,
    or a random-looking path segment."""
    if _URL.fullmatch(value.strip()) is None:
        return False
    try:
        parts = urlsplit(value.strip())
        has_userinfo = parts.username is not None or parts.password is not None
    except ValueError:  # a malformed port or bracket: not a URL we can judge; be safe
        return True
    if has_userinfo:
        return True
    for query in (parts.query, parts.fragment):
        for name, item in parse_qsl(query, keep_blank_values=True):
            if _SECRET_NAMES.search(name) or _is_token(item):
                return True
    return any(_is_token(segment) for segment in parts.path.split("/"))


def _is_token(text: str) -> bool:
    if _TOKEN.fullmatch(text) is None:
        return False
    kinds = [c.isdigit() for c in text if c.isalnum()]
    return sum(a != b for a, b in itertools.pairwise(kinds)) >= _SWITCHES


def hide_credentials(
    fields: Mapping[str, Any], handle: str
) -> tuple[dict[str, Any], list[Placeholder]]:
    """`fields` with every credential-looking string replaced by `${HANDLE_PATH}`."""
    found: list[Placeholder] = []

    def walk(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, Mapping):
            return {key: walk(item, (*path, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, str(index))) for index, item in enumerate(value)]
        if isinstance(value, str) and looks_like_credential(value):
            variable = variable_name(handle, path)
            found.append(Placeholder(".".join(path), variable))
            return Variable(variable)
        return value

    return walk(fields, ()), found


def variable_name(handle: str, path: tuple[str, ...]) -> str:
    """`ACME_SUPPORT_CALL_ACTIONS_WEBHOOK_URL` for handle `acme-support`, that field."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", "_".join((handle, *path))).strip("_").upper()
    return name if not name[:1].isdigit() else f"_{name}"


class Variable(str):
    """A `${NAME}` placeholder: written as is (not escaped to `$${`, as remote text is)."""

    __slots__ = ()

    def __new__(cls, name: str) -> Variable:
        return super().__new__(cls, "${" + name + "}")
