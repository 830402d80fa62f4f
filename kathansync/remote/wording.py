"""API failures as one-line messages: HTTP errors, server details, transport failures.

Formatting only: nothing here sends or prints. Every message goes through the client's
Redactor before it leaves the remote package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from kathansync.errors import ApiError
from kathansync.remote.credentials import API_KEY_ENV, USER_ID_ENV
from kathansync.remote.paging import read_json

if TYPE_CHECKING:
    from pydantic import ValidationError

    from kathansync.models import Assistant

DETAIL_MAX = 500  # characters of a server's detail kept in a message


def detail_of(response: httpx.Response) -> Any:
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


def render_detail(detail: Any, limit: int = DETAIL_MAX) -> str:
    """One line: a 422 list as `loc.path: msg; ...` (the leading "body" of loc dropped)."""
    if detail is None:
        return ""
    if isinstance(detail, list):
        return "; ".join(render_detail(item, limit) for item in detail)[:limit]
    if isinstance(detail, dict) and "msg" in detail:
        loc = [str(part) for part in detail.get("loc") or []]
        if loc and loc[0] == "body":
            loc = loc[1:]
        text = f"{'.'.join(loc)}: {detail['msg']}" if loc else str(detail["msg"])
    else:
        text = str(detail)
    return " ".join(text.split())[:limit]


def http_error_text(status: int, detail: Any, reason: str, assistant_id: str | None) -> str:
    """What went wrong, in words, with the hint a user needs for the common statuses."""
    text = render_detail(detail) or reason or "error"
    if status == 401:
        text += f" — check {API_KEY_ENV} and {USER_ID_ENV}"
    elif status == 403:
        text += f" — {USER_ID_ENV} is not allowed to do this"
    elif status == 404 and assistant_id is not None:
        text = f"assistant {assistant_id} not found"
    return text


def describe_transport(exc: httpx.TransportError, timeout: float) -> str:
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


def unreachable_text(
    exc: httpx.TransportError,
    timeout: float,
    origin: str,
    method: str,
    path: str,
    *,
    sent: bool,
    idempotent: bool,
) -> str:
    """No answer at all: whether the request left, and what that means for a POST."""
    reason = describe_transport(exc, timeout)
    if not sent:
        return f"cannot reach {origin}: {reason}"
    message = f"no answer from {origin} to {method} {path}: {reason}"
    if not idempotent:
        message += "; not retried: the assistant may have been created, check before retrying"
    return message


def json_of(response: httpx.Response, method: str, path: str) -> Any:
    """The decoded body, or an ApiError saying what came instead of JSON."""
    try:
        return read_json(response.content)  # what response.json() reads, in less memory
    except ValueError:
        kind = response.headers.get("Content-Type") or "no content type"
        raise ApiError(
            f"HTTP {response.status_code} from {method} {path}: expected JSON, got {kind}",
            status=response.status_code,
        ) from None


def origin_of(url: httpx.URL) -> str:
    """scheme://host[:port]: what messages show of a URL (no userinfo, path or query)."""
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def redirect_refused(status: int, method: str, path: str, target: httpx.URL) -> str:
    """A redirect to another scheme, host or port: not followed, and why."""
    return (
        f"HTTP {status} from {method} {path}: redirected to {origin_of(target)}{target.path},"
        " another host; not followed (the credentials would go with it)"
    )


def assistant_of(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    """The response body as a raw dict, after checking it is an assistant."""
    Assistant, ValidationError = _assistant_model()
    data = json_of(response, method, path)
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


def chat_reply_of(response: httpx.Response) -> dict[str, str]:
    """A POST /chat answer as `{"output", "session_id", "output_type"}` (output_type "" when
    absent), after checking output and session_id are strings."""
    data = json_of(response, "POST", "/chat")
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


def not_a_list_of_assistants(data: Any) -> str:
    """Why a list answer cannot be used ('' when it can): the caller falls back to GETs."""
    Assistant, ValidationError = _assistant_model()
    if not isinstance(data, list):
        return "not a JSON array"
    try:
        for item in data:
            Assistant.model_validate(item)
    except ValidationError:
        return "items are not full assistants"
    return ""


def _assistant_model() -> tuple[type[Assistant], type[ValidationError]]:
    """Imported when the first answer is checked, not with the client: `plan` starts its list
    walk before the models are built (pydantic's 0.1 s then overlaps the first page)."""
    from pydantic import ValidationError

    from kathansync.models import Assistant

    return Assistant, ValidationError


def assistant_path(assistant_id: str) -> str:
    """/assistants/{id}, quoted so an id from the command line can never address another
    endpoint (nor a segment of dots: `..` is a step up once the URL is normalised)."""
    quoted = quote(assistant_id, safe="")
    return f"/assistants/{quoted if quoted.strip('.') else quoted.replace('.', '%2E')}"
