"""The loaded manifest, and what an assistant id looks like: no pydantic here.

Apart from models.py (which re-exports them) so that a run answered by the manifest cache
builds its manifests without importing pydantic and building the models (60 to 100 ms).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


# Values the seed shows for enum-like fields. Not complete sets (DESIGN.md): an unknown value is
# a warning with a suggestion, and an error only under `validate --strict`.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "speech_settings.style": ("professional", "neutral"),
    "speech_settings.responsiveness": ("instant", "balanced"),
    "speech_settings.interruptions": ("on", "off"),
    "speech_settings.emotions": ("off", "natural"),
    "call_actions.transfer_mode": ("warm", "cold"),
}


@dataclass(frozen=True)
class Manifest:
    """One loaded manifest: what the pipeline manages for one assistant.

    `desired` holds plain JSON types only (dict/list/str/int/float/bool/None), defaults merged
    and `${VAR}`s interpolated, without `id`. Its leaf paths are exactly the managed fields.
    """

    handle: str  # path below the manifests directory, no suffix, "/"-separated: "sales/outbound"
    file: str  # the file as shown to the user (relative to the working directory when possible)
    id: (
        str | None
    )  # the remote id in the selected environment; None: the assistant is to be created
    desired: dict[str, Any]
    sensitive: frozenset[str] = frozenset()  # dotted leaf paths whose value came from ${VAR}
    origins: Mapping[str, str] = field(default_factory=dict)  # leaf path -> _defaults file
