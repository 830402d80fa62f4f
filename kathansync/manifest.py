"""The desired state of one assistant as the pipeline passes it on: `Manifest`.

Its own module, free of pydantic: a warm load (every manifest served by the cache, see
load/cache.py) builds these without importing the models it does not validate against.
`kathansync.models` re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
