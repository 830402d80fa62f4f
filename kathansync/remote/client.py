"""FETCH / PUT: KathanClient, one method per endpoint; every assumption listed in docs/api.md.

A request is built as data (method, path, body), then sent through `_send`: the shared
rate-limit budget first, then the request, its same-origin redirects, and retries.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from kathansync import __version__
from kathansync.errors import ApiError, ApiUnreachable, ConfigError
from kathansync.remote import paging, threads, wording
from kathansync.remote.credentials import Credentials, check_api_url
from kathansync.remote.pacing import (
    AMBIGUOUS,
    MAX_PARALLELISM,
    MAX_RATE_WAITS,
    NOTHING_SENT,
    POST_RETRY_STATUSES,
    RETRY_STATUSES,
    RateBudget,
    RetryPolicy,
    Tries,
    page_batch,
    parallelism_for,
    retry_after_seconds,
)
from kathansync.remote.redact import Redactor, redact_json
from kathansync.remote.transport import encode_json, open_http
from kathansync.remote.waitline import retry_wait

REDIRECTS = frozenset({307, 308})  # the two that keep method and body
MAX_REDIRECTS = 5
LIST_SIZE_DEFAULT = paging.LIST_SIZE_DEFAULT  # past twice this many ids, one list walk

T = TypeVar("T")
R = TypeVar("R")


class KathanClient:
    """A Kathan API session: one connection pool shared by every thread, one rate budget."""

    def __init__(
        self,
        api_url: str,
        credentials: Credentials,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        parallelism: int | None = None,  # None: chosen from the rate-limit budget
        rate_limit: int | None = None,  # requests per minute when the API sends no headers
        max_rate_waits: int = MAX_RATE_WAITS,  # 429s one call waits out (doctor: none)
        secrets: Iterable[str] = (),
        log: Callable[[str], None] | None = None,
        notify: Callable[[str], None] | None = None,  # retries and waits, as they happen
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,  # tests: a fake clock advanced by sleep
        wall: Callable[[], float] = time.time,  # Unix seconds, for X-RateLimit-Reset
        jitter: Callable[[], float] = random.random,  # tests: a fixed jitter
    ) -> None:
        check_api_url(api_url)
        if parallelism is not None and parallelism < 1:
            raise ConfigError(f"parallelism must be at least 1, got {parallelism}")
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        self.origin = wording.origin_of(httpx.URL(api_url))
        self.redact = Redactor([credentials.api_key, *secrets])
        self._timeout, self._retry, self._parallelism = timeout, retry or RetryPolicy(), parallelism
        self._max_rate_waits = max_rate_waits
        self._log = log or (lambda _line: None)
        self._notify = notify or (lambda _line: None)
        self._sleep, self._clock, self._jitter = sleep, clock, jitter
        self.budget = RateBudget(rate_limit, clock=wall, sleep=sleep, notify=self._notify)
        self._lock = threading.Lock()
        self._requests_sent = 0
        pool = 2 * max(parallelism or 0, MAX_PARALLELISM)  # room for nested run_concurrently
        headers = {
            "Authorization": f"Bearer {credentials.api_key}",
            "X-User-ID": credentials.user_id,
            "Accept": "application/json",
            "User-Agent": f"kathansync/{__version__}",
        }
        self._http, self._sender = open_http(api_url, headers, timeout, pool, transport)

    # --- the API, one method per (assumed) endpoint -------------------------------------------

    def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        """GET /assistants/{id}: the raw object (documented: api/assistants-get-assistant.md)."""
        path = wording.assistant_path(assistant_id)
        response = self._call("GET", path, assistant_id=assistant_id)
        data = wording.assistant_of(response, "GET", path)
        if str(data["id"]).lower() != assistant_id.lower():
            raise ApiError(
                f"GET {path} answered with assistant {data['id']}, not the one asked for",
                status=response.status_code,
            )
        return data

    def list_assistants(self, expected: int = 0) -> list[dict[str, Any]] | None:
        """GET /assistants, every page (assumed: paged like GET /calls); None when the API
        cannot list full assistants (the caller then fetches one by one). `expected`: how many
        the caller expects at least, to ask for the pages in fewer rounds (paging.walk_pages)."""
        before = self.requests_sent
        listed = paging.walk_pages(
            self.list_page,
            batch=lambda needed: page_batch(self.parallelism, self.budget.remaining, needed),
            run=self.run_abandonable,
            expected=expected,
        )
        if listed is not None:
            sent = self.requests_sent - before
            # Said, not logged: import, prune and adoption are only as good as the list.
            self._notify(f"listed {len(listed)} assistant(s) in {sent} request(s)")
        return listed

    def list_page(self, limit: int, offset: int) -> list[dict[str, Any]] | None:
        """One page of GET /assistants; None (why: in the log) if not full assistants."""
        path = f"/assistants?limit={limit}&offset={offset}"
        response = self._call("GET", path, ok_statuses=frozenset({404, 405}))
        if response.status_code in (404, 405):
            self._log(f"GET /assistants: HTTP {response.status_code}, fetching one by one")
            return None
        data = wording.json_of(response, "GET", "/assistants")
        why = wording.not_a_list_of_assistants(data)
        if why:
            self._log(f"GET /assistants: {why}, fetching one by one")
            return None
        return list(data)

    def fetch_assistants(
        self,
        ids: Sequence[str],
        *,
        listed: Sequence[dict[str, Any]] | None = None,
        on_each: Callable[[], None] | None = None,
    ) -> dict[str, dict[str, Any] | ApiError]:
        """Every id's remote object or the error that stopped it, keyed (and ordered) by id.

        Many ids: one list walk (or `listed`, when the caller has it), then per-id GETs for the
        ids it lacks (an unknown id ends as a 404). Few ids: per-id GETs only (fewer bytes).
        `on_each` is called after each per-id GET (progress)."""
        unique = list(dict.fromkeys(ids))
        if listed is None and len(unique) > 2 * (self._parallelism or LIST_SIZE_DEFAULT):
            try:
                listed = self.list_assistants(expected=len(unique))
            except ApiError as error:
                if isinstance(error, ApiUnreachable) or error.status in (401, 403):
                    return dict.fromkeys(unique, error)  # every per-id GET would fail the same
                self._log(f"{error}; fetching one by one")
                listed = None
        by_id = {str(item.get("id", "")).lower(): item for item in listed or []}
        found = {i: by_id[i.lower()] for i in unique if i.lower() in by_id}
        missing = [i for i in unique if i not in found]

        def get(assistant_id: str) -> dict[str, Any] | ApiError:
            try:
                result: dict[str, Any] | ApiError = self.get_assistant(assistant_id)
            except ApiError as error:
                result = error
            if on_each:
                on_each()
            return result

        fetched = dict(zip(missing, self.run_abandonable(get, missing), strict=True))
        return {i: found[i] if i in found else fetched[i] for i in unique}

    def update_assistant(self, assistant_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /assistants/{id} with `body` as sent; the raw object the server answered."""
        path = wording.assistant_path(assistant_id)
        response = self._call("PUT", path, body=dict(body), assistant_id=assistant_id)
        return wording.assistant_of(response, "PUT", path)

    def create_assistant(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /assistants (assumed: 200/201 with the created object and its id).

        Retried only when nothing was created for sure: connection not made, or a 429/503.
        """
        response = self._call("POST", "/assistants", body=dict(body), idempotent=False)
        try:
            return wording.assistant_of(response, "POST", "/assistants")
        except ApiError as error:
            raise ApiError(
                f"{error.reason}; the assistant may have been created: check before applying again",
                status=error.status,
            ) from None

    def delete_assistant(self, assistant_id: str) -> None:
        """DELETE /assistants/{id} (assumed: 204 or 200)."""
        self._call("DELETE", wording.assistant_path(assistant_id), assistant_id=assistant_id)

    def chat(self, assistant_id: str, text: str, session_id: str | None) -> dict[str, str]:
        """POST /chat (api/chat-chat-with-assistant.md): one turn, no session_id starts one.
        Retried like any POST: a turn sent twice bills a conversation more, or repeats itself."""
        body = {"assistant_id": assistant_id, "input": text, "session_id": session_id}
        sent = self._call("POST", "/chat", body=body, idempotent=False, assistant_id=assistant_id)
        return wording.chat_reply_of(sent)

    def get_protected(self) -> Any:
        """GET /protected (documented: api/authentication.md): proves the credentials."""
        return wording.json_of(self._call("GET", "/protected"), "GET", "/protected")

    def get_openapi(self) -> Any:
        """GET /openapi.json (assumed: FastAPI serves it): the API's own schema."""
        return wording.json_of(self._call("GET", "/openapi.json"), "GET", "/openapi.json")

    # --- concurrency, chosen from the budget --------------------------------------------------

    @property
    def parallelism(self) -> int:
        """Requests in flight at once, chosen from the budget (see pacing.parallelism_for)."""
        return parallelism_for(self._parallelism, self.budget.per_minute)

    def run_concurrently(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """fn over items on at most `parallelism` threads; results in input order. An exception
        from fn (the first in input order) propagates: callers wanting per-item errors catch
        them inside fn. For writes: on Ctrl-C, the requests already sent are waited for."""
        # Where writes and reads part. A PUT/POST/DELETE on the wire may land: its answer is
        # what an interrupted apply records in the backup and state (commands/interrupt.py),
        # so it is waited for. Reads go through run_abandonable, which waits for nothing.
        return threads.run_settling(fn, items, self.parallelism, waiting=self._settling)

    def _settling(self, running: int) -> None:
        self._notify(
            f"interrupted: waiting for the answer to {running} request(s) already sent"
            " (Ctrl-C again to stop waiting)"
        )

    def run_abandonable(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """run_concurrently for requests whose outcome nobody records (GETs, chat turns): on
        Ctrl-C control comes back at once, no item starts after it, and the requests in flight
        are abandoned on daemon threads, never joined (threads.run_abandoning)."""
        return threads.run_abandoning(fn, items, self.parallelism)

    @property
    def requests_sent(self) -> int:
        """HTTP requests attempted so far, retries and redirects included."""
        with self._lock:
            return self._requests_sent

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Values (interpolated ones) that must never appear in a message, whatever the form."""
        self.redact.add(secrets)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KathanClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    # --- sending, retrying, and turning failures into one-line errors -------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        idempotent: bool = True,
        assistant_id: str | None = None,
        ok_statuses: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send with retries; a 2xx (or an ok_statuses) answer, else an ApiError."""
        content = None if body is None else encode_json(body, f"{method} {path}")
        tries = Tries(method, path, started=self._clock())
        response = self._send(tries, content, idempotent)
        status = response.status_code
        if status < 300 or status in ok_statuses:
            return response
        if status == 404 and method == "DELETE" and tries.ambiguous:
            return response  # an earlier unanswered try deleted it: the goal is reached
        raise self._http_error(response, tries, assistant_id)

    def _send(self, tries: Tries, content: bytes | None, idempotent: bool) -> httpx.Response:
        retry_statuses = RETRY_STATUSES if idempotent else POST_RETRY_STATUSES
        while True:
            tries.count += 1
            try:
                response = self._request(tries, content)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, NOTHING_SENT)
                tries.ambiguous |= sent
                retryable = isinstance(exc, NOTHING_SENT + AMBIGUOUS) and (idempotent or not sent)
                wait = self._next_wait(tries, None) if retryable else None
                if wait is None:
                    raise self._unreachable(exc, tries, sent, idempotent) from None
                reason = wording.describe_transport(exc, self._timeout)
            else:
                if response.status_code not in retry_statuses:
                    return response
                wait = self._answer_wait(response, tries)
                if wait is None:
                    return response
                reason = f"HTTP {response.status_code}"
                response.close()
            when = f"in {wait:.1f} s" if wait > 0 else "after the rate-limit wait"
            self._log(
                f"retrying {tries.method} {tries.path} {when} "
                f"({reason}, try {tries.count + 1}/{self._retry.max_tries})"
            )
            if wait > 0:  # a 429's wait is the budget's: announced and slept in acquire()
                count = f"{tries.count + 1}/{self._retry.max_tries}"
                self._notify(retry_wait(reason, count, wait, self._clock))
                self._sleep(wait)

    def _request(self, tries: Tries, content: bytes | None) -> httpx.Response:
        """One try: wait for the budget, send, follow same-origin 307/308 with the same body."""
        url: str | httpx.URL = tries.path
        for _hop in range(MAX_REDIRECTS + 1):
            waiting_since = self._clock()
            self.budget.acquire()  # the budget's wait is no retrying: off the retry deadline
            tries.started += self._clock() - waiting_since
            with self._lock:
                self._requests_sent += 1
            try:
                response = self._sender.send(tries.method, url, content)
            except httpx.TransportError:
                self.budget.unanswered()
                raise  # the caller decides whether to retry
            except httpx.HTTPError as exc:  # an answer that cannot be read (bad encoding, ...)
                self.budget.unanswered()  # no headers read: if this was the probe, another goes
                raise ApiError(
                    self.redact(f"unreadable answer to {tries.method} {tries.path}: {exc}")
                ) from None
            self.budget.observe(response.headers, response.status_code)
            if response.status_code not in REDIRECTS:
                return response
            url = self._redirect_target(response, tries)
            response.close()
        raise ApiError(f"{tries.method} {tries.path}: more than {MAX_REDIRECTS} redirects")

    def _redirect_target(self, response: httpx.Response, tries: Tries) -> httpx.URL:
        """Where a 307/308 points, when it is the same scheme, host and port; else an error
        (the API key would go with the request)."""
        target = response.request.url.join(response.headers.get("Location", ""))
        if wording.origin_of(target) != wording.origin_of(response.request.url):
            text = wording.redirect_refused(response.status_code, tries.method, tries.path, target)
            raise ApiError(self.redact(text), status=response.status_code)
        return target

    def _answer_wait(self, response: httpx.Response, tries: Tries) -> float | None:
        """The delay before retrying a retryable answer, or None to give up with it."""
        hint = retry_after_seconds(response.headers.get("Retry-After"))
        if response.status_code != 429:
            return self._next_wait(tries, hint)
        if tries.rate_waits >= self._max_rate_waits:
            tries.gave_up = f"rate limited {n} times in a row" if (n := tries.rate_waits) else ""
            self.budget.exhausted(response.headers, hint, strict=False)  # the others still wait
            return None
        tries.rate_waits += 1
        try:  # every thread waits for the reset; past the limit of patience, an error
            self.budget.exhausted(response.headers, hint)
        except ApiError as error:
            raise ApiError(
                f"HTTP 429 from {tries.method} {tries.path}: {error.reason}", status=429
            ) from None
        return 0.0

    def _next_wait(self, tries: Tries, retry_after: float | None) -> float | None:
        """The delay before the next try, or None (and why in tries.gave_up) to stop."""
        policy = self._retry
        if tries.failures >= policy.max_tries:
            return None
        wait = policy.backoff(tries.count, self._jitter()) if retry_after is None else retry_after
        if self._clock() - tries.started + wait > policy.deadline:
            asked = "the server asked to wait " if retry_after is not None else "next retry in "
            tries.gave_up = f"{asked}{wait:.1f} s, past the {policy.deadline:g} s retry deadline"
            return None
        return wait

    def _http_error(
        self, response: httpx.Response, tries: Tries, assistant_id: str | None
    ) -> ApiError:
        detail = redact_json(wording.detail_of(response), self.redact)  # before any cut
        text = wording.http_error_text(
            response.status_code, detail, response.reason_phrase, assistant_id
        )
        message = f"HTTP {response.status_code} from {tries.method} {tries.path}: {text}"
        return ApiError(
            self.redact(message + tries.suffix()), status=response.status_code, detail=detail
        )

    def _unreachable(
        self, exc: httpx.TransportError, tries: Tries, sent: bool, idempotent: bool
    ) -> ApiUnreachable:
        where = (self._timeout, self.origin, tries.method, tries.path)
        message = wording.unreachable_text(exc, *where, sent=sent, idempotent=idempotent)
        return ApiUnreachable(self.redact(message + tries.suffix()))
