"""What loading returns: `LoadResult` (its own module, so a warm load imports no loader)."""

from __future__ import annotations

from dataclasses import dataclass

from kathansync.errors import Problem
from kathansync.manifest import Manifest


@dataclass(frozen=True)
class LoadResult:
    """Every manifest that loaded cleanly (sorted by handle) and every problem found (sorted)."""

    manifests: list[Manifest]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]
