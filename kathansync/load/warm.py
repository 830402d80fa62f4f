"""The warm lane: a load served whole by the manifest cache, without the loader.

`load_manifests`, the load package's entry point, tries it first when there is a cache folder:
it walks the manifests directory in strings, replays each manifest from the cache (cached.py)
and returns the LoadResult the full loader would, without importing the loader, pydantic,
ruamel or the models. At the first thing it cannot answer alone (a manifest the cache does not
hold as it is now, a name that is not UTF-8, two files for one handle, one id in two files, a
saved API schema, whose problems only the loader reports) it hands over to the full loader
(loader.py) with the cache it opened and the bytes it read: nothing is decoded or read twice.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from kathansync.errors import Problem
from kathansync.load.apischema import API_SCHEMA_NAME
from kathansync.load.cache import IDS, ManifestCache
from kathansync.load.cached import HANDED_OVER, WarmLoads, open_cache, replayed
from kathansync.load.discover import SUFFIXES, find_root, handle_of
from kathansync.load.interpolate import Resolver
from kathansync.load.result import LoadResult
from kathansync.load.source import is_utf8_name
from kathansync.manifest import Manifest


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
    """loader.load_manifests (its docstring says what each parameter means), answered by the
    cache alone when every manifest is a hit; otherwise handed over to the loader whole."""
    handed: ManifestCache | None = None
    if cache_dir is not None and directory.is_dir():
        resolver = Resolver(variables or {}, environ, (root or find_root(directory)).resolve())
        handed = open_cache(
            cache_dir,
            directory=directory,
            root=resolver.root,
            env=env,
            strict=strict,
            environments=environments,
            environ=environ,
        )
        served = _served(directory, handed, resolver)
        if served is not None:
            return served
    return _by_the_loader(
        directory,
        handed,
        env=env,
        variables=variables,
        environ=environ,
        strict=strict,
        root=root,
        environments=environments,
        cache_dir=cache_dir,
    )


def _by_the_loader(directory: Path, handed: ManifestCache | None, **options: Any) -> LoadResult:
    """The full loader (imported now, with pydantic), given the cache the lane opened."""
    from kathansync.load import loader

    token = HANDED_OVER.set(handed)
    try:
        return loader.load_manifests(directory, **options)
    finally:
        HANDED_OVER.reset(token)


def _served(directory: Path, cache: ManifestCache, resolver: Resolver) -> LoadResult | None:
    """The whole load from the cache, or None (the loader's turn) at the first thing the cache
    cannot answer; the bytes of the manifests replayed until then stay in `cache.preread`."""
    if not cache.entries or os.path.lexists(resolver.root / API_SCHEMA_NAME):
        return None
    warm = WarmLoads(cache, resolver, None)
    manifests: list[Manifest] = []
    problems: set[Problem] = set()
    owners: dict[str, str] = {}  # id -> handle, for the duplicate check
    handles: set[str] = set()
    files = _manifest_files(directory)
    if files is None:
        return None
    for name, handle in files:
        if handle in handles:
            return None
        handles.add(handle)
        found = warm.hit(name)
        if found is None:
            return None
        entry, cache.preread[name] = found
        try:
            manifest, replayed_problems = replayed(entry, handle)
            for value, _, _ in entry[IDS]:
                if owners.setdefault(value, handle) != handle:
                    return None  # the loader words it, at the line of each use
        except (IndexError, KeyError, TypeError, ValueError):
            return None
        manifests.append(manifest)
        problems.update(replayed_problems)
    cache.preread.clear()
    cache.save()  # drops the entries of manifests that are gone
    return LoadResult(sorted(manifests, key=lambda m: m.handle), sorted(problems))


def _manifest_files(directory: Path) -> list[tuple[str, str]] | None:
    """(path, handle) of each manifest, as discover.discover and handle_of name them, in
    strings: the same files (hidden folders and files, `_` files skipped), in any order.
    None at a name that is not UTF-8: the loader words it."""
    top = str(directory)
    prefix = top + os.sep  # as handle_of
    found: list[tuple[str, str]] = []
    for current, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.endswith(SUFFIXES) or name.startswith(("_", ".")):
                continue
            path = os.path.join(current, name)
            if top == "." and path.startswith("./"):  # as str(Path(".", "a.yaml")) is "a.yaml"
                path = path[2:]
            if not path.isascii() and not is_utf8_name(path):
                return None
            if path.startswith(prefix):
                stem = os.path.splitext(path[len(prefix) :])[0]
                found.append((path, stem.replace(os.sep, "/")))
            else:
                found.append((path, handle_of(Path(path), directory)))
    return found
