"""A line announcing a wait that says what is true when it is shown later than it was said.

The early walk's lines are held until the manifests have loaded (early.Held): a "waiting 12 s"
said then and shown seconds later would be stale. A WaitLine is the live line (a str: every
sink shows it as it is) and, through `restated()`, the seconds still left or that it waited.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Wording = Callable[[str], str]  # the seconds, spelt -> the line


class WaitLine(str):
    """`live(seconds)` when said; `restated()`: `live(seconds left)`, or `over(seconds)` once
    the wait has ended."""

    _live: Wording
    _over: Wording
    _spell: Callable[[float], str]
    _wait: float
    _until: float  # on `_clock`
    _clock: Callable[[], float]

    def __new__(
        cls,
        live: Wording,
        over: Wording,
        *,
        wait: float,
        until: float,
        clock: Callable[[], float],
        spell: Callable[[float], str] = lambda seconds: str(math.ceil(seconds)),
    ) -> WaitLine:
        line = super().__new__(cls, live(spell(wait)))
        line._live, line._over, line._spell = live, over, spell
        line._wait, line._until, line._clock = wait, until, clock
        return line

    def restated(self) -> str:
        """The seconds still left, or, once the wait is over, that it waited."""
        left = self._until - self._clock()
        if left > 0:
            return self._live(self._spell(left))
        return self._over(self._spell(self._wait))


def rate_limit_wait(wait: float, until: float, clock: Callable[[], float]) -> WaitLine:
    """`rate limit: waiting N s` (whole seconds, rounded up), said as the budget's wait starts."""
    return WaitLine(
        lambda s: f"rate limit: waiting {s} s",
        lambda s: f"rate limit: waited {s} s",
        wait=wait,
        until=until,
        clock=clock,
    )


def retry_wait(reason: str, count: str, wait: float, clock: Callable[[], float]) -> WaitLine:
    """`HTTP 503, retrying in 1.5 s (2/5)`, said as the backoff starts."""
    return WaitLine(
        lambda s: f"{reason}, retrying in {s} s ({count})",
        lambda s: f"{reason}, retried after {s} s ({count})",
        wait=wait,
        until=clock() + wait,
        clock=clock,
        spell=lambda seconds: f"{seconds:.1f}",
    )
