"""A cache of loaded manifests in `.kathansync/cache/`: a warm run hashes files, it parses none.

An entry is used only when everything that shaped it is byte-for-byte what it was: the manifest,
each `_defaults.yaml` of its chain (and the absence of the ones that were absent), each `!file`
target, and the run's context (kathansync's version and code, the environment, --strict, the
known environments, the saved API schema, the root, the manifests directory and the working
directory the shown paths are relative to). Manifests that interpolate a `${VAR}` (their own or
through a `_defaults.yaml`) are never stored, so no secret value is ever written here, and a
changed variable can never be served stale.

The file is a cache, not a source of truth: safe to delete, ignored whole when unreadable, too
large, from another context or malformed; written atomically; never read in CI (`CI` set), where
a fresh checkout has none of its own. A cache file committed to a branch must not smuggle
unreviewed values into an apply: every file is signed with a key kept outside the repository
(`$XDG_CACHE_HOME/kathansync/cache-key`, mode 0600), and one whose signature does not match is
ignored. The body is `marshal` (plain tuples and JSON-like values: a third of the JSON's
decoding time), which is not safe against crafted input, so nothing is decoded before the
signature is checked, and a file from another Python's marshal is refused by its header.

Imports stay light (no pydantic, no ruamel): a warm run must not pay for what it skips.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import importlib.util
import json
import marshal
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kathansync

FORMAT = 3
# One file per context (see cache_file): `validate` checks every environment in one run, and
# `plan --env` another; with a single file each would overwrite the other, and never hit.
CACHE_GLOB = "manifests*"
KEEP_FILES = 8  # the contexts most recently written; older files are removed on a write
# What the body was written by: another marshal or Python may read the same bytes differently.
HEADER = f"kathansync-cache {FORMAT} marshal {marshal.version} {sys.implementation.cache_tag}"
MAX_BYTES = 256 * 1024 * 1024  # far above 10,000 manifests (~7 MB); a bound, not a budget
ABSENT = "absent"  # the digest of a file that does not exist
DISABLE_ENV = "KATHANSYNC_NO_CACHE"
_BOM = b"\xef\xbb\xbf"

# An entry: (digest, deps index, then what a replay needs: file, id, desired, origins, ids,
# problems), where ids are (value, env, loc) and problems (file, line, column, message,
# severity), all tuples. Deps are shared: the manifests of a folder have the same chain.
Entry = tuple[Any, ...]
Deps = tuple[tuple[str, str], ...]
DIGEST, DEPS, FILE, ID, DESIRED, ORIGINS, IDS, PROBLEMS = range(8)


def digest(data: bytes) -> str:
    """A content digest: BLAKE2b is the fastest collision-resistant hash in hashlib."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def text_digest(data: bytes) -> str:
    """The digest of a YAML file's bytes as the loader reads them: one BOM is dropped, so the
    digest of `text.encode()` after a read equals the digest of the file's bytes."""
    return digest(data[3:] if data.startswith(_BOM) else data)


def file_digest(path: Path, max_bytes: int) -> str:
    """The digest of a regular file's bytes, ABSENT when there is none, "" when unreadable."""
    try:
        if not path.is_file():
            return ABSENT
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError:
        return ""
    return digest(data) if len(data) <= max_bytes else ""


# The libraries that read and check a manifest: an upgrade of one may read a file differently.
READERS = ("ryaml", "ruamel.yaml", "pydantic", "pydantic_core")


def code_stamp() -> str:
    """Size and mtime of kathansync's own modules, and of the readers' (READERS): an editable
    install keeps its version while its code changes, an upgraded library keeps ours, and a
    loader fixed since the last run must not be served old results."""
    package = Path(kathansync.__file__).parent
    stamps = [_library_stamp(name) for name in READERS]
    for folder in (package, package / "load"):
        try:
            with os.scandir(folder) as found:
                for item in found:
                    if item.name.endswith(".py"):
                        info = item.stat()
                        stamps.append(
                            f"{folder.name}/{item.name}:{info.st_size}:{info.st_mtime_ns}"
                        )
        except OSError:
            return secrets.token_hex(8)  # unknowable: a context no cache file can match
    return digest("\n".join(sorted(stamps)).encode())


def _library_stamp(name: str) -> str:
    """`name`'s installed file, found without importing it (a warm run imports no pydantic)."""
    try:
        spec = importlib.util.find_spec(name)
        info = os.stat(spec.origin) if spec is not None and spec.origin else None
    except (ImportError, ValueError, OSError):
        info = None
    return f"{name}:{info.st_size}:{info.st_mtime_ns}" if info else f"{name}:-"


def context_key(**parts: Any) -> str:
    """One digest of everything run-wide that changes a loaded manifest."""
    run_wide = {"version": kathansync.__version__, "code": code_stamp(), "format": HEADER}
    text = json.dumps({**run_wide, **parts}, sort_keys=True, default=str)
    return digest(text.encode())


def cache_file(folder: Path, context: str) -> Path:
    """The file of one context in `folder`."""
    return folder / f"manifests-{context[:24]}.bin"


def disabled(environ: Mapping[str, str]) -> bool:
    """CI (a fresh checkout every run, and a shared runner's home) or KATHANSYNC_NO_CACHE."""
    return any(environ.get(name, "") not in ("", "0", "false") for name in ("CI", DISABLE_ENV))


@dataclass
class ManifestCache:
    """Entries by manifest path; only the ones used or stored this run are saved again."""

    path: Path | None  # None: disabled
    context: str
    entries: dict[str, Entry] = field(default_factory=dict)
    deps: list[Deps] = field(default_factory=list)  # what an entry's DEPS index points at
    changed: bool = False
    used: set[str] = field(default_factory=set)
    key: bytes = b""
    checked: dict[int, bool] = field(default_factory=dict)  # deps index -> all unchanged
    folder: Path | None = None  # where it was opened
    preread: dict[str, bytes] = field(default_factory=dict)  # read this run, not yet replayed

    @classmethod
    def open(cls, folder: Path, context: str, environ: Mapping[str, str]) -> ManifestCache:
        """The cache in `folder` (`.kathansync/cache`), or a disabled one."""
        key = b"" if disabled(environ) else _signing_key(environ)
        if not key:
            return cls(None, context, folder=folder)
        path = cache_file(folder, context)
        entries, deps = _read(path, context, key)
        return cls(path, context, entries, deps, key=key, folder=folder)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def lookup(self, name: str, digest_now: str, dep_digest: Callable[[str], str]) -> Entry | None:
        """The stored entry for `name` when it and every dependency are unchanged, else None."""
        entry = self.entries.get(name)
        if entry is None or not digest_now or entry[DIGEST] != digest_now:
            return None
        index = entry[DEPS]
        unchanged = self.checked.get(index)
        if unchanged is None:  # once a run for each set: a folder's manifests share one
            deps = self.deps[index]
            unchanged = self.checked[index] = all(was and dep_digest(d) == was for d, was in deps)
        if not unchanged:
            return None
        self.used.add(name)
        return entry

    def store(self, name: str, digest_now: str, deps: Mapping[str, str], result: Entry) -> None:
        """Keep `result` (an Entry from FILE on) for `name`, read as `digest_now` with `deps`."""
        if self.path is None or not digest_now or not all(deps.values()):
            return
        shared = tuple(sorted(deps.items()))
        try:
            index = self.deps.index(shared)  # a handful of sets: one a folder
        except ValueError:
            index = len(self.deps)
            self.deps.append(shared)
        self.entries[name] = (digest_now, index, *result)
        self.used.add(name)
        self.changed = True

    def save(self) -> None:
        """Write the cache if anything changed; a cache that cannot be written is no error.

        Entries not used this run (a deleted manifest, one that now fails) are dropped."""
        if self.path is None:
            return
        kept = {name: entry for name, entry in self.entries.items() if name in self.used}
        if not self.changed and len(kept) == len(self.entries):
            return
        table: dict[Deps, int] = {}
        for name, entry in kept.items():  # only the deps sets still in use, renumbered
            index = table.setdefault(self.deps[entry[DEPS]], len(table))
            kept[name] = (entry[DIGEST], index, *entry[FILE:])
        try:
            body = marshal.dumps((self.context, tuple(table), kept))
        except ValueError:  # a value marshal cannot write (not a plain type): no cache
            return
        signed = (HEADER + "\n").encode() + body
        try:
            _write(self.path, _sign(self.key, signed).encode() + b"\n" + signed)
        except OSError:
            return
        self.entries, self.deps, self.checked = kept, list(table), {}
        self.changed = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic GC paused: the many containers a cache file decodes to (none in a cycle)
    would otherwise trigger full collections costing as much as the decoding, and a warm load
    a third of its time. Reference counting still frees everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# The last decoded cache file, held in a cycle of its own (see _kept_until_exit).
_KEPT: list[Any] = []


def _kept_until_exit(decoded: Any) -> None:
    """Hold `decoded` (the last cache file read) until the process ends, and let it end without
    freeing it: a million small objects took a tenth of a warm run to free at exit.

    `_KEPT` holds itself: once the interpreter clears this module at exit, only that cycle
    keeps it, and the cycle, frozen with everything else (gc.freeze, right after), is never
    collected. A later read replaces the previous one, which is then freed as usual: a long
    process (the tests) holds one cache file at most."""
    _KEPT.clear()
    _KEPT.extend((decoded, _KEPT))


def _sign(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.blake2b).hexdigest()


def _signing_key(environ: Mapping[str, str]) -> bytes:
    """This user's key (created on first use), or b"" when there is no private place for one."""
    # Absolute paths only (as the XDG spec says): a relative one is inside the working
    # directory, the repository, where a branch could commit a key with a cache it signed.
    xdg, home = environ.get("XDG_CACHE_HOME", ""), environ.get("HOME", "")
    base = xdg if os.path.isabs(xdg) else str(Path(home, ".cache")) if os.path.isabs(home) else ""
    if not base:
        return b""
    path = Path(base, "kathansync", "cache-key")
    try:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        key = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return b""
    return key.encode() if len(key) >= 32 else b""


def _write(path: Path, data: bytes) -> None:
    """Replace the cache file atomically (a reader sees the old file or the new one).

    Not fsync'd: after a crash a torn or empty file fails its signature and is ignored, and
    syncing 7 MB would cost a cold run more than the cache saves it.

    Never through a symlinked `.kathansync/` or `cache/` (a branch can commit one): the file
    would be written, and `_prune` would delete, wherever it points, outside the repository."""
    if os.path.islink(path.parent) or os.path.islink(path.parent.parent):
        raise OSError("the cache folder is a symlink: not written")
    if not (path.parent.parent / ".gitignore").is_file():  # state imports the whole pipeline
        from kathansync.state import state_folder

        state_folder(path.parent.parent)  # `.kathansync/` with its .gitignore
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after the replace
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Only the KEEP_FILES most recent contexts' files stay (and no file of an older format)."""
    try:
        found = sorted(folder.glob(CACHE_GLOB), key=lambda file: file.stat().st_mtime_ns)
    except OSError:  # one removed meanwhile (another run pruning): the next write prunes
        return
    current = [file for file in found if file.name.startswith("manifests-")]
    for old in [file for file in found if file not in current] + current[:-KEEP_FILES]:
        old.unlink(missing_ok=True)


def _read(path: Path, context: str, key: bytes) -> tuple[dict[str, Entry], list[Deps]]:
    """The entries and deps sets of a cache file, or none: nothing unsigned is ever decoded."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError:  # none yet, a directory, unreadable
        return {}, []
    signature, _, signed = data.partition(b"\n")
    if len(data) > MAX_BYTES or not hmac.compare_digest(signature, _sign(key, signed).encode()):
        return {}, []
    header, _, body = signed.partition(b"\n")
    if header != HEADER.encode():
        return {}, []
    try:
        with paused_gc():
            decoded = marshal.loads(body)
            _kept_until_exit(decoded)
            # Long-lived, acyclic, freed by reference counting: out of the cyclic GC's sight,
            # or every later collection walks them again (a quarter of a warm load).
            gc.freeze()
        stored, deps, entries = decoded
    except (EOFError, ValueError, TypeError):
        return {}, []
    if stored != context or not isinstance(deps, tuple) or not isinstance(entries, dict):
        return {}, []
    return entries, list(deps)
