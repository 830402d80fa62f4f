"""LOAD -> DESIRED: discover manifests, merge _defaults, resolve ${VAR} and !file, validate.

One manifest goes: read (size cap, strict UTF-8) -> parse (C safe loader) -> resolve (`${VAR}`,
`$${`, `!file`; alias-bomb budget) -> merge under its `_defaults.yaml` chain -> validate
(`models.AssistantSpec`) -> `models.Manifest`. Nothing raises for a user error: every problem in
every file becomes a `Problem`, and a file is parsed a second time (round-trip, for line and
column) only when it has one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kathansync import yamlio
from kathansync.errors import Problem, Severity, display_path
from kathansync.models import KNOWN_VALUES, AssistantSpec, Manifest, is_uuid
from kathansync.suggest import did_you_mean
from kathansync.validation import Loc, describe_errors, describe_value, mask_value

SUFFIXES = (".yaml", ".yml")
DEFAULTS_NAMES = ("_defaults.yaml", "_defaults.yml")
CONFIG_NAME = "kathansync.yaml"


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


def load_manifests(
    directory: Path,
    *,
    env: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
    root: Path | None = None,
    environments: Collection[str] | None = None,
) -> LoadResult:
    """Load and validate every manifest under `directory`; never raises for user errors.

    `variables` (kathansync.yaml vars) win over `environ` (default: os.environ) for `${NAME}`.
    `root` bounds `!file` paths (default: see `find_root`). `strict` makes unknown enum values
    errors instead of warnings. `environments` (kathansync.yaml's names) makes an unknown key in
    a per-environment `id` mapping an error: a misspelt one would otherwise plan a create.
    """
    loader = _Loader(directory, env, variables, environ, strict, root, environments)
    if not directory.is_dir():
        problem = Problem(display_path(directory), 0, 0, "manifests directory not found")
        return LoadResult([], [problem])
    paths = discover(directory)
    handles: dict[str, Path] = {}
    for path in paths:
        handle = handle_of(path, directory)
        if handle in handles:
            loader.add(
                Problem(
                    display_path(path),
                    0,
                    0,
                    f"handle {handle!r} is also the handle of {display_path(handles[handle])}:"
                    " keep one of the two files",
                )
            )
            continue
        handles[handle] = path
        loader.load(path, handle)
    loader.check_duplicate_ids()
    return loader.result()


def discover(directory: Path) -> list[Path]:
    """Manifest files below `directory`: *.yaml/*.yml, recursively, skipping hidden directories
    and files and files whose name starts with `_` (reserved: _defaults.yaml)."""
    found: list[Path] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(current, name)
            for name in files
            if name.endswith(SUFFIXES) and not name.startswith(("_", "."))
        )
    return sorted(found)


def handle_of(path: Path, directory: Path) -> str:
    """`sales/outbound` for `<directory>/sales/outbound.yaml`."""
    try:
        relative = path.relative_to(directory)
    except ValueError:
        relative = Path(os.path.relpath(path, directory))
    return relative.with_suffix("").as_posix()


def find_root(directory: Path) -> Path:
    """The repository root that `!file` paths may not leave: the nearest directory at or above
    `directory` holding kathansync.yaml, else the parent of the manifests directory."""
    start = directory.resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return start.parent


# --- One parsed file ------------------------------------------------------------------------------


@dataclass
class _Source:
    """One YAML file (manifest or defaults) after parsing and resolving."""

    path: Path
    display: str
    text: str = ""
    data: dict[str, Any] | None = None
    sensitive: set[Loc] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    _tree: Any = None

    @property
    def ok(self) -> bool:
        return self.data is not None and not any(p.severity == "error" for p in self.problems)

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


# --- The loader: state for one run ----------------------------------------------------------------


class _Loader:
    def __init__(
        self,
        directory: Path,
        env: str | None,
        variables: Mapping[str, str] | None,
        environ: Mapping[str, str] | None,
        strict: bool,
        root: Path | None,
        environments: Collection[str] | None,
    ) -> None:
        self.directory = directory
        self.environments = environments
        self.env = env
        self.variables = variables or {}
        self.environ = os.environ if environ is None else environ
        self.strict = strict
        self.root = (root or find_root(directory)).resolve()
        self.problems: set[Problem] = set()
        self.manifests: list[Manifest] = []
        self.defaults: dict[Path, _Source | None] = {}
        self.ids: list[tuple[str, str | None, _Source, Loc]] = []  # (uuid, env, file, loc)

    def add(self, problem: Problem) -> None:
        self.problems.add(problem)

    def result(self) -> LoadResult:
        return LoadResult(
            sorted(self.manifests, key=lambda m: m.handle),
            sorted(self.problems),
        )

    # -- reading

    def read(self, path: Path, *, is_defaults: bool) -> _Source:
        source = _Source(path, display_path(path))
        try:
            source.text = yamlio.read_text(path)
            data = yamlio.parse_fast(source.text)
        except yamlio.SourceError as exc:
            source.problem((), exc.message, where=(exc.line, exc.column))
            return source
        if yamlio.yaml11_directive(source.text):
            source.problem(
                (),
                "%YAML 1.1 directive ignored: kathansync reads YAML 1.2"
                " (on/off/yes/no are strings; write booleans as true/false)",
                severity="warning",
                where=(1, 1),
            )
        if data is None:
            if is_defaults:
                source.data = {}
            else:
                source.problem(
                    (), "file is empty: expected a mapping of assistant fields", where=(1, 1)
                )
            return source
        if not isinstance(data, dict):
            source.problem(
                (),
                f"expected a mapping of assistant fields, got {describe_value(data)}",
                where=(1, 1),
            )
            return source
        source.data = self.resolve(source, data, ())
        return source

    def resolve(self, source: _Source, node: Any, loc: Loc) -> Any:
        """A fresh copy of `node` with ${VAR}, $${ and !file resolved (problems recorded)."""
        if isinstance(node, dict):
            resolved: dict[str, Any] = {}
            for key, value in node.items():
                if not isinstance(key, str):
                    source.problem(loc, f"expected a text key, got {describe_value(key)}")
                    continue
                resolved[key] = self.resolve(source, value, (*loc, key))
            return resolved
        if isinstance(node, list):
            return [self.resolve(source, item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return self.interpolate(source, node, loc) if "$" in node else node
        if isinstance(node, yamlio.FileRef):
            return self.read_included(source, node)
        return node

    def interpolate(self, source: _Source, text: str, loc: Loc) -> str:
        used_variable = False

        def replace(match: re.Match[str]) -> str:
            nonlocal used_variable
            if match.group(0) == "$${":
                return "${"
            name = match.group(1)
            if name is None:
                source.problem(loc, "unclosed ${ (write $${ for a literal ${)")
                return ""
            if not _VAR_NAME.fullmatch(name):
                source.problem(loc, f"invalid variable name {name!r} in ${{...}}")
                return ""
            used_variable = True
            if name in self.variables:
                return self.variables[name]
            if name in self.environ:
                return self.environ[name]
            source.problem(
                loc,
                f"variable ${{{name}}} is not set (set it in the environment"
                " or in kathansync.yaml vars)",
            )
            return ""

        result = _INTERPOLATION.sub(replace, text)
        if used_variable:
            source.sensitive.add(loc)
        return result

    def read_included(self, source: _Source, ref: yamlio.FileRef) -> str:
        where = (ref.line, ref.column)
        target = (source.path.parent / ref.path).resolve()
        if not target.is_relative_to(self.root):
            source.problem(
                (), f"!file {ref.path!r} leaves the repository root {self.root}", where=where
            )
            return ""
        if not target.is_file():
            source.problem((), f"!file {ref.path!r}: no such file", where=where)
            return ""
        try:
            return yamlio.read_text(target)
        except yamlio.SourceError as exc:
            at = f" (line {exc.line}, column {exc.column})" if exc.line else ""
            source.problem((), f"!file {ref.path!r}: {exc.message}{at}", where=where)
            return ""

    # -- defaults

    def defaults_chain(self, manifest_path: Path) -> list[_Source]:
        """The _defaults files that apply to a manifest, outermost first."""
        top = self.directory.resolve()
        folder = manifest_path.parent.resolve()
        folders = [folder]
        while folder != top and top in folder.parents:
            folder = folder.parent
            folders.append(folder)
        chain = [self.defaults_in(f) for f in reversed(folders)]
        return [source for source in chain if source is not None]

    def defaults_in(self, folder: Path) -> _Source | None:
        if folder not in self.defaults:
            self.defaults[folder] = self.read_defaults(folder)
        return self.defaults[folder]

    def read_defaults(self, folder: Path) -> _Source | None:
        present = [folder / name for name in DEFAULTS_NAMES if (folder / name).is_file()]
        if not present:
            return None
        source = self.read(present[0], is_defaults=True)
        if len(present) > 1:
            source.problem(
                (), f"both {present[0].name} and {present[1].name}: keep one", where=(1, 1)
            )
        if source.data is not None:
            if "id" in source.data:
                source.problem(
                    ("id",),
                    "id does not belong in a defaults file: each assistant has its own",
                    at_key=True,
                )
                del source.data["id"]
            self.validate(source.data, [source])
        self.problems.update(source.problems)
        return source

    # -- one manifest

    def load(self, path: Path, handle: str) -> None:
        # Defaults are read even when the manifest is broken: their problems count too.
        chain = self.defaults_chain(path)
        source = self.read(path, is_defaults=False)
        manifest = self.build(source, handle, chain) if source.data is not None else None
        self.problems.update(source.problems)
        if manifest is not None and source.ok:
            self.manifests.append(manifest)

    def build(self, source: _Source, handle: str, chain: list[_Source]) -> Manifest | None:
        assert source.data is not None
        data = dict(source.data)
        raw_id = data.pop("id", None)
        has_id = "id" in source.data
        layers = [*chain, source]
        merged = _merge([layer.data or {} for layer in chain] + [data])
        desired = self.validate(merged, layers)
        selected = self.check_id(source, raw_id) if has_id else None
        if desired is None or not all(layer.data is not None for layer in chain):
            return None
        if any(p.severity == "error" for layer in chain for p in layer.problems):
            return None
        sensitive, origins = _provenance(desired, layers)
        return Manifest(
            handle=handle,
            file=source.display,
            id=selected,
            desired=desired,
            sensitive=frozenset(sensitive),
            origins=origins,
        )

    def validate(self, merged: dict[str, Any], layers: list[_Source]) -> dict[str, Any] | None:
        """Validate merged data; problems go to the layer each offending value came from."""
        self.check_known_values(merged, layers)
        try:
            model = AssistantSpec.model_validate(merged)
        except ValidationError as exc:
            for loc, message, at_key in describe_errors(exc, AssistantSpec, extra_keys=("id",)):
                owner = _owner(loc, layers)
                if owner.sensitive and _is_sensitive(loc, owner.sensitive):
                    message = mask_value(message)
                owner.problem(loc, message, at_key=at_key)
            return None
        return model.model_dump(mode="json", exclude_unset=True)

    def check_known_values(self, merged: dict[str, Any], layers: list[_Source]) -> None:
        """Unknown enum-like values: a warning with a suggestion (an error when strict)."""
        for dotted, known in KNOWN_VALUES.items():
            loc: Loc = tuple(dotted.split("."))
            value = _get(merged, loc)
            # Non-strings are type errors (or YAML 1.1 booleans the model reads as on/off).
            if not isinstance(value, str) or value in known:
                continue
            owner = _owner(loc, layers)
            shown = "(sensitive)" if _is_sensitive(loc, owner.sensitive) else repr(value)
            hint = did_you_mean(value, known) if shown != "(sensitive)" else ""
            owner.problem(
                loc,
                f"unknown value {shown} for {dotted} (known: {', '.join(known)}){hint}",
                severity="error" if self.strict else "warning",
            )

    def check_id(self, source: _Source, raw: Any) -> str | None:
        """Validate `id` and pick the one for the selected environment (None: create).

        Ids are kept in lower case: the same assistant is the same string everywhere (duplicate
        checks, prune, adopt). The file itself is never rewritten.
        """
        loc: Loc = ("id",)
        if isinstance(raw, dict):
            return self.check_id_mapping(source, raw)
        if isinstance(raw, str) and is_uuid(raw):
            self.ids.append((raw.lower(), None, source, loc))
            return raw.lower()
        got = "(sensitive)" if _is_sensitive(loc, source.sensitive) else describe_value(raw)
        expected = _UUID_EXPECTED
        if not isinstance(raw, str):
            expected += " or a mapping of environment name to UUID"
        source.problem(loc, f"{expected}, got {got}")
        return None

    def check_id_mapping(self, source: _Source, raw: dict[str, Any]) -> str | None:
        for env_name, env_id in raw.items():
            loc: Loc = ("id", env_name)
            if self.environments is not None and env_name not in self.environments:
                known = ", ".join(sorted(self.environments)) or "none defined"
                source.problem(
                    loc,
                    f"unknown environment {env_name!r} in id (known in {CONFIG_NAME}: {known})"
                    f"{did_you_mean(env_name, self.environments)}",
                    at_key=True,
                )
            if isinstance(env_id, str) and is_uuid(env_id):
                self.ids.append((env_id.lower(), env_name, source, loc))
            else:
                sensitive = _is_sensitive(loc, source.sensitive)
                got = "(sensitive)" if sensitive else describe_value(env_id)
                source.problem(loc, f"{_UUID_EXPECTED}, got {got}")
        if self.env is None:
            source.problem(
                ("id",), "id is a per-environment mapping: choose one with --env", at_key=True
            )
            return None
        chosen = raw.get(self.env)
        if self.env not in raw and self.environments is None:
            # Without the list of environments a misspelling can only be guessed: say so,
            # since the assistant would be created a second time.
            hint = did_you_mean(self.env, [str(k) for k in raw])
            if hint:
                source.problem(
                    ("id",),
                    f"no id for environment {self.env!r}: it will be created{hint}",
                    at_key=True,
                    severity="warning",
                )
        return chosen.lower() if isinstance(chosen, str) and is_uuid(chosen) else None

    def check_duplicate_ids(self) -> None:
        """One UUID in two files (same environment, or one of them plain) is an error."""
        by_id: dict[str, list[tuple[str | None, _Source, Loc]]] = {}
        for value, env_name, source, loc in self.ids:
            by_id.setdefault(value, []).append((env_name, source, loc))
        for value, uses in by_id.items():
            for env_a, source_a, loc_a in uses:
                clashes = [
                    other.display
                    for env_b, other, _ in uses
                    if other is not source_a and (env_a is None or env_b is None or env_a == env_b)
                ]
                if clashes:
                    self.add(
                        source_a.problem(
                            loc_a,
                            f"id {value} is also used by {', '.join(sorted(set(clashes)))}",
                        )
                    )


# --- Merge and provenance -------------------------------------------------------------------------


def _merge(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Deep-merge, later layers win; mappings merge, anything else (lists too) replaces."""
    merged: dict[str, Any] = {}
    for layer in layers:
        _merge_into(merged, layer)
    return merged


def _merge_into(target: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = _copy(value)


def _copy(value: Any) -> Any:
    # Defaults are shared by many manifests: never hand out their containers.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _owner(loc: Loc, layers: list[_Source]) -> _Source:
    """The layer a merged value came from: the last one holding its (longest present) path."""
    for length in range(len(loc), 0, -1):
        for layer in reversed(layers):
            if _has(layer.data, loc[:length]):
                return layer
    return layers[-1]


def _has(data: Any, loc: Loc) -> bool:
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_dict or in_list:
            data = data[part]
        else:
            return False
    return True


def _get(data: Any, loc: Loc) -> Any:
    """The value at `loc`, or None when it is not there."""
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _leaves(data: dict[str, Any], prefix: Loc = ()) -> Iterable[Loc]:
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


def _is_sensitive(loc: Loc, sensitive: set[Loc]) -> bool:
    """A path is sensitive when an interpolated value sits at it or inside it (list items)."""
    return any(s[: len(loc)] == loc for s in sensitive)


def _provenance(desired: dict[str, Any], layers: list[_Source]) -> tuple[set[str], dict[str, str]]:
    sensitive: set[str] = set()
    origins: dict[str, str] = {}
    manifest = layers[-1]
    for loc in _leaves(desired):
        owner = _owner(loc, layers)
        if _is_sensitive(loc, owner.sensitive):
            sensitive.add(_dotted(loc))
        if owner is not manifest:
            origins[_dotted(loc)] = owner.display
    return sensitive, origins


# --- Small helpers --------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UUID_EXPECTED = (
    "expected a UUID like 3f2b8c1e-0000-4000-8000-000000000000 (8-4-4-4-12 hex digits, hyphens)"
)
# Only the canonical spelling: Python's uuid.UUID also takes `urn:uuid:`, braces and no hyphens,
# which the API path does not, and which would hide the same id in two files.


def _dotted(loc: Loc) -> str:
    """`voice.speed`; list indexes are dropped (a list is one leaf)."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            break
        parts.append(part)
    return ".".join(parts)


__all__ = [
    "LoadResult",
    "discover",
    "display_path",
    "find_root",
    "handle_of",
    "load_manifests",
]
