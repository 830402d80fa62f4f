"""The emulator's assistants: seed defaults, PUT/POST semantics, the optional JSON state file."""

from __future__ import annotations

import copy
import itertools
import json
import os
import secrets
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kathansync.emulator.defaults import DEFAULTS
from kathansync.emulator.errors import EmulatorError


def new_assistant(assistant_id: str) -> dict[str, Any]:
    """A fresh assistant: the seed's defaults with `id` first, as the seed's response orders it."""
    return {"id": assistant_id, **copy.deepcopy(DEFAULTS)}


def apply_put(stored: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored object after a PUT of `body`: only the keys the client sent, objects whole.

    Strict on purpose: a top-level key replaces the stored value, and an object sent replaces the
    stored object, its omitted sub-fields already filled with the response example's defaults by
    the request model (not with what was stored), so a client that sends partial nested objects
    loses data, as it could for real.
    """
    result = copy.deepcopy(dict(stored))
    for key, value in body.items():
        if key == "knowledge_base_ids" and value is None:
            result[key] = []  # the response type is `string[]`, not nullable
        else:
            result[key] = copy.deepcopy(value)
    return result


def merge_seed(base: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` deep-merged over `base`, unvalidated: tests may seed fields the API may add.

    Objects merge key by key, anything else (lists included) replaces; nothing is shared with
    either argument."""
    merged = copy.deepcopy(dict(base))
    for key, value in fields.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_seed(below, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Store:
    """Assistants by id, in memory, mirrored to a JSON state file after every change when given.

    Handlers run on the server's event loop while tests read from their own thread: one lock.
    """

    def __init__(self, state_file: Path | None = None) -> None:
        self.state_file = state_file
        self.lock = threading.RLock()
        self.assistants: dict[str, dict[str, Any]] = {}
        if state_file is not None:
            self.assistants = load_state(state_file)

    def page(self, offset: int, limit: int) -> bytes:
        """`limit` assistants from the `offset`-th, in creation order (as GET /calls pages), as
        the JSON body of the answer: encoded under the lock, which copies them as deepcopy
        would, at a third of its cost (a list of 10,000 is 200 pages: the bench's walk)."""
        with self.lock:
            # Bounded by the store's size: islice refuses bounds above sys.maxsize (a 500).
            size = len(self.assistants)
            start, stop = min(offset, size), min(offset + limit, size)
            chosen = list(itertools.islice(self.assistants.values(), start, stop))
            # allow_nan=False as JSONResponse: never an answer that is not JSON.
            text = json.dumps(chosen, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return text.encode()

    def get(self, assistant_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.assistants.get(assistant_id)
            return copy.deepcopy(found) if found is not None else None

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        assistant = apply_put(new_assistant(str(uuid.uuid4())), body)
        return self._put(assistant)

    def update(self, assistant_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            stored = self.assistants.get(assistant_id)
            if stored is None:
                return None
            return self._put(apply_put(stored, body))

    def delete(self, assistant_id: str) -> bool:
        with self.lock:
            if self.assistants.pop(assistant_id, None) is None:
                return False
            self.save()
            return True

    def seed(self, assistant_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create or overwrite `assistant_id` as DEFAULTS with `fields` deep-merged over them."""
        seeded = merge_seed(new_assistant(assistant_id), fields)
        seeded["id"] = assistant_id
        return self._put(seeded)

    def clear(self) -> None:
        with self.lock:
            self.assistants.clear()
            self.save()

    def save(self) -> None:
        """Write the state file atomically, so a crash never leaves half a file behind."""
        if self.state_file is None:
            return
        with self.lock:
            text = json.dumps({"assistants": self.assistants}, indent=2, ensure_ascii=False)
            write_atomic(self.state_file, text + "\n")

    def _put(self, assistant: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.assistants[assistant["id"]] = assistant
            self.save()
            return copy.deepcopy(assistant)


def write_atomic(path: Path, text: str) -> None:
    """Write through a fsynced temporary file in the same directory, then rename it over `path`:
    a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone already after the rename


def load_state(path: Path) -> dict[str, dict[str, Any]]:
    """The assistants in a state file; a missing file is an empty store, a bad one a EmulatorError.

    A corrupt file is never reset: it may be the only copy of someone's demo or test data.
    """
    if not path.parent.is_dir():
        raise EmulatorError(f"{path}: the directory for the emulator state file does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise EmulatorError(f"{path}: cannot read the emulator state file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmulatorError(
            f"{path}:{exc.lineno}:{exc.colno}: emulator state file is not valid JSON ({exc.msg}); "
            "fix or delete it, it is never reset automatically"
        ) from None
    assistants = data.get("assistants") if isinstance(data, dict) else None
    if not isinstance(assistants, dict) or not all(
        isinstance(value, dict) for value in assistants.values()
    ):
        raise EmulatorError(
            f'{path}: emulator state file must look like {{"assistants": {{"<id>": {{...}}}}}}; '
            "fix or delete it, it is never reset automatically"
        )
    for key, value in assistants.items():
        value["id"] = key  # the key is the truth; keeps GET /assistants/{id} and the body in step
    return assistants
