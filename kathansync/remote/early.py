"""GET /assistants in the background while the manifests load: the list does not depend on them.

The walk is the client's own (`list_assistants`), started early in a thread of its own; the
first call of `list_assistants` on the main thread takes its result (or raises its error)
instead of walking again, so every caller reads it exactly as a walk made then. Nothing the
walk says (retries, rate-limit waits, "listed N assistant(s)") is shown before that call: the
lines are held, then said in order; a run that never takes the list (its manifests did not
load) says none of them. A walk not taken is stopped before its next request, never waited
for: a manifest error is shown at once, whatever the API is doing.

Memory: a page read while the manifests load is kept as received, compressed (zlib, outside
the GIL), and read again when taken, so that the list and loading's own peak do not add up
(at 10,000 assistants: under 1 MB beside the loader's peak instead of 50 MB of objects).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kathansync.errors import ApiError
from kathansync.remote.paging import Page, Stopped, read_json
from kathansync.remote.redact import redact_json

if TYPE_CHECKING:
    from kathansync.remote.client import KathanClient

Listed = list[dict[str, Any]] | None


class Held:
    """A line sink that holds its lines until released, then passes them (and later ones) on."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._held: list[str] | None = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(line)
                return
        self._say(line)

    def release(self) -> None:
        with self._lock:
            lines, self._held = self._held or [], None
        for line in lines:
            self._say(line)

    def drop(self) -> None:
        """Forget what was held, and hold whatever comes later: nobody will read it."""
        with self._lock:
            self._held = []


class Pages:
    """The walk's pages: what walk_pages sees is each item's id and where it is; the items
    themselves are kept by page: as received (compressed) until the list is taken, as read
    after."""

    def __init__(self, client: KathanClient, stop: threading.Event) -> None:
        self._client, self._stop = client, stop
        self.taking = threading.Event()
        self._received: dict[int, bytes] = {}
        self._read: dict[int, Page] = {}

    def fetch(self, limit: int, offset: int) -> Page | None:
        """One page for walk_pages (a FetchPage): `{"id", "at"}` per item."""
        if self._stop.is_set():
            raise Stopped
        answer = self._client.list_page_read(limit, offset)
        if answer is None:
            return None
        content, items = answer
        if self.taking.is_set():
            self._read[offset] = items
        else:
            self._received[offset] = zlib.compress(content, 1)
        return [{"id": item.get("id", ""), "at": (offset, i)} for i, item in enumerate(items)]

    def items(self, walked: Page) -> Page:
        """The items `walked` points at, in its order; each page read at most once more."""
        pages: dict[int, Page] = {}

        def page(offset: int) -> Page:
            if offset not in pages:
                received = self._received.pop(offset, None)
                pages[offset] = (  # read as list_page_read read it
                    self._read.pop(offset)
                    if received is None
                    else read_json(zlib.decompress(received))
                )
            return pages[offset]

        return [page(offset)[i] for offset, i in (stub["at"] for stub in walked)]


class EarlyList:
    """One walk of GET /assistants on a thread of its own, offered to `client.list_assistants`."""

    def __init__(self, client: KathanClient, held: tuple[Held, ...], stop: threading.Event) -> None:
        self.client = client
        self._held = held
        self._stop = stop  # set by close(); the client's sleeps end (paging.Stopped) when set
        self._pages = Pages(client, stop)
        self._lock = threading.Lock()
        self._finished = self._closing = False
        self._listed: Listed = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._walk, name="kathansync-list", daemon=True)

    def start(self) -> EarlyList:
        self._thread.start()
        self.client.early_list = self.take
        return self

    def take(self) -> Listed:
        """The walk's list (or its error), its held lines said first, in order."""
        self._pages.taking.set()  # loading is over: pages are kept as read from now on
        for sink in self._held:
            sink.release()  # what the walk says from now on is said as it happens
        self._thread.join()
        if self._error is not None:
            if isinstance(self._error, ApiError):
                self._redact(self._error)
            raise self._error
        return None if self._listed is None else self._pages.items(self._listed)

    def _redact(self, error: ApiError) -> None:
        # Secrets learned from the manifests after the walk started are scrubbed too.
        error.reason = self.client.redact(error.reason)
        error.detail = redact_json(error.detail, self.client.redact)

    def close(self) -> None:
        """Stop the walk (if it still runs) and close the client, now or when the walk ends."""
        self.client.early_list = None
        self._stop.set()
        for sink in self._held:
            sink.drop()
        with self._lock:
            self._closing = True
            finished = self._finished
        if finished:
            self.client.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _walk(self) -> None:
        try:
            self._listed = self.client.list_assistants(fetch=self._pages.fetch)
        except BaseException as error:  # taken by take(), on the main thread
            self._error = error
        finally:
            with self._lock:
                self._finished = True
                closing = self._closing
            if closing:
                self.client.close()
