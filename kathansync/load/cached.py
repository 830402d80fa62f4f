"""The loader's side of the manifest cache (see cache.py): a hit replays a stored load without
parsing or validating anything; a manifest that loaded cleanly is stored with what shaped it."""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from kathansync.errors import Problem
from kathansync.load import yamlio
from kathansync.load.apischema import API_SCHEMA_NAME, MAX_SCHEMA_BYTES
from kathansync.load.cache import (
    ABSENT,
    DESIRED,
    FILE,
    ID,
    IDS,
    ORIGINS,
    PROBLEMS,
    Entry,
    ManifestCache,
    context_key,
    digest,
    file_digest,
    text_digest,
)
from kathansync.load.discover import DEFAULTS_NAMES
from kathansync.load.interpolate import MAX_PATH, Resolver
from kathansync.load.source import Source
from kathansync.manifest import Manifest
from kathansync.tree import Loc

if TYPE_CHECKING:
    from kathansync.load.defaults import DefaultsChain

# A manifest is opened without following a symlink: its folder was confined once, and a link
# (ELOOP) goes the general way (`Resolver.locate`), which resolves it.
# Where there is no O_NOFOLLOW, every manifest goes the general way.
_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_OPEN = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

IdUse = tuple[str, str | None, Source, Loc]  # as IdChecker.ids holds them

# A cache the warm lane (warm.py) already opened and read from, handed to the full loader
# when the lane cannot finish: the file is not decoded twice, nor a manifest read twice.
HANDED_OVER: ContextVar[ManifestCache | None] = ContextVar("HANDED_OVER", default=None)


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
    context = run_context(
        directory=directory, root=root, env=env, strict=strict, environments=environments
    )
    handed = HANDED_OVER.get()
    if handed is not None and handed.folder == folder and handed.context == context:
        return handed
    return ManifestCache.open(folder, context, os.environ if environ is None else environ)


def run_context(
    *,
    directory: Path,
    root: Path,
    env: str | None,
    strict: bool,
    environments: Collection[str] | None,
) -> str:
    """The context digest of a run (see open_cache), which also names its cache file."""
    return context_key(
        env=env,
        strict=strict,
        environments=None if environments is None else sorted(environments),
        root=str(root),
        directory=str(directory),
        cwd=os.getcwd(),
        api_schema=file_digest(root / API_SCHEMA_NAME, MAX_SCHEMA_BYTES),
    )


class WarmLoads:
    """Lookups and stores for one run; each dependency is hashed once a run."""

    def __init__(
        self, cache: ManifestCache, resolver: Resolver, defaults: DefaultsChain | None
    ) -> None:
        """`defaults` is for storing (see chain_deps); the warm lane only replays."""
        self.cache = cache
        self.resolver = resolver
        self.defaults = defaults
        self.digests: dict[str, str] = {}
        self.by_folder: dict[str, dict[str, str]] = {}  # see chain_deps
        self.folders: dict[str, str] = {}  # folder as given -> confined and resolved, or ""

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

    def read_manifest(self, name: str) -> bytes | None:
        """`read` for a manifest, in strings and four system calls: its folder is confined once
        a run, and the file is opened without following a link, so it is inside that folder.
        Anything unusual (a link, a long path, an odd file) is left to `read`'s full rules."""
        head, tail = os.path.split(name)
        folder = self.folders.get(head)
        if folder is None:
            inside, refused = self.resolver.locate(Path(head))
            folder = self.folders[head] = "" if refused else inside
        if not folder or tail.lower() == ".git" or len(name) > MAX_PATH or not _NOFOLLOW:
            return self.read(Path(name))
        try:
            fd = os.open(f"{folder}{os.sep}{tail}", _OPEN)
        except (OSError, ValueError):  # ELOOP: a symlink, resolved and confined by `read`
            return self.read(Path(name))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > yamlio.MAX_BYTES:
                return None
            data = os.read(fd, info.st_size + 1)  # shorter than asked: the end of the file
            return data if len(data) <= info.st_size else _read_rest(fd, data)
        except OSError:
            return None
        finally:
            os.close(fd)

    def dep_digest(self, name: str) -> str:
        if name not in self.digests:
            path = Path(name)
            if not os.path.lexists(path):  # as read_defaults tells a _defaults file is there
                self.digests[name] = ABSENT
            else:
                data = self.read(path)
                self.digests[name] = "" if data is None else text_digest(data)
        return self.digests[name]

    def hit(self, name: str) -> tuple[Entry, bytes] | None:
        """The entry of the manifest `name` and its bytes, when the cache holds it as it is."""
        if name not in self.cache.entries:  # a new manifest, or a cold run: nothing to read
            return None
        data = self.cache.preread.pop(name, None) or self.read_manifest(name)
        if data is None:
            return None
        try:  # a signed entry is ours, but of whatever shape an older kathansync gave it
            entry = self.cache.lookup(name, text_digest(data), self.dep_digest)
        except (IndexError, KeyError, TypeError, ValueError):
            entry = None
        if entry is None:
            self.cache.preread[name] = data  # the warm lane hands it over: not read twice
            return None
        return entry, data

    def replay(self, path: Path, handle: str) -> Replay | None:
        found = self.hit(str(path))
        if found is None:
            return None
        entry, data = found
        try:
            manifest, problems = replayed(entry, handle)
        except (IndexError, KeyError, TypeError, ValueError):
            return None
        # The bytes stay for the duplicate-id check: a position is computed only on a problem.
        source = _Replayed(path, manifest.file, raw=data)
        ids: list[IdUse] = [(value, env, source, loc) for value, env, loc in entry[IDS]]
        return Replay(manifest, problems, ids)

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
        result = (
            manifest.file,
            manifest.id,
            manifest.desired,
            dict(manifest.origins),
            tuple((value, env, tuple(loc)) for value, env, _, loc in ids),
            tuple((p.file, p.line, p.column, p.message, p.severity) for p in problems),
        )
        self.cache.store(str(path), digest(source.text.encode()), deps, result)

    def chain_deps(self, path: Path, chain: Sequence[Source]) -> dict[str, str]:
        """The _defaults files of a manifest's folder and above (present or absent) and their
        !file targets: the same for every manifest of a folder, so worked out once."""
        folder_key = os.path.dirname(path)  # a string: a Path's parent and hash cost more
        deps = self.by_folder.get(folder_key)
        if deps is None:
            assert self.defaults is not None, "stores come from the loader, which has a chain"
            by_path = {str(layer.path): layer for layer in chain}
            deps = {}
            for folder in self.defaults.folders_of(path):
                for name in DEFAULTS_NAMES:
                    key = str(folder / name)
                    layer = by_path.get(key)
                    deps[key] = ABSENT if layer is None else digest(layer.text.encode())
            for layer in chain:
                deps.update(layer.included)
            self.by_folder[folder_key] = deps
        return deps


@dataclass
class _Replayed(Source):
    """A replayed manifest's Source: its text is decoded only when a problem (a duplicate id)
    needs a position, which at 10,000 manifests saves decoding 10,000 files for nothing."""

    raw: bytes = b""

    def position(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        if not self.text and self.raw:
            with suppress(yamlio.SourceError):  # a hit decoded cleanly before: cannot fail
                self.text = yamlio.decode_utf8(self.raw)
        return super().position(loc, at_key=at_key)


def _read_rest(fd: int, start: bytes) -> bytes:
    """The rest of a file that grew while read, up to the loader's cap (then OSError: the cold
    path reads it again and says so)."""
    chunks, left = [start], yamlio.MAX_BYTES + 1 - len(start)
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > yamlio.MAX_BYTES:
        raise OSError("grew past the loader's cap while read")
    return data


def replayed(entry: Entry, handle: str) -> tuple[Manifest, list[Problem]]:
    """The manifest and problems a cold load gave, from a hit's entry (see cache.Entry)."""
    manifest = Manifest(
        handle=handle,
        file=entry[FILE],
        id=entry[ID],
        desired=entry[DESIRED],
        origins=entry[ORIGINS],
    )
    return manifest, [Problem(*fields) for fields in entry[PROBLEMS]]
