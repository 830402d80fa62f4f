"""LOAD -> DESIRED for one run: every manifest read, merged under its defaults, validated.

One manifest goes: read (size cap, strict UTF-8) -> parse (C safe loader) -> resolve (`${VAR}`,
`$${`, `!file`; alias-bomb budget) -> merge under its `_defaults.yaml` chain -> validate
(conform.py; `models.AssistantSpec` for anything it leaves) -> `models.Manifest`. Nothing raises
for a user error: every problem in every file becomes a `Problem`, and a file is parsed a second
time (round-trip, for line and column) only when it has one.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from kathansync.errors import Problem, display_path
from kathansync.load.apischema import (
    API_SCHEMA_NAME,
    ApiSchemaError,
    check_value,
    describe_type,
    load_api_schema,
)
from kathansync.load.cache import paused_gc
from kathansync.load.cached import WarmLoads, open_cache
from kathansync.load.conform import conform
from kathansync.load.defaults import DefaultsChain, merge, owner, provenance
from kathansync.load.discover import DEFAULTS_NAMES, discover, find_root, handle_of
from kathansync.load.ids import IdChecker
from kathansync.load.interpolate import Resolver
from kathansync.load.problems import describe_errors, did_you_mean, mask_value
from kathansync.load.result import LoadResult
from kathansync.load.source import Source, is_utf8_name, shown_file
from kathansync.manifest import KNOWN_VALUES, Manifest
from kathansync.tree import LeafPath, Loc, copy_tree, dotted, has, value_at

# KNOWN_VALUES by path, split once: per manifest the splitting cost more than the lookups.
_KNOWN_AT: list[tuple[str, Loc, tuple[str, ...]]] = [
    (name, tuple(name.split(".")), known) for name, known in KNOWN_VALUES.items()
]

# From this many manifests on, a clean load's objects are frozen out of the GC's sight (below).
FREEZE_FROM = 200

# What one assistant's PUT body may carry (defaults layers included): a real one is a few KiB.
MAX_BODY_BYTES = 4 * 1024 * 1024


def load_manifests(
    directory: Path,
    *,
    env: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
    root: Path | None = None,
    environments: Collection[str] | None = None,
    cache_dir: Path | None = None,
) -> LoadResult:
    """Load and validate every manifest under `directory`; never raises for user errors.

    `variables` (kathansync.yaml vars) win over `environ` (default: os.environ) for `${NAME}`.
    `root` bounds `!file` paths (default: see `find_root`). `strict` makes unknown enum values
    errors instead of warnings. `environments` (kathansync.yaml's names) makes an unknown key in
    a per-environment `id` mapping an error: a misspelt one would otherwise plan a create.
    `cache_dir` (`.kathansync/cache`) keeps clean loads for the next run (see cache.py).
    """
    if not directory.is_dir():
        problem = Problem(display_path(directory), 0, 0, "manifests directory not found")
        return LoadResult([], [problem])
    resolver = Resolver(variables or {}, environ, (root or find_root(directory)).resolve())
    loader = _Loader(directory, resolver, IdChecker(env, environments), strict)
    if cache_dir is not None:
        loader.open_cache(cache_dir, directory, env, environments, environ)
    loader.read_api_schema()
    # Tens of containers a manifest, all kept and none in a cycle: the cyclic GC's collections
    # walked them again and again, 15 % of a cold load of 10,000. Reference counting frees.
    with paused_gc():
        loader.load_all(directory)
        loader.problems.update(loader.ids.duplicates())
        result, warm = loader.result(), loader.warm
        del loader  # and with it every Source read: nothing of it is in a cycle (see result)
        if warm is not None:  # after: the texts and parsed trees are freed before it encodes
            warm.cache.save()
        # Out of every later collection's sight too (another 15 %), from a large fleet on: a
        # frozen cycle is never collected, so only when this run's garbage is surely gone (a
        # problem's position comes from a ruamel round-trip tree, which holds cycles).
        if len(result.manifests) >= FREEZE_FROM and not result.problems:
            gc.freeze()
    return result


class _Loader:
    """The state of one run: files read, ids seen, manifests built, problems found."""

    def __init__(self, directory: Path, resolver: Resolver, ids: IdChecker, strict: bool) -> None:
        self.resolver = resolver
        self.ids = ids
        self.strict = strict
        self.defaults = DefaultsChain(directory, self.read_defaults)
        self.problems: set[Problem] = set()
        self.manifests: list[Manifest] = []
        self.extra: dict[LeafPath, Any] = {}  # field -> JSON Schema, from the saved API schema
        self.noted: set[LeafPath] = set()
        self.warm: WarmLoads | None = None
        self.defaults_problems: dict[Path, list[Problem]] = {}  # what each added to the run

    def result(self) -> LoadResult:
        """What the run found. The defaults chain's way back to this loader (a bound method)
        is cut: in that cycle every Source read (text, data) waited for a full collection."""
        self.defaults.read_folder = _read_nothing
        manifests = sorted(self.manifests, key=lambda m: m.handle)
        return LoadResult(manifests, sorted(self.problems))

    def load_all(self, directory: Path) -> None:
        """Every manifest under `directory`, in order; one file per handle."""
        handles: dict[str, Path] = {}
        for path in discover(directory):
            if not is_utf8_name(path):
                message = "file name is not UTF-8: rename it (handles end up in plans and comments)"
                self.problems.add(Problem(shown_file(path), 0, 0, message))
                continue
            handle = handle_of(path, directory)
            if handle in handles:
                self.problems.add(
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
            self.load(path, handle)

    def open_cache(
        self,
        folder: Path,
        directory: Path,
        env: str | None,
        environments: Collection[str] | None,
        environ: Mapping[str, str] | None,
    ) -> None:
        cache = open_cache(
            folder,
            directory=directory,
            root=self.resolver.root,
            env=env,
            strict=self.strict,
            environments=environments,
            environ=environ,
        )
        self.warm = WarmLoads(cache, self.resolver, self.defaults) if cache.enabled else None

    def read_api_schema(self) -> None:
        """Fields the saved API schema documents beyond the built-in models (see apischema)."""
        try:
            schema = load_api_schema(self.resolver.root)
        except ApiSchemaError as exc:
            file = display_path(self.resolver.root / API_SCHEMA_NAME)
            self.problems.add(Problem(file, 0, 0, str(exc)))
            return
        if schema is not None:
            self.extra = schema.extra_fields()

    def load(self, path: Path, handle: str) -> None:
        if self.warm is not None and self.replay(path, handle):
            return
        # Defaults are read even when the manifest is broken: their problems count too.
        chain = self.defaults.for_manifest(path)
        source = self.resolver.read(path, is_defaults=False)
        first_id = len(self.ids.ids)
        manifest = self.build(source, handle, chain) if source.data is not None else None
        self.problems.update(source.problems)
        if manifest is not None and source.ok:
            self.manifests.append(manifest)
            # A field typed by the saved API schema is noted once a run, by whichever manifest
            # comes first: such manifests are loaded cold every time, so the note stays put.
            if self.warm is not None and not any(has(manifest.desired, p) for p in self.extra):
                chain_problems = [p for c in chain for p in self.defaults_problems[c.path]]
                ids = self.ids.ids[first_id:]
                self.warm.remember(path, source, chain, manifest, ids, chain_problems)
        # Its parsed tree is done with (the manifest's dicts are the validator's own): only the
        # text is read again, for a duplicate id's line (ids keeps every Source to the end).
        # Kept, 10,000 trees held 40 MB, and the list walked beside the load went past 200 MB.
        source.data = None

    def replay(self, path: Path, handle: str) -> bool:
        """A cache hit: the manifest, its problems and its ids (for the duplicate check)."""
        assert self.warm is not None
        replay = self.warm.replay(path, handle)
        if replay is None:
            return False
        self.manifests.append(replay.manifest)
        self.problems.update(replay.problems)
        self.ids.ids.extend(replay.ids)
        return True

    def read_defaults(self, folder: Path) -> Source | None:
        # There at all (a FIFO, a folder, a dangling link): read, so the reader says why it
        # cannot be; taken for absent, the manifests were planned without their defaults.
        present = [folder / name for name in DEFAULTS_NAMES if os.path.lexists(folder / name)]
        if not present:
            return None
        source = self.resolver.read(present[0], is_defaults=True)
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
        self.defaults_problems[source.path] = list(source.problems)
        return source

    def build(self, source: Source, handle: str, chain: list[Source]) -> Manifest | None:
        assert source.data is not None
        data = dict(source.data)
        raw_id = data.pop("id", None)
        layers = [*chain, source]
        desired = self.validate(merge([layer.data or {} for layer in chain] + [data]), layers)
        selected = self.ids.check(source, raw_id) if "id" in source.data else None
        if desired is None or any(layer.data is None or layer.has_errors for layer in chain):
            return None
        size = _body_size(desired, layers)
        if size > MAX_BODY_BYTES:
            source.problem(
                (), f"the PUT body would be {size} bytes, more than {MAX_BODY_BYTES}", where=(1, 1)
            )
            return None
        sensitive, origins = provenance(desired, layers)
        return Manifest(
            handle=handle,
            file=source.display,
            id=selected,
            desired=desired,
            sensitive=frozenset(sensitive),
            origins=origins,
        )

    def validate(self, merged: dict[str, Any], layers: list[Source]) -> dict[str, Any] | None:
        """Validate merged data; problems go to the layer each offending value came from."""
        self.check_known_values(merged, layers)
        extra = {path: value_at(merged, path) for path in self.extra if has(merged, path)}
        known = _without(merged, extra)
        desired = conform(known)
        found: list[tuple[Loc, str, bool]] = []
        if desired is None:  # not plainly right: the model decides, and words every problem
            top_level = [path[0] for path in self.extra if len(path) == 1]
            desired, found = _by_the_model(known, extra_keys=("id", *top_level))
        for path, value in extra.items():
            found.extend(check_value(value, self.extra[path], path))
            self.note(path, layers)
        for loc, message, at_key in found:
            layer = owner(loc, layers)
            if layer.is_sensitive(loc):
                message = mask_value(message)
            layer.problem(loc, message, at_key=at_key)
        return None if found or desired is None else _with(desired, extra)

    def note(self, path: LeafPath, layers: list[Source]) -> None:
        """Once a run per field: it is typed by the saved API schema, not the built-in models."""
        if path in self.noted:
            return
        self.noted.add(path)
        message = (
            f"note: {dotted(path)} is not in this kathansync's models; typed by"
            f" {API_SCHEMA_NAME} ({describe_type(self.extra[path])}) and planned like any field"
        )
        layer = owner(path, layers)
        self.problems.add(layer.problem(path, message, at_key=True, severity="warning"))

    def check_known_values(self, merged: dict[str, Any], layers: list[Source]) -> None:
        """Unknown enum-like values: a warning with a suggestion (an error when strict)."""
        for name, loc, known in _KNOWN_AT:
            value = value_at(merged, loc)
            # Non-strings are type errors (or YAML 1.1 booleans the model reads as on/off).
            if not isinstance(value, str) or value in known:
                continue
            layer = owner(loc, layers)
            sensitive = layer.is_sensitive(loc)
            shown = "(sensitive)" if sensitive else repr(value)
            hint = "" if sensitive else did_you_mean(value, known)
            layer.problem(
                loc,
                f"unknown value {shown} for {name} (known: {', '.join(known)}){hint}",
                severity="error" if self.strict else "warning",
            )


# A body is at most this many times the characters of the texts it was parsed from, as JSON:
# 4 bytes of UTF-8 a character, an escape for `"`, `9e15` read as 9000000000000000.0 (4.5x).
_MAX_GROWTH = 16


def _by_the_model(
    known: dict[str, Any], extra_keys: tuple[str, ...]
) -> tuple[dict[str, Any] | None, list[tuple[Loc, str, bool]]]:
    """The desired state as AssistantSpec dumps it, or every problem it finds, worded. Imported
    here: a run whose manifests all conform (see conform.py) never imports pydantic."""
    from pydantic import ValidationError

    from kathansync.models import AssistantSpec

    try:
        spec = AssistantSpec.model_validate(known)
    except ValidationError as exc:
        return None, describe_errors(exc, AssistantSpec, extra_keys=extra_keys)
    return spec.model_dump(mode="json", exclude_unset=True), []


def _body_size(desired: dict[str, Any], layers: list[Source]) -> int:
    """The PUT body's size in bytes, or 0 when it cannot be near the budget: texts that small,
    nothing expanded in them. Dumping every body only to measure it was 7 % of a cold load."""
    plain = all(layer.plain for layer in layers)
    if plain and sum(len(layer.text) for layer in layers) * _MAX_GROWTH <= MAX_BODY_BYTES:
        return 0
    return len(json.dumps(desired, ensure_ascii=False).encode())


def _read_nothing(folder: Path) -> Source | None:
    """The defaults chain's reader once a load is over (see `_Loader.result`)."""
    return None


def _without(data: dict[str, Any], paths: Mapping[LeafPath, Any]) -> dict[str, Any]:
    """A copy of `data` without the keys at `paths` (the fields the built-in models lack)."""
    if not paths:
        return data
    copied: dict[str, Any] = copy_tree(data)
    for path in paths:
        parent = value_at(copied, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return copied


def _with(desired: dict[str, Any], extra: Mapping[LeafPath, Any]) -> dict[str, Any]:
    """`desired` with the schema-only fields put back where the manifest had them."""
    for path, value in extra.items():
        parent = desired
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[path[-1]] = copy_tree(value)
    return desired
