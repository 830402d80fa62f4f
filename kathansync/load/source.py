"""One YAML file (a manifest or a `_defaults.yaml`) as read: its text, data and problems."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kathansync.errors import Problem, Severity, display_path
from kathansync.load import yamlio
from kathansync.load.positions import position
from kathansync.tree import Loc


def shown_file(path: Path) -> str:
    """The file as messages show it, printable whatever bytes its name holds (`\\xff`).

    A symlink is shown by its own name, not its target's: the user knows the link.
    """
    absolute, cwd = os.path.abspath(path), os.getcwd()
    if absolute.startswith(cwd.rstrip(os.sep) + os.sep):  # the common case, without pathlib
        shown = Path(absolute[len(cwd.rstrip(os.sep)) + 1 :]).as_posix()
    else:
        shown = display_path(path)
    return shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ShownFiles:
    """`shown_file` for the many files of a few folders, each folder worked out once: abspath
    and pathlib per file were 5 % of a cold load of 10,000 manifests."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str | None] = {}  # folder -> what precedes a name in it

    def __call__(self, path: Path) -> str:
        folder, name = os.path.split(path)
        if folder not in self.prefixes:
            self.prefixes[folder] = _shown_prefix(folder)
        prefix = self.prefixes[folder]
        if prefix is None or not name or name in (".", ".."):
            return shown_file(path)
        if not name.isascii():
            name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return prefix + name


def _shown_prefix(folder: str) -> str | None:
    """shown_file(folder/NAME) without NAME, when it is the same for every NAME: the folder is
    the working directory or inside it (else shown_file resolves each file: None)."""
    absolute, cwd = os.path.abspath(folder or os.curdir), os.getcwd().rstrip(os.sep)
    if absolute == cwd or (not cwd and absolute == os.sep):
        return ""
    if not absolute.startswith(cwd + os.sep):
        return None
    shown = Path(absolute[len(cwd) + 1 :]).as_posix() + "/"
    return shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_utf8_name(path: Path | str) -> bool:
    """False for a name with bytes that are not UTF-8 (os.walk hands them over as surrogates)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Source:
    """One YAML file after parsing and resolving; `data` is None when it could not be used."""

    path: Path
    display: str
    text: str = ""
    data: dict[str, Any] | None = None
    sensitive: set[Loc] = field(default_factory=set)  # where a ${VAR} value was put
    problems: list[Problem] = field(default_factory=list)
    included: dict[str, str] = field(default_factory=dict)  # !file path -> digest (see cache)
    plain: bool = False  # data is the text as parsed: nothing expanded through ${VAR} or !file
    _tree: Any = None

    @property
    def ok(self) -> bool:
        return self.data is not None and not self.has_errors

    @property
    def has_errors(self) -> bool:
        return bool(self.problems) and any(p.severity == "error" for p in self.problems)

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
        return position(self._tree, loc, at_key=at_key)

    def is_sensitive(self, loc: Loc) -> bool:
        """A path is sensitive when an interpolated value sits at it or inside it (list items)."""
        return any(s[: len(loc)] == loc for s in self.sensitive)
