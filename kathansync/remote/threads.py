"""A function over items on threads, results in input order: writes wait for what is in flight,
reads (and anything else whose outcome nobody records) abandon it.

ThreadPoolExecutor joins its workers when its `with` block ends, and concurrent.futures' atexit
hook joins every executor's workers again when the process exits. A Ctrl-C during a read would
then end the run only once every request in flight had its answer (up to the timeout), and a
list walk nobody reads would hold a failed run's exit the same way. `run_abandoning` runs on
daemon threads instead: on Ctrl-C the waiting thread leaves at once, no item starts after it,
and a thread still waiting on its socket ends with its request, or with the process.
`run_settling` shares their bookkeeping (`_Work`) on threads that are not daemons: after an
exception it waits for every item started, and the process's exit waits for them too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_settling(
    fn: Callable[[T], R],
    items: Sequence[T],
    parallelism: int,
    *,
    waiting: Callable[[int], None] | None = None,
) -> list[R]:
    """fn over items on at most `parallelism` threads; results in input order. An exception
    from fn (the first in input order) propagates once no item starts any more; on any
    exception, Ctrl-C included, every item already started is waited for first. On Ctrl-C,
    `waiting` hears how many that is (when any): the user is not left at a silent prompt."""
    if not items:
        return []
    # Our own threads, not ThreadPoolExecutor's: a Ctrl-C while it started a worker (inside
    # submit) left that worker out of the ones its shutdown joins, and its write unwaited. And
    # a lone item runs on a thread too: on the caller's, a Ctrl-C would cut its request off
    # mid-flight, a write that landed then unrecorded (one change to apply, --parallelism 1).
    workers = max(1, min(parallelism, len(items)))
    # A second Ctrl-C ends the settling wait: the interrupt report names the rest.
    return _run(_Work(fn, items), workers, "kathansync-write", False, lambda w: w.settle(waiting))


def run_abandoning(
    fn: Callable[[T], R], items: Sequence[T], parallelism: int, *, name: str = "kathansync-read"
) -> list[R]:
    """fn over items on at most `parallelism` daemon threads; results in input order.

    Items start in input order, and none starts once the run is stopped. Ctrl-C (an
    exception in the waiting thread) is raised at once: the items still running are
    abandoned, never joined. An error from fn (the first in input order, as run_settling
    raises) is raised once every item started has ended: abandoned, a read still retrying
    would speak and spend the rate budget while the caller moved on (to per-id GETs)."""
    workers = min(parallelism, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    # On Ctrl-C no item starts from now on (each thread looks before its next), none is waited.
    return _run(_Work(fn, items), workers, name, True, lambda w: w.stop.set())


def _run(
    work: _Work[T, R],
    workers: int,
    name: str,
    daemon: bool,
    on_interrupt: Callable[[_Work[T, R]], None],
) -> list[R]:
    """`work` on `workers` threads, its results in input order. An error from an item is
    raised once every item started has ended (none starts after it); on Ctrl-C,
    `on_interrupt` settles or abandons what is running."""
    try:
        for _ in range(workers):
            threading.Thread(target=work.run, name=name, daemon=daemon).start()
        return work.results()
    except KeyboardInterrupt:
        on_interrupt(work)
        raise
    except BaseException:
        work.settle()
        raise


class _Work(Generic[T, R]):
    """The items of one run, shared by its threads: the next one to start, and what
    each that ended returned or raised."""

    def __init__(self, fn: Callable[[T], R], items: Sequence[T]) -> None:
        self._fn, self._items = fn, items
        self.stop = threading.Event()
        self._changed = threading.Condition()
        self._next = 0  # the next item to start
        self._ended = [False] * len(items)
        self._prefix = 0  # items[:prefix] have all ended
        self._running = 0  # items started and not ended
        self._values: list[Any] = [None] * len(items)
        self._errors: dict[int, BaseException] = {}

    def run(self) -> None:
        """One thread's loop: the next item, until none is left or the run is stopped."""
        while True:
            with self._changed:
                if self.stop.is_set() or self._errors or self._next == len(self._items):
                    return
                index, self._next = self._next, self._next + 1
                self._running += 1
            value: Any = None
            error: BaseException | None = None
            try:
                value = self._fn(self._items[index])
            except BaseException as raised:  # the waiting thread's to raise
                error = raised
            with self._changed:
                self._values[index] = value
                if error is not None:
                    self._errors[index] = error
                self._ended[index] = True
                self._running -= 1
                while self._prefix < len(self._items) and self._ended[self._prefix]:
                    self._prefix += 1
                self._changed.notify_all()

    def results(self) -> list[Any]:
        """Every item's value once all have ended, or the first error in input order once
        the items before it have ended (no later item can change which error that is)."""
        with self._changed:
            while True:
                first = min(self._errors, default=len(self._items))
                if self._prefix >= first:
                    break
                self._changed.wait()  # Ctrl-C lands here: the lock is taken back, then raised
            if self._errors:
                raise self._errors[first]
            return list(self._values)

    def settle(self, waiting: Callable[[int], None] | None = None) -> None:
        """Stop the run, then wait until every item already started has ended (`waiting`
        hears how many, when any)."""
        self.stop.set()  # seen under the lock: once it is taken here, no item starts
        with self._changed:
            if self._running and waiting is not None:
                waiting(self._running)
            while self._running:
                self._changed.wait()
