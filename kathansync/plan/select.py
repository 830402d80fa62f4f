"""SELECT (pure): the manifests a run plans, named by --target; an unknown handle is an error."""

from __future__ import annotations

from collections.abc import Sequence

from kathansync.errors import ConfigError
from kathansync.load.problems import did_you_mean
from kathansync.models import Manifest


def select(manifests: list[Manifest], targets: Sequence[str]) -> list[Manifest]:
    """The manifests named by --target (all when none); an unknown handle is an error."""
    if not targets:
        return manifests
    by_handle = {m.handle: m for m in manifests}
    for target in targets:
        if target not in by_handle:
            hint = did_you_mean(target, by_handle)
            raise ConfigError(f"--target {target}: no manifest has this handle{hint}")
    wanted = set(targets)
    return [m for m in manifests if m.handle in wanted]
