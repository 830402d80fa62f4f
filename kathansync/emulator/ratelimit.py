"""The documented rate limit: N requests per fixed window, told in X-RateLimit-* headers.

api/authentication.md: "Development: 100 requests/minute", headers `X-RateLimit-Limit: 100`,
`X-RateLimit-Remaining: 99`, `X-RateLimit-Reset: 1640995200` (Unix seconds), and past the limit
`429 {"detail": "Rate limit exceeded"}`. No `Retry-After` is mentioned, so none is sent.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

RATE_LIMITED = "Rate limit exceeded"


class RateLimiter:
    """A fixed window of `window` seconds opened by the first request after the last one ended.

    Refused requests do not use up the budget. Thread-safe: the server thread admits while tests
    read. `clock` is Unix time (the Reset header is a Unix timestamp); tests inject their own.
    """

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        if limit < 1:
            raise ValueError(f"rate_limit must be >= 1, got {limit}")
        if not window > 0:
            raise ValueError(f"rate_window must be > 0 seconds, got {window}")
        self.limit, self.window, self.clock = limit, window, clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._start = -math.inf
            self._used = 0

    def admit(self) -> tuple[bool, list[tuple[bytes, bytes]]]:
        """(admitted, the headers for this answer); an admitted request uses one of the budget."""
        with self._lock:
            self._roll(self.clock())
            admitted = self._used < self.limit
            if admitted:
                self._used += 1
            return admitted, self._headers()

    def peek(self) -> list[tuple[bytes, bytes]]:
        """The headers as they stand, using nothing (for answers decided before the limit)."""
        with self._lock:
            self._roll(self.clock())
            return self._headers()

    def _roll(self, now: float) -> None:
        if now >= self._start + self.window:
            self._start, self._used = now, 0

    def _headers(self) -> list[tuple[bytes, bytes]]:
        # Whole Unix seconds, rounded up: waiting until Reset always finds the new window open.
        reset = math.ceil(self._start + self.window)
        values = {
            b"x-ratelimit-limit": self.limit,
            b"x-ratelimit-remaining": self.limit - self._used,
            b"x-ratelimit-reset": reset,
        }
        return [(name, str(value).encode()) for name, value in values.items()]
