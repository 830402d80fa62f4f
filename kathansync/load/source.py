"""One YAML file (a manifest or a `_defaults.yaml`) as read: its text, data and problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kathansync.errors import Problem, Severity
from kathansync.load import yamlio
from kathansync.tree import Loc


@dataclass
class Source:
    """One YAML file after parsing and resolving; `data` is None when it could not be used."""

    path: Path
    display: str
    text: str = ""
    data: dict[str, Any] | None = None
    sensitive: set[Loc] = field(default_factory=set)  # where a ${VAR} value was put
    problems: list[Problem] = field(default_factory=list)
    _tree: Any = None

    @property
    def ok(self) -> bool:
        return self.data is not None and not self.has_errors

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def problem(
        self,
        loc: Loc,
        message: str,
        *,
        at_key: bool = False,
        severity: Severity = "error",
        where: tuple[int, int] | None = None,
    ) -> Problem:
        line, column = where if where is not None else self.position(loc, at_key=at_key)
        problem = Problem(self.display, line, column, message, severity)
        self.problems.append(problem)
        return problem

    def position(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        # The slow round-trip parse, only for a file that has something to point at.
        if self._tree is None:
            try:
                self._tree = yamlio.parse_positions(self.text)
            except yamlio.SourceError:
                self._tree = {}
        return yamlio.position(self._tree, loc, at_key=at_key)

    def is_sensitive(self, loc: Loc) -> bool:
        """A path is sensitive when an interpolated value sits at it or inside it (list items)."""
        return any(s[: len(loc)] == loc for s in self.sensitive)
