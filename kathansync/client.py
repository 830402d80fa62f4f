"""FETCH / PUT: the only module that speaks HTTP to the Kathan API (retries, parallelism, and
every assumed endpoint, listed in docs/api.md)."""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from kathansync import __version__
from kathansync.errors import ApiError, ApiUnreachable, ConfigError
from kathansync.models import Assistant

DEFAULT_API_URL = "https://api.staging.kathan.tech"  # the base URL in the seed
API_KEY_ENV, USER_ID_ENV, API_URL_ENV = "KATHAN_API_KEY", "KATHAN_USER_ID", "KATHAN_API_URL"

# Answers that mean "not now, try again": rate limited, or a gateway/server briefly down.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A POST is retried only on answers that say the request was refused before any processing.
# A 502/504 may come from a gateway that already forwarded the POST: retrying could create twice.
POST_RETRY_STATUSES = frozenset({429, 503})
# Transport failures before any byte of the request left: safe to retry for every method.
_NOTHING_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Transport failures after the request (maybe) reached the server: retried for idempotent calls.
_AMBIGUOUS: tuple[type[httpx.TransportError], ...] = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, repr=False)
class Credentials:
    """The API key and user id sent with every request."""

    api_key: str
    user_id: str

    def __repr__(self) -> str:
        return f"Credentials(api_key='[secure]', user_id={self.user_id!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        """Read both variables; a missing or unusable one is a ConfigError naming it."""
        values = {name: environ.get(name, "").strip() for name in (API_KEY_ENV, USER_ID_ENV)}
        missing = [name for name, value in values.items() if not value]
        if missing:
            variables = " and ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            raise ConfigError(
                f"missing environment variable{plural} {variables}: set "
                f"{'them' if plural else 'it'} to your Kathan API credentials"
                " (nothing was sent)"
            )
        for name, value in values.items():
            # httpx would fail later with an encoding error that quotes the value: fail here.
            if not value.isascii() or not value.isprintable():
                raise ConfigError(f"{name} contains characters that cannot be sent in a header")
        return cls(api_key=values[API_KEY_ENV], user_id=values[USER_ID_ENV])


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
class _Tries:
    """Book-keeping of one call across its tries."""

    method: str
    path: str
    started: float
    count: int = 0
    ambiguous: bool = False  # some try was sent and got no answer
    gave_up: str = ""  # why retrying stopped early, for the message

    def suffix(self) -> str:
        """' (after 5 tries)' and the reason retrying stopped, or '' for a single try."""
        if self.count == 1 and not self.gave_up:
            return ""
        text = f"after {self.count} {'try' if self.count == 1 else 'tries'}"
        return f" ({text}{'; ' + self.gave_up if self.gave_up else ''})"


class KathanClient:
    """A Kathan API session: one connection pool shared by up to `parallelism` threads."""

    def __init__(
        self,
        api_url: str,
        credentials: Credentials,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),  # frozen, so sharing the default is safe
        parallelism: int = 8,
        log: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,  # tests: a fake clock advanced by sleep
        jitter: Callable[[], float] = random.random,  # tests: a fixed jitter
    ) -> None:
        url = httpx.URL(api_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"API URL must be http(s)://host[/path], got {api_url!r}")
        if parallelism < 1:
            raise ConfigError(f"parallelism must be at least 1, got {parallelism}")
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        # Shown in messages: scheme, host and port only (no userinfo, which could be secret).
        self.origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        self._key = credentials.api_key
        self._timeout = timeout
        self._retry = retry
        self._parallelism = parallelism
        self._log = log or (lambda _line: None)
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._requests_sent = 0
        pool = max(2 * parallelism, 10)  # room for nested run_concurrently calls
        self._http = httpx.Client(
            base_url=api_url,
            headers={
                "Authorization": f"Bearer {credentials.api_key}",
                "X-User-ID": credentials.user_id,
                "Accept": "application/json",
                "User-Agent": f"kathansync/{__version__}",
            },
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            transport=transport,
        )

    # --- the API, one method per (assumed) endpoint -------------------------------------------

    def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        """GET /assistants/{id}: the raw object (assumed: same shape as the PUT response)."""
        path = _assistant_path(assistant_id)
        response = self._call("GET", path, assistant_id=assistant_id)
        data = self._assistant(response, "GET", path)
        if str(data["id"]).lower() != assistant_id.lower():
            raise ApiError(
                f"GET {path} answered with assistant {data['id']}, not the one asked for",
                status=response.status_code,
            )
        return data

    def list_assistants(self) -> list[dict[str, Any]] | None:
        """GET /assistants (assumed: a JSON array of full objects); None when not supported."""
        response = self._call("GET", "/assistants", ok_statuses=frozenset({404, 405}))
        if response.status_code in (404, 405):
            self._log(f"GET /assistants: HTTP {response.status_code}, fetching one by one")
            return None
        data = _json(response, "GET", "/assistants")
        if not isinstance(data, list):
            self._log("GET /assistants: not a JSON array, fetching one by one")
            return None
        try:
            for item in data:
                Assistant.model_validate(item)
        except ValidationError:
            self._log("GET /assistants: items are not full assistants, fetching one by one")
            return None
        return data

    def fetch_assistants(
        self,
        ids: Sequence[str],
        *,
        listed: Sequence[dict[str, Any]] | None = None,
        on_each: Callable[[], None] | None = None,
    ) -> dict[str, dict[str, Any] | ApiError]:
        """Every id's remote object or the error that stopped it, keyed (and ordered) by id.

        Many ids: one list request, then per-id GETs only for the ids it lacks (so an unknown id
        still ends as a 404 ApiError). Few ids: per-id GETs only, which is fewer bytes. A list
        the caller already has (`listed`) is used instead of asking again. `on_each` is called
        after each per-id GET (progress).
        """
        unique = list(dict.fromkeys(ids))
        if listed is None and len(unique) > 2 * self._parallelism:
            try:
                listed = self.list_assistants()
            except ApiError as error:
                if isinstance(error, ApiUnreachable) or error.status in (401, 403):
                    return dict.fromkeys(unique, error)  # every per-id GET would fail the same
                self._log(f"{error}; fetching one by one")
                listed = None
        by_id = {str(item.get("id", "")).lower(): item for item in listed or []}
        found = {i: by_id[i.lower()] for i in unique if i.lower() in by_id}
        missing = [i for i in unique if i not in found]

        def get(assistant_id: str) -> dict[str, Any] | ApiError:
            result = self._get_or_error(assistant_id)
            if on_each:
                on_each()
            return result

        results = self.run_concurrently(get, missing)
        fetched = dict(zip(missing, results, strict=True))
        return {i: found[i] if i in found else fetched[i] for i in unique}

    def update_assistant(self, assistant_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /assistants/{id} with `body` as sent; the raw object the server answered."""
        path = _assistant_path(assistant_id)
        response = self._call("PUT", path, body=dict(body), assistant_id=assistant_id)
        return self._assistant(response, "PUT", path)

    def create_assistant(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /assistants (assumed: 200/201 with the created object and its id).

        Retried only when nothing was created for sure: connection not made, or a 429/503.
        """
        response = self._call("POST", "/assistants", body=dict(body), idempotent=False)
        try:
            return self._assistant(response, "POST", "/assistants")
        except ApiError as error:
            raise ApiError(
                f"{error.reason}; the assistant may have been created: check before applying again",
                status=error.status,
            ) from None

    def delete_assistant(self, assistant_id: str) -> None:
        """DELETE /assistants/{id} (assumed: 204 or 200)."""
        self._call("DELETE", _assistant_path(assistant_id), assistant_id=assistant_id)

    def chat(self, assistant_id: str, text: str, session_id: str | None) -> dict[str, str]:
        """POST /chat: one turn of a conversation; `{"output", "session_id", "output_type"}`.

        No session_id starts a new conversation; the one answered continues it. Retried like a
        read: a turn the server may see twice after a lost answer costs a test less than a run
        lost to a network hiccup.
        """
        body = {"assistant_id": assistant_id, "input": text, "session_id": session_id}
        response = self._call("POST", "/chat", body=body, assistant_id=assistant_id)
        data = _json(response, "POST", "/chat")
        fields = ("output", "session_id")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in fields):
            raise ApiError(
                f"HTTP {response.status_code} from POST /chat: the answer is not a chat reply"
                " (expected string output and session_id); is the API URL right?",
                status=response.status_code,
            )
        output_type = data.get("output_type")
        return {
            "output": data["output"],
            "session_id": data["session_id"],
            "output_type": output_type if isinstance(output_type, str) else "",
        }

    def run_concurrently(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """fn over items on at most `parallelism` threads; results in input order.

        An exception from fn propagates (the first in input order) after pending items are
        cancelled: callers that want per-item errors catch them inside fn.
        """
        if self._parallelism == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        workers = min(self._parallelism, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kathansync") as pool:
            futures = [pool.submit(fn, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    @property
    def requests_sent(self) -> int:
        """HTTP requests attempted so far, retries included."""
        with self._lock:
            return self._requests_sent

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KathanClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- sending, retrying, and turning failures into one-line errors -------------------------

    def _get_or_error(self, assistant_id: str) -> dict[str, Any] | ApiError:
        try:
            return self.get_assistant(assistant_id)
        except ApiError as error:
            return error

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
        tries = _Tries(method, path, started=self._clock())
        response = self._send(tries, body, idempotent)
        status = response.status_code
        if status < 300 or status in ok_statuses:
            return response
        if status == 404 and method == "DELETE" and tries.ambiguous:
            return response  # an earlier unanswered try deleted it: the goal is reached
        raise self._http_error(response, tries, assistant_id)

    def _send(self, tries: _Tries, body: dict[str, Any] | None, idempotent: bool) -> httpx.Response:
        retry_statuses = RETRY_STATUSES if idempotent else POST_RETRY_STATUSES
        while True:
            tries.count += 1
            with self._lock:
                self._requests_sent += 1
            try:
                response = self._http.request(tries.method, tries.path, json=body)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, _NOTHING_SENT)
                tries.ambiguous |= sent
                retryable = isinstance(exc, _NOTHING_SENT + _AMBIGUOUS) and (idempotent or not sent)
                wait = self._next_wait(tries, None) if retryable else None
                if wait is None:
                    raise self._unreachable(exc, tries, sent, idempotent) from None
                reason = _describe(exc, self._timeout)
            except httpx.HTTPError as exc:  # an answer that cannot be read (bad encoding, ...)
                raise ApiError(
                    f"unreadable answer to {tries.method} {tries.path} from {self.origin}: {exc}"
                ) from None
            except ValueError as exc:  # a body JSON cannot carry (NaN): nothing was sent
                raise ApiError(f"cannot send {tries.method} {tries.path}: {exc}") from None
            else:
                if response.status_code not in retry_statuses:
                    return response
                hint = retry_after_seconds(response.headers.get("Retry-After"))
                wait = self._next_wait(tries, hint)
                if wait is None:
                    return response
                reason = f"HTTP {response.status_code}"
                response.close()
            self._log(
                f"retrying {tries.method} {tries.path} in {wait:.1f} s "
                f"({reason}, try {tries.count + 1}/{self._retry.max_tries})"
            )
            self._sleep(wait)

    def _next_wait(self, tries: _Tries, retry_after: float | None) -> float | None:
        """The delay before the next try, or None (and why in tries.gave_up) to stop."""
        policy = self._retry
        if tries.count >= policy.max_tries:
            return None
        wait = policy.backoff(tries.count, self._jitter()) if retry_after is None else retry_after
        if self._clock() - tries.started + wait > policy.deadline:
            asked = "the server asked to wait " if retry_after is not None else "next retry in "
            tries.gave_up = f"{asked}{wait:.1f} s, past the {policy.deadline:g} s retry deadline"
            return None
        return wait

    def _http_error(
        self, response: httpx.Response, tries: _Tries, assistant_id: str | None
    ) -> ApiError:
        status = response.status_code
        detail = _detail(response)
        text = _render_detail(detail) or response.reason_phrase or "error"
        if status == 401:
            text += f" — check {API_KEY_ENV} and {USER_ID_ENV}"
        elif status == 403:
            text += f" — {USER_ID_ENV} is not allowed to do this"
        elif status == 404 and assistant_id is not None:
            text = f"assistant {assistant_id} not found"
        message = f"HTTP {status} from {tries.method} {tries.path}: {text}{tries.suffix()}"
        return ApiError(self._redact(message), status=status, detail=detail)

    def _unreachable(
        self, exc: httpx.TransportError, tries: _Tries, sent: bool, idempotent: bool
    ) -> ApiUnreachable:
        reason = _describe(exc, self._timeout)
        if sent:
            message = f"no answer from {self.origin} to {tries.method} {tries.path}: {reason}"
        else:
            message = f"cannot reach {self.origin}: {reason}"
        message += tries.suffix()
        if sent and not idempotent:
            message += "; not retried: the assistant may have been created, check before retrying"
        return ApiUnreachable(self._redact(message))

    def _assistant(self, response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        """The response body as a raw dict, after checking it is an assistant."""
        data = _json(response, method, path)
        try:
            Assistant.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise ApiError(
                f"HTTP {response.status_code} from {method} {path}: the answer is not an "
                f"assistant ({where}: {first['msg']}); is the API URL right?",
                status=response.status_code,
            ) from None
        assert isinstance(data, dict)  # validated above
        return data

    def _redact(self, message: str) -> str:
        """Servers sometimes echo what they were sent: never let the key through."""
        return message.replace(self._key, "[secure]") if self._key else message


def _assistant_path(assistant_id: str) -> str:
    # Quoted so an id from the command line can never address another endpoint.
    return f"/assistants/{quote(assistant_id, safe='')}"


def _json(response: httpx.Response, method: str, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type") or "no content type"
        raise ApiError(
            f"HTTP {response.status_code} from {method} {path}: expected JSON, got {kind}",
            status=response.status_code,
        ) from None


def _detail(response: httpx.Response) -> Any:
    """The server's `detail` (FastAPI style) if the body is JSON, else a short text or None."""
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        # An HTML error page from a proxy says nothing useful in one line.
        return text[:200] if text and not text.startswith("<") else None
    if isinstance(data, dict):
        for key in ("detail", "message", "error"):
            if key in data:
                return data[key]
    return data


def _render_detail(detail: Any) -> str:
    """One line: a 422 list as `loc.path: msg; ...` (the leading "body" of loc dropped)."""
    if detail is None:
        return ""
    if isinstance(detail, list):
        return "; ".join(_render_detail(item) for item in detail)
    if isinstance(detail, dict) and "msg" in detail:
        loc = [str(part) for part in detail.get("loc") or []]
        if loc and loc[0] == "body":
            loc = loc[1:]
        text = f"{'.'.join(loc)}: {detail['msg']}" if loc else str(detail["msg"])
    else:
        text = str(detail)
    return " ".join(text.split())[:500]


def _describe(exc: httpx.TransportError, timeout: float) -> str:
    """A few words for a transport failure, without any header or body in it."""
    if isinstance(exc, httpx.PoolTimeout):
        return f"no free connection after {timeout:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "connection dropped before an answer"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "name resolution" in text:
        return "host name not found"
    if "certificate" in text or "ssl" in text:
        return "TLS error (certificate?)"
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return first_line[:200]
