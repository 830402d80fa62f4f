"""When to send: the retry policy, and one rate-limit budget shared by every thread.

The API documents `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix
seconds) on its answers and a 429 past the limit. Every answer updates the budget; a thread
that would overdraw it waits for the reset before sending, instead of bouncing off a 429.
Until the first answer one request goes alone, so the first Remaining counts every request
sent. Without headers, `--rate-limit N` per minute sets the budget; without either, nothing
waits once an answer came.
Clock and sleep are injectable, so tests run the waits instantly.
"""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from kathansync.errors import ApiError, ConfigError
from kathansync.remote.waitline import rate_limit_wait

WINDOW = 60.0  # documented: limits are per minute
MAX_WAIT = 300.0  # a reset further away than this is an error saying when to come back
# 429s one request may wait out before giving up: a budget shared with other clients can
# run dry again right after a reset, but not forever.
MAX_RATE_WAITS = 10
PROBE_POLL = 0.1  # seconds between looks while the first request of a new window is out
PROBE_PATIENCE = 10.0  # a probe unanswered this long (lost?) lets another request go
# Clocks closer than this read as one: Date is whole seconds, servers cache it for a second.
SKEW_NOISE = 3.0
# Answers that mean "not now, try again": rate limited, or a gateway/server briefly down.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A POST is retried only on answers that say the request was refused before any processing.
# A 502/504 may come from a gateway that already forwarded the POST: retrying could create twice.
POST_RETRY_STATUSES = frozenset({429, 503})
# Transport failures before any byte of the request left: safe to retry for every method.
NOTHING_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Transport failures after the request (maybe) reached the server: retried for idempotent calls.
AMBIGUOUS: tuple[type[httpx.TransportError], ...] = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by tries and a total deadline (seconds).

    Retry-After (seconds or an HTTP date) replaces the computed delay; when it would end past
    the deadline the call gives up at once instead of sleeping for nothing.
    """

    max_tries: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    deadline: float = 60.0

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ConfigError(f"retries: at least 1 try is needed, got {self.max_tries}")
        if min(self.base_delay, self.max_delay, self.deadline) < 0:
            raise ConfigError("retries: delays and deadline must not be negative")

    def backoff(self, tries: int, jitter: float) -> float:
        """The delay after `tries` failed tries, for a jitter drawn uniformly from [0, 1)."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (tries - 1))
        return jitter * ceiling


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class Tries:
    """Book-keeping of one call across its tries (for the retry decisions and the message)."""

    method: str
    path: str
    started: float
    count: int = 0
    ambiguous: bool = False  # some try was sent and got no answer
    gave_up: str = ""  # why retrying stopped early, for the message
    rate_waits: int = 0  # tries answered 429: waited for, not counted as failures

    @property
    def failures(self) -> int:
        """Tries that failed, as RetryPolicy.max_tries counts them (429s excluded)."""
        return self.count - self.rate_waits

    def suffix(self) -> str:
        """' (after 5 tries)' and the reason retrying stopped, or '' for a single try."""
        if self.count == 1 and not self.gave_up:
            return ""
        text = f"after {self.count} {'try' if self.count == 1 else 'tries'}"
        return f" ({text}{'; ' + self.gave_up if self.gave_up else ''})"


@dataclass(frozen=True)
class RateHeaders:
    """The three X-RateLimit-* values of one answer; None for a missing or malformed one."""

    limit: int | None
    remaining: int | None
    reset: float | None  # Unix seconds

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateHeaders:
        lowered = {name.lower(): value for name, value in headers.items()}
        return cls(
            _count(lowered.get("x-ratelimit-limit")),
            _count(lowered.get("x-ratelimit-remaining")),
            _unix(lowered.get("x-ratelimit-reset")),
        )

    @property
    def usable(self) -> bool:
        return self.remaining is not None and self.reset is not None


def _count(value: str | None) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _unix(value: str | None) -> float | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _skew(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds our clock is ahead of the server's, from its Date header (None without one; 0
    within SKEW_NOISE): a Reset is the server's Unix time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        server = email.utils.parsedate_to_datetime(lowered.get("date", "")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    skew = now - server
    return skew if abs(skew) > SKEW_NOISE else 0.0


def when_text(unix: float) -> str:
    """A Unix time as the user reads it: `14:05:09 UTC`."""
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S UTC")


class RateBudget:
    """How many requests may still go out before `reset` (Unix seconds), shared by all threads.

    `acquire()` before each send takes one request from the budget, waiting for the reset when
    none is left; `observe()` after each answer corrects the budget from the server's headers.
    """

    def __init__(
        self,
        per_minute: int | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] | None = None,
        window: float = WINDOW,
        max_wait: float = MAX_WAIT,
    ) -> None:
        if per_minute is not None and per_minute < 1:
            raise ConfigError(f"rate limit must be at least 1 request per minute, got {per_minute}")
        self.configured = per_minute
        self.limit: int | None = per_minute
        self.remaining: int | None = per_minute
        self.reset: float | None = None  # set by the first send (local) or the first headers
        self.from_headers = False
        self.blocked_until = 0.0
        self._clock, self._sleep = clock, sleep
        self._notify = notify or (lambda _message: None)
        self._window, self._max_wait = window, max_wait
        self._lock = threading.Lock()
        self._first_answer = threading.Condition(self._lock)
        self._announced: float | None = None  # the reset the last "waiting" line was about
        self._probe_at: float | None = None  # when the first request of a new window left
        self._prober: int | None = None  # the thread whose request goes before any answer
        self._answered = False  # some answer (with headers or not) came back
        # Read from each answer, the skew moved by up to 2 s (Date is whole seconds, and
        # servers cache it for a second): each time it crossed SKEW_NOISE a reset jumped, an
        # answer of the same window read as a new one, and a burst of requests met 429s.
        self._skew: float | None = None

    def acquire(self) -> None:
        """Take one request from the budget, sleeping until the reset when it is spent."""
        while True:
            with self._lock:
                while self._awaiting_first_answer():  # real time: the probe is a real request
                    if not self._first_answer.wait(PROBE_PATIENCE):
                        self._prober = None  # lost, it seems: another goes
                wait = self._take(self._clock())
            if wait is None:
                return
            self._sleep(wait)

    def _take(self, now: float) -> float | None:
        """Seconds to wait, or None after taking one request (called under the lock)."""
        if now < self.blocked_until:  # a 429 said: nobody sends before then
            return self._announce(self.blocked_until - now, self.blocked_until)
        if not self._answered and self.configured is None:
            self._prober = threading.get_ident()  # the first request: the others wait for it
            return None
        if self.remaining is None or (self.limit is None and not self.from_headers):
            return None  # no budget known: nothing to pace
        if self.reset is None or now >= self.reset:
            self._new_window(now)
        assert self.reset is not None and self.remaining is not None
        if self.remaining > 0:
            self.remaining -= 1
            return None
        return self._announce(self.reset - now, self.reset)

    def _awaiting_first_answer(self) -> bool:
        """Before any answer one request goes alone: the first Remaining must count every
        request sent, or those in flight beside it overdraw the window (under the lock)."""
        return not self._answered and self.configured is None and self._prober is not None

    def unanswered(self) -> None:
        """This thread's request got no answer: when it was the probe, another may go."""
        with self._lock:
            if self._prober == threading.get_ident():
                self._probe_at = self._prober = None
                self._first_answer.notify_all()

    def _announce(self, wait: float, until: float) -> float:
        """`wait`, after saying so once per reset (not once per waiting thread)."""
        self._check_wait(wait, until)
        if self._announced != until:
            self._announced = until
            self._notify(rate_limit_wait(wait, until, self._clock))
        return wait

    def _new_window(self, now: float) -> None:
        """The window passed. Our own budget (--rate-limit): the full limit again. The server's:
        one request goes first and its answer's headers say what the new window holds; the
        others look again every PROBE_POLL seconds. A Reset is whole seconds, so waking on
        it may be a moment early: one probe, not a burst, then meets the old window's 429."""
        if self.from_headers:
            probe_out = self._probe_at is not None and now - self._probe_at < PROBE_PATIENCE
            self.remaining, self.reset = (0 if probe_out else 1), now + PROBE_POLL
            if not probe_out:
                self._probe_at, self._prober = now, threading.get_ident()
        else:
            self.remaining, self.reset = self.limit, now + self._window

    def _check_wait(self, wait: float, until: float) -> None:
        if wait > self._max_wait:
            raise ApiError(
                f"rate limit exhausted until {when_text(until)} "
                f"({math.ceil(wait)} s from now): try again then"
            )

    def observe(self, headers: Mapping[str, str], status: int = 200) -> None:
        """Correct the budget from one answer's X-RateLimit-* headers (ignored when absent).
        A 429's are left to exhausted(), which observes and blocks in one step."""
        if status == 429:
            return
        with self._lock:
            self._observe(headers, self._clock())

    def _observe(self, headers: Mapping[str, str], now: float) -> None:
        """observe(), under the lock."""
        if not self._answered:  # the first answer: the others need not wait any more
            self._answered = True
            self._first_answer.notify_all()
        seen = RateHeaders.parse(headers)
        if seen.remaining is None or seen.reset is None:
            return
        if self._skew is None:  # measured once: one clock for every answer's reset (below)
            self._skew = _skew(headers, now)
        reset = seen.reset + (self._skew or 0.0)
        if self.reset is not None and reset < self.reset - 0.5:
            # A late answer from a window before the one known: nothing it says holds now.
            # Taken, it moved the reset back, a window opened that was not there, and the next
            # answer's Remaining counted as a whole new window's: a burst of 429s.
            return
        reset = max(reset, now)  # a reset in the past: the window is over already
        self.from_headers, self._probe_at = True, None
        if seen.limit is not None:
            self.limit = seen.limit
        if self.reset is None or reset > self.reset + 0.5:
            self.remaining = seen.remaining  # a new window
        else:  # the same window: answers arrive out of order, the lowest count is the truth
            self.remaining = min(self.remaining or 0, seen.remaining)
        self.reset = reset

    def exhausted(
        self, headers: Mapping[str, str], retry_after: float | None, *, strict: bool = True
    ) -> None:
        """After a 429: nobody sends until Retry-After (when present), else the reset the
        headers name, else one second. The wait itself happens in acquire(), shared by every
        thread; one past `max_wait` is an ApiError saying when to try again (when `strict`:
        a caller giving up anyway only makes the others wait).

        Observing and blocking under one lock: between the two, the 429's past reset would
        read as a new window, and a thread waking then would send a second probe into it."""
        with self._lock:
            now = self._clock()
            self._observe(headers, now)
            if retry_after is not None:
                until = now + retry_after
            elif self.from_headers and self.reset is not None and self.reset > now:
                until = self.reset
            else:
                until = now + 1.0
            if self.remaining is not None:
                self.remaining = 0
            self.blocked_until = max(self.blocked_until, until)
            if strict:
                self._check_wait(until - now, until)

    @property
    def per_minute(self) -> int | None:
        """Requests allowed per window: from the headers, else --rate-limit, else unknown."""
        with self._lock:
            return self.limit

    def describe(self) -> str:
        """`37/100 left, resets in 12 s` or `no rate-limit headers`, for doctor."""
        with self._lock:
            if not self.from_headers:
                if self.configured:
                    return f"no rate-limit headers; pacing at {self.configured}/min (--rate-limit)"
                return "no rate-limit headers"
            left = "?" if self.remaining is None else str(self.remaining)
            limit = "?" if self.limit is None else str(self.limit)
            seconds = max(0, math.ceil((self.reset or 0) - self._clock()))
            return f"{left}/{limit} left, resets in {seconds} s"


# Requests in flight when neither --parallelism nor a rate limit says otherwise, and the most
# a known budget may earn: a tenth of the per-minute limit, so a burst never spends it all.
AUTO_PARALLELISM = MAX_PARALLELISM = 32


def parallelism_for(explicit: int | None, per_minute: int | None) -> int:
    """--parallelism, else a tenth of the per-minute budget (at most 32), else 32; never more
    than the budget itself allows in one window."""
    if explicit is not None:
        chosen = explicit
    elif per_minute is not None:
        chosen = min(MAX_PARALLELISM, per_minute // 10)
    else:
        chosen = AUTO_PARALLELISM
    return max(1, chosen if per_minute is None else min(chosen, per_minute))


def page_batch(parallelism: int, remaining: int | None, needed: int = 0) -> int:
    """The most list pages to ask for in one round after the first: as many as run in
    parallel, or every page the expected assistants still need (`needed`: the pool still runs
    `parallelism` at a time, each thread taking the next page as it ends, with no wait for a
    whole round), while the budget keeps room (nine tenths of it) for pages that come back
    empty."""
    wanted = max(parallelism, needed)
    room = wanted if remaining is None else remaining // 10
    return max(1, min(wanted, room))
