"""Under KathanClient: sending a request with the least work, on a connection of its own.

Measured on the bench's apply (1,000 PUTs, 32 in flight), the client's CPU per PUT was mostly
httpx's: building the request (merging the base URL and headers again for every request),
cookies, and the connection pool. `Sender` builds the request from parts made once and hands it
to the transport; `Shelf` is that transport.

httpx's own pool is one lock and one list shared by every thread, and each request walks that
list twice under the lock (on send and on close), checking every connection: with 32 threads
the workers of an apply queued on that lock in 46 % of py-spy's samples. Here a request takes a
connection of its own off a shelf (one short lock, no walk) and puts it back when its answer is
closed; the shelf keeps at most `keep` of them open between requests, so later calls (the list
pages, then the PUTs) reuse the connections earlier ones opened.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from kathansync.errors import ApiError

JSON_TYPE = (b"Content-Type", b"application/json")


def encode_json(body: Any, what: str) -> bytes:
    """`body` as httpx 0.28 encodes `json=` (compact, UTF-8), once per call rather than once
    per try; a body JSON cannot carry (NaN) is an ApiError naming `what`: nothing was sent."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:
        raise ApiError(f"cannot send {what}: {exc}") from None


def open_http(
    api_url: str,
    headers: dict[str, str],
    timeout: float,
    pool: int,
    transport: httpx.BaseTransport | None,
) -> tuple[httpx.Client, Sender]:
    """The httpx client of one KathanClient, on a Shelf of at most `pool` idle connections
    unless a test passes its own transport, and the Sender that uses it.

    httpx reads proxies from the environment only when it makes its own transport: with one,
    the Shelf stays out and every request takes httpx's full path, as before."""
    if transport is None and not {"http", "https", "all"} & set(urllib.request.getproxies()):
        transport = Shelf(keep=pool)
    http = httpx.Client(
        base_url=api_url,
        headers=headers,
        timeout=httpx.Timeout(timeout),
        # For proxy transports from the environment: the Shelf keeps its own count.
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        transport=transport,
        follow_redirects=False,  # ours to follow: same origin only (KathanClient._request)
    )
    return http, Sender(http, transport)


class Sender:
    """Sends through `transport` without httpx.Client's per-request work (URL merge, header
    merge, auth and redirect flow, cookie jar) when none of it can change the request: a path
    under the base URL, no cookie received, and `transport` the one every request goes to (no
    proxy from the environment). Anything else goes through `http.request` as before."""

    def __init__(self, http: httpx.Client, transport: httpx.BaseTransport | None) -> None:
        self._http = http
        self._base = str(http.base_url.copy_with(query=None)).rstrip("/") + "/"
        self._headers = list(http.headers.raw)
        self._timeout = http.timeout.as_dict()
        self._direct = None if http.base_url.query else transport

    def send(self, method: str, url: str | httpx.URL, content: bytes | None) -> httpx.Response:
        """One request, its answer read; `url` a path under the base URL, or a whole URL."""
        transport = self._direct
        if transport is None or not isinstance(url, str) or self._http.cookies.jar:
            return self._full(method, url, content)
        headers = self._headers if content is None else [*self._headers, JSON_TYPE]
        request = httpx.Request(
            method,
            self._base + url.lstrip("/"),
            headers=headers,
            content=content,
            extensions={"timeout": self._timeout},
        )
        response = transport.handle_request(request)
        response.request = request
        try:
            response.read()
        except BaseException:
            response.close()
            raise
        if "set-cookie" in response.headers:  # from now on, the cookies go with the full path
            self._http.cookies.extract_cookies(response)
        return response

    def _full(self, method: str, url: str | httpx.URL, content: bytes | None) -> httpx.Response:
        extra = dict([JSON_TYPE]) if content is not None else None
        return self._http.request(method, url, content=content, headers=extra)


class Shelf(httpx.BaseTransport):
    """An httpx transport lending one keep-alive connection (an HTTPTransport of one) per
    request, kept apart by scheme: an https connection is only ever made with a verifying
    SSL context, made once, on the first https request (loading the CAs costs ~20 ms)."""

    def __init__(self, *, keep: int) -> None:
        self._keep = keep
        self._idle: dict[str, list[httpx.HTTPTransport]] = {"http": [], "https": []}
        self._lent: dict[httpx.HTTPTransport, str] = {}
        self._lock = threading.Lock()
        self._verifying: ssl.SSLContext | None = None
        self._plain: ssl.SSLContext | None = None
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        connection = self._take(request.url.scheme)
        try:
            response = connection.handle_request(request)
        except BaseException:
            self._give_back(connection)  # httpcore has closed a connection that failed
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _GiveBack(response.stream, lambda: self._give_back(connection))
        return response

    def _take(self, scheme: str) -> httpx.HTTPTransport:
        with self._lock:
            if self._closed:
                raise RuntimeError("the connections of this client are closed")
            idle = self._idle.setdefault(scheme, [])
            connection = idle.pop() if idle else self._new(scheme)
            self._lent[connection] = scheme
            return connection

    def _new(self, scheme: str) -> httpx.HTTPTransport:
        """One connection's transport (under the lock). Up to 2 connections in it: a caller
        holding two answers open at once waits for neither."""
        if scheme == "https":
            if self._verifying is None:
                self._verifying = httpx.create_ssl_context()
            context = self._verifying
        else:  # never used for plain http; fails closed (no CA loaded) if it ever were
            if self._plain is None:
                self._plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context = self._plain
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
        return httpx.HTTPTransport(verify=context, limits=limits)

    def _give_back(self, connection: httpx.HTTPTransport) -> None:
        with self._lock:
            scheme = self._lent.pop(connection, None)
            if scheme is None:
                return  # already given back (an answer closed twice)
            idle = self._idle[scheme]
            surplus = self._closed or len(idle) >= self._keep
            if not surplus:
                idle.append(connection)
        if surplus:
            connection.close()

    @property
    def open_connections(self) -> int:
        """Connections lent out or kept for the next request."""
        with self._lock:
            return sum(len(idle) for idle in self._idle.values()) + len(self._lent)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for kept in self._idle.values() for c in kept]
            self._idle = {scheme: [] for scheme in self._idle}
        for connection in idle:
            connection.close()


class _GiveBack(httpx.SyncByteStream):
    """An answer's body that returns its connection to the shelf once closed (httpx closes it
    after reading the body, and on every error)."""

    def __init__(self, stream: httpx.SyncByteStream, give_back: Callable[[], None]) -> None:
        self._stream, self._give_back = stream, give_back

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._give_back()
