"""Everything that makes the emulator misbehave on purpose: latency, random 503s, rate limiting,
and queued faults (status, delay, dropped connection), as one ASGI middleware around the API."""

from __future__ import annotations

import fnmatch
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any

from kathansync.emulator.ratelimit import RATE_LIMITED, RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# Control endpoints live here; knobs and faults never touch them (a test must always reach them).
CONTROL_PREFIX = "/_emulator"
_FAULT_KEYS = frozenset({"status", "retry_after", "detail", "delay_ms", "drop", "method", "path"})


@dataclass(frozen=True)
class Fault:
    """One misbehaviour for the next matching request: wait `delay_ms`, then drop the connection,
    or answer `status` (with Retry-After when given), or, with neither, answer normally.

    `method` and `path` (a glob: "/assistants/*") restrict which requests consume it.
    """

    status: int | None = None
    retry_after: int | None = None
    detail: str | None = None
    delay_ms: int = 0
    drop: bool = False
    method: str | None = None
    path: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Fault:
        """Parse one fault as sent to POST /_emulator/faults; ValueError says what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a fault is a JSON object, got {data!r}")
        unknown = sorted(set(data) - _FAULT_KEYS)
        if unknown:
            raise ValueError(f"unknown fault key(s) {unknown}; known: {sorted(_FAULT_KEYS)}")
        fault = cls(**data)
        _check(
            fault.status is None or (_is_int(fault.status) and 100 <= fault.status <= 599),
            f"status must be an HTTP status code, got {fault.status!r}",
        )
        _check(
            fault.retry_after is None or (_is_int(fault.retry_after) and fault.retry_after >= 0),
            f"retry_after must be whole seconds >= 0, got {fault.retry_after!r}",
        )
        _check(
            _is_int(fault.delay_ms) and fault.delay_ms >= 0,
            f"delay_ms must be an integer >= 0, got {fault.delay_ms!r}",
        )
        _check(isinstance(fault.drop, bool), f"drop must be true or false, got {fault.drop!r}")
        _check(not (fault.drop and fault.status is not None), "a fault cannot both drop and answer")
        _check(
            bool(fault.drop or fault.status or fault.delay_ms),
            "a fault needs at least one of status, delay_ms, drop",
        )
        for name in ("detail", "method", "path"):
            value = getattr(fault, name)
            _check(value is None or isinstance(value, str), f"{name} must be a string")
        return fault

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, 0, False)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class Knobs:
    """Misbehaviour applied to every API request (see docs/emulator.md)."""

    latency_ms: int = 0
    fail_rate: float = 0.0
    rate_limit: int | None = None  # requests per rate_window; past it, the documented 429
    rate_window: float = 60.0  # seconds: a minute, as documented; shorter for fast tests
    rate_limit_headers: bool = True  # False: limit without telling (a client's fallback path)
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, got {self.fail_rate}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"rate_limit must be >= 1, got {self.rate_limit}")
        if not self.rate_window > 0:
            raise ValueError(f"rate_window must be > 0 seconds, got {self.rate_window}")


class Controls:
    """The mutable side of misbehaving: fault queue, request counts, rate window, seeded random.

    Shared by the middleware (server thread) and tests or control endpoints: one lock.
    """

    def __init__(self, knobs: Knobs, clock: Callable[[], float] = time.time) -> None:
        self.knobs = knobs
        self._lock = threading.Lock()
        self.limiter = (
            None
            if knobs.rate_limit is None
            else RateLimiter(knobs.rate_limit, knobs.rate_window, clock)
        )
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._faults: list[Fault] = []
            self._methods: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            # Reproducible failures: the same seed and request sequence fail the same requests.
            self._random = random.Random(self.knobs.seed)
        if self.limiter is not None:
            self.limiter.reset()

    def inject(self, faults: Iterable[Fault]) -> int:
        """Queue faults; returns how many are pending."""
        with self._lock:
            self._faults.extend(faults)
            return len(self._faults)

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first queued fault this request matches, removed from the queue."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(index)
            return None

    def count_request(self, method: str) -> None:
        with self._lock:
            self._methods[method] += 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self._statuses[str(status)] += 1

    def rate_limit(self) -> tuple[bool, Headers]:
        """(admitted, X-RateLimit-* headers); always admitted, no headers, without a limit."""
        if self.limiter is None:
            return True, []
        admitted, headers = self.limiter.admit()
        return admitted, headers if self.knobs.rate_limit_headers else []

    def rate_limit_headers(self) -> Headers:
        """The headers as they stand, for answers decided before the limit (faults)."""
        if self.limiter is None or not self.knobs.rate_limit_headers:
            return []
        return self.limiter.peek()

    def should_fail(self) -> bool:
        if self.knobs.fail_rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < self.knobs.fail_rate

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._methods.values()),
                "methods": dict(self._methods),
                "statuses": dict(self._statuses),
                "faults_pending": len(self._faults),
            }


class FaultMiddleware:
    """ASGI middleware: counts API requests and misbehaves before the API sees them."""

    def __init__(self, app: ASGIApp, controls: Controls) -> None:
        self.app = app
        self.controls = controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        controls = self.controls
        method, path = scope["method"], scope["path"]
        controls.count_request(method)
        extra_headers: Headers = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                controls.count_status(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), *extra_headers]}
            await send(message)

        # Read the body before any waiting: a client that times out meanwhile disconnects, and
        # uvicorn would then hand the app a disconnect instead of the body it had received. A
        # real server that got the whole request processes it; so does the emulator.
        replay = await _buffered(receive)
        if controls.knobs.latency_ms and not await _sleep(controls.knobs.latency_ms):
            return
        fault = controls.take_fault(method, path)
        if fault is not None:
            extra_headers[:] = controls.rate_limit_headers()
            if await _misbehave(fault, receive, counting_send):
                return
        admitted, extra_headers[:] = controls.rate_limit()
        if not admitted:
            # As documented: this body, and no Retry-After (the headers say when to come back).
            await respond(counting_send, 429, RATE_LIMITED)
            return
        if controls.should_fail():
            await respond(counting_send, 503, "Service Unavailable (emulated failure)")
            return
        await self.app(scope, replay, counting_send)


async def _misbehave(fault: Fault, receive: Receive, send: Send) -> bool:
    """Play one fault: True when it answered (or dropped), False to go on answering normally."""
    if fault.delay_ms and not await _sleep(fault.delay_ms):
        return True
    if fault.drop:
        await drop_connection(receive)
        return True
    if fault.status is not None:
        await respond(send, fault.status, fault.detail, fault.retry_after)
        return True
    return False


async def _buffered(receive: Receive) -> Receive:
    """Read the whole request body now; return a `receive` that replays it, then goes live."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


async def _sleep(milliseconds: int) -> bool:
    """Sleep without blocking other requests (they overlap, as on a real network); False when
    cancelled: the server is stopping and the client, which timed out already, hears nothing."""
    import asyncio  # lazily: importing the package must stay cheap for the CLI

    try:
        await asyncio.sleep(milliseconds / 1000)
    except asyncio.CancelledError:
        return False
    return True


async def respond(
    send: Send, status: int, detail: str | None = None, retry_after: int | None = None
) -> None:
    """A FastAPI-style error answer: `{"detail": ...}`, plus Retry-After when given."""
    body = json.dumps({"detail": detail or HTTPStatus(status).phrase}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DropUnsupported(RuntimeError):
    """Raised instead of dropping when the server is not uvicorn (e.g. httpx.ASGITransport)."""


async def drop_connection(receive: Receive) -> None:
    """Close the TCP connection without sending a byte of response.

    ASGI has no message for this, so we reach uvicorn's transport through its bound `receive`
    (the request cycle object), close it, and wait for uvicorn to notice the disconnect: then it
    sends no 500 of its own. Works for uvicorn's h11 and httptools protocols.
    """
    import asyncio

    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "close"):
        raise DropUnsupported("drop faults need the emulator running under uvicorn")
    transport.close()
    while (await asyncio.wait_for(receive(), timeout=5))["type"] != "http.disconnect":
        pass
