"""GET /assistants in the background while the manifests load: the list does not depend on them.

`EarlyClient` is a KathanClient whose walk of the list starts at once, on a thread of its
own; its first `list_assistants()` takes that walk's result (or raises its error) instead of
walking again, so every caller reads it exactly as a walk made then. Nothing the walk says
(retries, rate-limit waits, "listed N assistant(s)") is shown before the list is awaited: the
lines are held, then said in order; a run that never awaits it (its manifests did not load)
says none of them. A walk not awaited is stopped before its next request (and the client's
sleeps end), never waited for: a manifest error is shown at once, whatever the API does.
While the main thread waits for the last pages, it can put the wait to use (`meanwhile`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from kathansync.errors import ApiError
from kathansync.remote.client import KathanClient
from kathansync.remote.pacing import page_batch
from kathansync.remote.paging import Page, Stopped, walk_pages
from kathansync.remote.redact import redact_json

Listed = list[dict[str, Any]] | None


@runtime_checkable
class Restatable(Protocol):
    """A line that can say what is true when it is shown later than it was said (a wait
    announced as it began: waitline.WaitLine)."""

    def restated(self) -> str: ...


class Held:
    """A line sink that holds its lines until released, then passes them (and later ones) on.
    A sink made `beside` another shares its hold: the remarks and the log lines of a walk are
    said in the order they came, not all of one sink's first. A held line that is Restatable
    is said as restated when released; a line said live is passed on as it is."""

    def __init__(self, say: Callable[[str], None], *, beside: Held | None = None) -> None:
        self._say = say
        self._hold: _Hold = beside._hold if beside is not None else _Hold()

    def __call__(self, line: str) -> None:
        hold = self._hold
        with hold.lock:  # said under the lock: never before the held lines still being said
            if hold.lines is not None:
                hold.lines.append((self._say, line))
            else:
                self._say(line)

    def release(self) -> None:
        hold = self._hold
        with hold.lock:
            lines, hold.lines = hold.lines or [], None
            for say, line in lines:
                say(line.restated() if isinstance(line, Restatable) else line)

    def drop(self) -> None:
        """Forget what was held, and hold whatever comes later: nobody will read it."""
        with self._hold.lock:
            self._hold.lines = []


class _Hold:
    """The lines held by one or more Held sinks, each with the sink that says it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: list[tuple[Callable[[str], None], str]] | None = []


class EarlyClient(KathanClient):
    """A client walking GET /assistants from the start; see the module's docstring.

    `info` and `log` must be Held sinks (they are the client's notify and log); `stop`, when
    set, ends the walk: the client is made with a sleep that raises paging.Stopped then.
    """

    def __init__(
        self, *, info: Held, log: Held, stop: threading.Event, expected: int = 0, **options: Any
    ) -> None:
        super().__init__(notify=info, log=log, **options)
        self._held, self._stop, self._expected = (info, log), stop, expected
        self._arrived: queue.SimpleQueue[Page | None] = queue.SimpleQueue()
        self._taken = self._drained = self._finished = self._closing = False
        self._end = threading.Lock()
        self._listed: Listed = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._walk, name="kathansync-list", daemon=True)
        self._thread.start()

    def list_assistants(self, expected: int = 0) -> Listed:
        """The early walk's list (or its error), once; later calls walk again."""
        if self._taken:
            return super().list_assistants(expected)
        self._taken = self._drained = True
        self._release()
        self._thread.join()
        if self._error is not None:
            if isinstance(self._error, ApiError):  # secrets learned since it was made, too
                self._error.reason = self.redact(self._error.reason)
                self._error.detail = redact_json(self._error.detail, self.redact)
            raise self._error
        return self._listed

    def meanwhile(self, each: Callable[[Page], None]) -> None:
        """Until the walk ends, `each` page's items as they arrive, on this thread: the wait
        for the list, put to use. Once; nothing once the list was taken."""
        self._release()
        while not self._drained and (page := self._arrived.get()) is not None:
            each(page)
        self._drained = True

    def close(self) -> None:
        """Stop the walk if it still runs; close the connections, now or when it has ended."""
        self._stop.set()
        for sink in self._held:
            sink.drop()  # lines held are nobody's now (released ones were said)
        with self._end:
            self._closing = True
            finished = self._finished
        if finished:
            super().close()

    def _release(self) -> None:
        for sink in self._held:
            sink.release()  # what the walk says from now on is said as it happens

    def _page(self, limit: int, offset: int) -> Page | None:
        if self._stop.is_set():
            raise Stopped
        page = self.list_page(limit, offset)
        if page is not None:
            self._arrived.put(page)
        return page

    def _walk(self) -> None:
        try:  # as KathanClient.list_assistants walks, through _page
            before = self.requests_sent
            listed = walk_pages(
                self._page,
                batch=lambda needed: page_batch(self.parallelism, self.budget.remaining, needed),
                # Daemon threads, never joined: a walk nobody reads holds no exit (threads.py).
                run=self.run_abandonable,
                expected=self._expected,
            )
            if listed is not None:
                sent = self.requests_sent - before
                self._held[0](f"listed {len(listed)} assistant(s) in {sent} request(s)")
            self._listed = listed
        except BaseException as error:  # raised by list_assistants(), on the main thread
            self._error = error
        finally:
            self._arrived.put(None)
            with self._end:
                self._finished = True
                closing = self._closing
            if closing:
                super().close()
