"""A cache of loaded manifests in `.kathansync/cache/`: a warm run hashes files, it parses none.

An entry is used only when everything that shaped it is byte-for-byte what it was: the manifest,
each `_defaults.yaml` of its chain (and the absence of the ones that were absent), each `!file`
target, and the run's context (kathansync's version, the environment, --strict, the known
environments, the saved API schema). Manifests that interpolate a `${VAR}` are never stored, so
no secret value is ever written here, and a changed variable can never be served stale.

The file is a cache, not a source of truth: safe to delete, ignored whole when unreadable, too
large, from another version or malformed; written atomically; never read in CI (`CI` set), where
a fresh checkout has none of its own. A cache file committed to a branch must not smuggle
unreviewed values into an apply: every file is signed with a key kept outside the repository
(`$XDG_CACHE_HOME/kathansync/cache-key`, mode 0600), and one whose signature does not match is
ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kathansync import __version__

FORMAT = 1
CACHE_FILE = "manifests.json"
MAX_BYTES = 256 * 1024 * 1024  # far above 10,000 manifests (~15 MB); a bound, not a budget
ABSENT = "absent"  # the digest of a file that does not exist
DISABLE_ENV = "KATHANSYNC_NO_CACHE"


def digest(data: bytes) -> str:
    """A content digest: BLAKE2b is the fastest collision-resistant hash in hashlib."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


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


def context_key(**parts: Any) -> str:
    """One digest of everything run-wide that changes a loaded manifest."""
    text = json.dumps({"version": __version__, "format": FORMAT, **parts}, sort_keys=True)
    return digest(text.encode())


@dataclass
class ManifestCache:
    """Entries by manifest path (relative to the root, "/"-separated)."""

    path: Path | None  # None: disabled
    context: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: bool = False

    key: bytes = b""

    @classmethod
    def open(cls, root: Path, context: str, environ: Mapping[str, str]) -> ManifestCache:
        key = b"" if environ.get("CI") or environ.get(DISABLE_ENV) else _signing_key(environ)
        if not key:
            return cls(None, context)
        path = root / ".kathansync" / "cache" / CACHE_FILE
        return cls(path, context, _read(path, context, key), key=key)

    def lookup(self, name: str, digest_now: str, dep_digest: Callable[[str], str]) -> Any:
        """The stored result for `name` when it and every dependency are unchanged, else None."""
        entry = self.entries.get(name)
        if entry is None or not digest_now or entry.get("digest") != digest_now:
            return None
        deps = entry.get("deps")
        if not isinstance(deps, dict):
            return None
        for dep, was in deps.items():
            if not was or dep_digest(dep) != was:
                return None
        return entry.get("result")

    def store(self, name: str, digest_now: str, deps: Mapping[str, str], result: Any) -> None:
        if self.path is None or not digest_now or not all(deps.values()):
            return
        self.entries[name] = {"digest": digest_now, "deps": dict(deps), "result": result}
        self.changed = True

    def forget(self, name: str) -> None:
        self.changed |= self.entries.pop(name, None) is not None

    def save(self) -> None:
        """Write the cache if anything changed; a cache that cannot be written is no error."""
        if self.path is None or not self.changed:
            return
        body = json.dumps({"context": self.context, "entries": self.entries}, separators=(",", ":"))
        data = body.encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(_sign(self.key, data).encode() + b"\n" + data)
            os.replace(temporary, self.path)
        except OSError:
            return


def _sign(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.blake2b).hexdigest()


def _signing_key(environ: Mapping[str, str]) -> bytes:
    """This user's key (created on first use), or b"" when there is no private place for one."""
    base = environ.get("XDG_CACHE_HOME") or (
        str(Path(environ["HOME"], ".cache")) if environ.get("HOME") else ""
    )
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


def _read(path: Path, context: str, key: bytes) -> dict[str, dict[str, Any]]:
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return {}
        signature, _, body = path.read_bytes().partition(b"\n")
        if not hmac.compare_digest(signature, _sign(key, body).encode()):
            return {}
        data = json.loads(body)
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("context") != context:
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {name: entry for name, entry in entries.items() if isinstance(entry, dict)}
