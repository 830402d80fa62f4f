"""The loader's side of the manifest cache (see cache.py): a hit replays a stored load without
parsing or validating anything; a manifest that loaded cleanly is stored with what shaped it."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from kathansync.errors import Problem
from kathansync.load import yamlio
from kathansync.load.apischema import API_SCHEMA_NAME, MAX_SCHEMA_BYTES
from kathansync.load.cache import (
    ABSENT,
    ManifestCache,
    context_key,
    digest,
    file_digest,
    text_digest,
)
from kathansync.load.defaults import DefaultsChain
from kathansync.load.discover import DEFAULTS_NAMES
from kathansync.load.interpolate import Resolver
from kathansync.load.source import Source
from kathansync.manifest import Manifest
from kathansync.tree import Loc

IdUse = tuple[str, str | None, Source, Loc]  # as IdChecker.ids holds them


class Replay(NamedTuple):
    """What a cold load of one manifest would have added to the run."""

    manifest: Manifest
    problems: list[Problem]
    ids: list[IdUse]


def open_cache(
    folder: Path,
    *,
    directory: Path,
    root: Path,
    env: str | None,
    strict: bool,
    environments: Collection[str] | None,
    environ: Mapping[str, str] | None,
) -> ManifestCache:
    """The cache for this run's context: everything run-wide a loaded manifest depends on.

    The working directory and the manifests directory as given are part of it: shown paths
    (`Manifest.file`, every Problem's file) are relative to them."""
    context = context_key(
        env=env,
        strict=strict,
        environments=None if environments is None else sorted(environments),
        root=str(root),
        directory=str(directory),
        cwd=os.getcwd(),
        api_schema=file_digest(root / API_SCHEMA_NAME, MAX_SCHEMA_BYTES),
    )
    return ManifestCache.open(folder, context, os.environ if environ is None else environ)


class WarmLoads:
    """Lookups and stores for one run; each dependency is hashed once a run."""

    def __init__(self, cache: ManifestCache, resolver: Resolver, defaults: DefaultsChain) -> None:
        self.cache = cache
        self.resolver = resolver
        self.defaults = defaults
        self.digests: dict[str, str] = {}
        self.by_folder: dict[Path, dict[str, str]] = {}  # see chain_deps

    def read(self, path: Path) -> bytes | None:
        """A file's bytes under the same rules as a cold read (confined to the root, never
        .git/, regular files only, size cap), or None: then the cold path says why."""
        target, refused = self.resolver.locate(path)
        if refused:
            return None
        try:
            return yamlio.read_bytes(target)
        except yamlio.SourceError:
            return None

    def dep_digest(self, name: str) -> str:
        if name not in self.digests:
            path = Path(name)
            if not path.is_file():  # as read_defaults tells a _defaults file is there
                self.digests[name] = ABSENT
            else:
                data = self.read(path)
                self.digests[name] = "" if data is None else text_digest(data)
        return self.digests[name]

    def replay(self, path: Path, handle: str) -> Replay | None:
        if str(path) not in self.cache.entries:  # a new manifest, or a cold run: nothing to read
            return None
        data = self.read(path)
        if data is None:
            return None
        result = self.cache.lookup(str(path), text_digest(data), self.dep_digest)
        if not isinstance(result, dict):
            return None
        try:
            return _decode(result, path, handle, data)
        except (KeyError, TypeError, ValueError, yamlio.SourceError):
            return None

    def remember(
        self,
        path: Path,
        source: Source,
        chain: Sequence[Source],
        manifest: Manifest,
        ids: Sequence[IdUse],
        chain_problems: Sequence[Problem],
    ) -> None:
        """Store a clean load, unless a ${VAR} shaped it (its value must never reach disk)."""
        if source.sensitive or any(layer.sensitive for layer in chain) or manifest.sensitive:
            return
        deps = {**self.chain_deps(path, chain), **source.included}
        problems = [*source.problems, *chain_problems]
        result = {
            "file": manifest.file,
            "id": manifest.id,
            "desired": manifest.desired,
            "origins": dict(manifest.origins),
            "ids": [[value, env, list(loc)] for value, env, _, loc in ids],
            "problems": [[p.file, p.line, p.column, p.message, p.severity] for p in problems],
        }
        self.cache.store(str(path), digest(source.text.encode()), deps, result)

    def chain_deps(self, path: Path, chain: Sequence[Source]) -> dict[str, str]:
        """The _defaults files of a manifest's folder and above (present or absent) and their
        !file targets: the same for every manifest of a folder, so worked out once."""
        deps = self.by_folder.get(path.parent)
        if deps is None:
            by_path = {str(layer.path): layer for layer in chain}
            deps = {}
            for folder in self.defaults.folders_of(path):
                for name in DEFAULTS_NAMES:
                    key = str(folder / name)
                    layer = by_path.get(key)
                    deps[key] = ABSENT if layer is None else digest(layer.text.encode())
            for layer in chain:
                deps.update(layer.included)
            self.by_folder[path.parent] = deps
        return deps


def _decode(result: dict[str, Any], path: Path, handle: str, data: bytes) -> Replay:
    # The text stays for the duplicate-id check: a position is computed only on a problem.
    source = Source(path, result["file"], text=yamlio.decode_utf8(data))
    manifest = Manifest(
        handle=handle,
        file=result["file"],
        id=result["id"],
        desired=result["desired"],
        origins=result["origins"],
    )
    ids: list[IdUse] = [(value, env, source, tuple(loc)) for value, env, loc in result["ids"]]
    problems = [Problem(*fields) for fields in result["problems"]]
    return Replay(manifest, problems, ids)
