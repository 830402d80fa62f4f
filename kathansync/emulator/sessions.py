"""Chat sessions of POST /chat: each id belongs to one assistant and counts its turns.

In memory only (not in the state file): a restarted emulator has forgotten every conversation,
and a client sending an old session_id gets a 404, as it could from a real server.
"""

from __future__ import annotations

import threading
import uuid


class Sessions:
    """session_id -> (assistant_id, turns so far). Thread-safe: tests read from their thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, int]] = {}

    def start(self, assistant_id: str) -> str:
        """A new session with its first turn counted; its id is a fresh uuid4."""
        session_id = str(uuid.uuid4())
        with self._lock:
            self._sessions[session_id] = (assistant_id, 1)
        return session_id

    def turn(self, session_id: str, assistant_id: str) -> bool:
        """Count one more turn; False when the session is unknown or another assistant's."""
        with self._lock:
            owner, turns = self._sessions.get(session_id, ("", 0))
            if owner != assistant_id:
                return False
            self._sessions[session_id] = (owner, turns + 1)
            return True

    def turns(self, session_id: str) -> int:
        """Turns taken in a session so far (0 when unknown), for assertions."""
        with self._lock:
            return self._sessions.get(session_id, ("", 0))[1]

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
