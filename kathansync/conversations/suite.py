"""LOAD suites: discover conversation suites, resolve ${VAR}, validate, pin problems to lines.

A suite file names one assistant (a manifest handle) and its cases. Like manifests, nothing here
raises for a user error: every problem in every file becomes a `Problem` with file:line:column,
so `kathansync test` reports them all at once, before any request.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kathansync.errors import KathansyncError, Problem, display_path
from kathansync.load import yamlio
from kathansync.load.discover import discover
from kathansync.load.interpolate import MAX_EXPANDED, substitute
from kathansync.load.positions import position
from kathansync.load.problems import describe_errors, describe_value, did_you_mean, shown_path
from kathansync.tree import Loc

MAX_REPEAT = 100  # each run is a billed conversation: a typo like 1000 should not cost that


class ExpectSpec(BaseModel):
    """What one answer must satisfy; every check is case-insensitive."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    contains: tuple[str, ...] = ()
    contains_any: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    matches: str | None = None
    not_empty: bool = False

    @field_validator("contains", "contains_any", "not_contains", mode="before")
    @classmethod
    def _one_string_is_a_list(cls, value: Any) -> Any:
        # `contains: human` reads naturally; strict mode would refuse it, and lists as tuples.
        if isinstance(value, str):
            return (value,)
        return tuple(value) if isinstance(value, list) else value

    @field_validator("matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            import regex  # 12 ms: only when a suite has a pattern

            try:
                regex.compile(value, regex.IGNORECASE)  # the engine expect.py searches with
            # Not only regex.error: a huge repetition count overflows, deep nesting recurses.
            except (regex.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class TurnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    user: str
    expect: ExpectSpec = ExpectSpec()


class CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    repeat: int = Field(default=1, ge=1, le=MAX_REPEAT)
    pass_rate: float = Field(default=1.0, gt=0, le=1)
    turns: list[TurnSpec] = Field(min_length=1)


class SuiteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    assistant: str
    cases: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """One case of a suite, with where it is written (for annotations and JUnit)."""

    name: str
    line: int
    repeat: int
    pass_rate: float
    turns: tuple[TurnSpec, ...]


@dataclass(frozen=True)
class Suite:
    """One suite file: the assistant's handle and its cases, in file order."""

    file: str
    assistant: str
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class SuiteLoad:
    """Every suite that loaded cleanly, every problem, and the values to mask in every output."""

    suites: list[Suite]
    problems: list[Problem]
    secrets: frozenset[str] = frozenset()


class SuiteError(KathansyncError):
    """Suites that failed to load: a count, then one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        lines = [f"{len(self.problems)} error(s) in conversation suites; nothing was sent:"]
        lines += [str(p) for p in self.problems]
        super().__init__("\n".join(lines))


def load_suites(
    directory: Path,
    handles: Collection[str],
    *,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> SuiteLoad:
    """Load and validate every suite under `directory` against the manifests' `handles`."""
    if not directory.is_dir():
        problem = Problem(display_path(directory), 0, 0, "conversations directory not found")
        return SuiteLoad([], [problem])
    reader = _Reader(handles, variables or {}, os.environ if environ is None else environ)
    suites = [s for path in discover(directory) if (s := reader.load(path)) is not None]
    return SuiteLoad(suites, sorted(reader.problems), frozenset(reader.secrets))


def mask(text: str, secrets: Collection[str]) -> str:
    """`text` with every interpolated value replaced by `(sensitive)`, as the client scrubs what
    a server echoes: any case, every escaped form, and a short value only where it stands as a
    word (plain replacement turned `shipping` into `(sensitive)ping` for a value `ship`)."""
    from kathansync.remote.redact import SENSITIVE, scrub

    return scrub(text, secrets, marker=SENSITIVE)


def _messages(exc: ValidationError) -> list[tuple[Loc, str, bool]]:
    """describe_errors, with did-you-mean also for keys inside lists (cases, turns)."""
    described = describe_errors(exc, SuiteSpec)
    for index, error in enumerate(exc.errors(include_url=False)):
        loc: Loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and "did you mean" not in described[index][1]:
            hint = did_you_mean(str(loc[-1]), _keys_at(loc[:-1]))
            described[index] = (loc, described[index][1] + hint, True)
        elif error["type"] == "missing":
            parent = shown_path(loc[:-1])
            where = f" in {parent}" if parent else ""
            described[index] = (loc[:-1], f"missing key {loc[-1]!r}{where}", False)
    return described


def _keys_at(loc: Loc) -> list[str]:
    """The keys a suite allows at `loc`, list indexes stepped over."""
    model: type[BaseModel] = SuiteSpec
    nested: dict[str, type[BaseModel]] = {
        "cases": CaseSpec,
        "turns": TurnSpec,
        "expect": ExpectSpec,
    }
    for part in loc:
        if isinstance(part, str):
            if part not in nested:
                return []
            model = nested[part]
    return list(model.model_fields)


@dataclass
class _File:
    """One suite file being read: its text, and positions parsed only when a problem needs one."""

    display: str
    text: str = ""
    problems: list[Problem] = field(default_factory=list)
    _tree: Any = None

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        if self._tree is None:
            try:
                self._tree = yamlio.parse_positions(self.text)
            except yamlio.SourceError:
                self._tree = {}
        line, column = position(self._tree, loc, at_key=at_key)
        self.problems.append(Problem(self.display, line, column, message))

    def line_of(self, loc: Loc) -> int:
        if self._tree is None:
            self._tree = yamlio.parse_positions(self.text)
        return position(self._tree, loc)[0]


class _Reader:
    def __init__(
        self, handles: Collection[str], variables: Mapping[str, str], environ: Mapping[str, str]
    ) -> None:
        self.handles = handles
        self.variables = variables
        self.environ = environ
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()
        self.left = MAX_EXPANDED

    def load(self, path: Path) -> Suite | None:
        source = _File(display_path(path))
        self.left = MAX_EXPANDED  # what ${VAR}s may add to this file (the manifests' budget)
        suite = self._load(source, path)
        # A message may quote a value that came from a variable: never show it.
        self.problems.extend(
            replace(p, message=mask(p.message, self.secrets)) for p in source.problems
        )
        return suite if not source.problems else None

    def _load(self, source: _File, path: Path) -> Suite | None:
        try:
            source.text = yamlio.read_text(path)
            data = yamlio.parse_fast(source.text)
        except yamlio.SourceError as exc:
            source.problems.append(Problem(source.display, exc.line, exc.column, exc.message))
            return None
        if not isinstance(data, dict):
            got = "an empty file" if data is None else describe_value(data)
            expected = "expected a mapping with `assistant` and `cases`"
            source.problems.append(Problem(source.display, 1, 1, f"{expected}, got {got}"))
            return None
        data = self.resolve(source, data, ())
        self.check_handle(source, data.get("assistant"))  # also when the rest is wrong
        try:
            spec = SuiteSpec.model_validate(data)
        except ValidationError as exc:
            for loc, message, at_key in _messages(exc):
                source.problem(loc, message, at_key=at_key)
            return None
        self.check_names(source, spec)
        cases = tuple(
            Case(c.name, source.line_of(("cases", i)), c.repeat, c.pass_rate, tuple(c.turns))
            for i, c in enumerate(spec.cases)
        )
        return Suite(source.display, spec.assistant, cases)

    def check_handle(self, source: _File, handle: Any) -> None:
        if isinstance(handle, str) and handle not in self.handles:
            hint = did_you_mean(handle, self.handles)
            message = f"unknown assistant {handle!r}: no manifest has it{hint}"
            source.problem(("assistant",), message)

    def check_names(self, source: _File, spec: SuiteSpec) -> None:
        """Case names are unique: they name JUnit test cases and report lines."""
        seen: set[str] = set()
        for index, case in enumerate(spec.cases):
            if case.name in seen:
                source.problem(("cases", index, "name"), f"case name {case.name!r} is used twice")
            seen.add(case.name)

    def resolve(self, source: _File, node: Any, loc: Loc) -> Any:
        """A copy of `node` with ${VAR} and $${ resolved; `!file` is refused."""
        if isinstance(node, dict):
            return {k: self.resolve(source, v, (*loc, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(source, item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, yamlio.FileRef):
            where = (node.line, node.column)
            message = f"{yamlio.FILE_TAG} is not supported in conversation suites"
            source.problems.append(Problem(source.display, *where, message))
            return ""
        if isinstance(node, str) and "$" in node:
            value_of = partial(self.variable, source, loc=loc)
            return substitute(node, value_of, lambda message: source.problem(loc, message))
        return node

    def variable(self, source: _File, name: str, loc: Loc) -> str | None:
        """A variable's value (None: unset), counted against the file's expansion budget."""
        value = self.variables.get(name, self.environ.get(name))
        if value is None:
            return None
        self.left -= len(value)
        if self.left < 0:  # a large value used many times: refused, never built
            if self.left + len(value) >= 0:  # said once
                source.problem(
                    loc,
                    f"expands to more than {MAX_EXPANDED} characters through"
                    " ${VAR} and aliases: refusing it",
                )
            return ""
        if value:
            self.secrets.add(value)  # masked wherever it could show: transcripts, reports
        return value
