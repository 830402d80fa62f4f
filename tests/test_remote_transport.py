"""The lean send path (remote/transport.py) against httpx's own: same request, same connections."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from test_client import CREDS, ID, assistant

from kathansync.errors import ApiError
from kathansync.remote.client import KathanClient
from kathansync.remote.transport import Sender, Shelf, encode_json

BODY: dict[str, Any] = {
    "name": 'Café ☕ "quoted" \\ back',
    "voice": {"speed": 1.1, "language": "de"},
    "tags": [1, 2.5, None, True, {"deep": ["x"]}],
}


def _seen(request: httpx.Request) -> tuple[str, str, dict[str, str], bytes]:
    return request.method, str(request.url), dict(request.headers), request.read()


@pytest.mark.parametrize("base", ["http://kathan.test", "https://kathan.test:8443/api/v1/"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/assistants?limit=50&offset=100", None),
        ("PUT", f"/assistants/{ID}", BODY),
        ("PUT", "/assistants/a%2Fb%2E%2E", {"name": "x"}),
        ("POST", "/assistants", {}),
        ("DELETE", f"/assistants/{ID}", None),
    ],
)
def test_the_direct_path_sends_what_httpx_client_would(
    base: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """The request the Sender hands the transport equals httpx.Client.request(json=...)'s:
    URL, every header (name and value) and the body bytes."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    headers = {"Authorization": "Bearer k", "X-User-ID": "u", "User-Agent": "kathansync/t"}
    with httpx.Client(
        base_url=base, headers=headers, transport=httpx.MockTransport(handler)
    ) as http:
        http.request(method, path, json=body)
        Sender(http, http._transport).send(
            method, path, None if body is None else encode_json(body, "x")
        )
    assert len(sent) == 2
    assert _seen(sent[1]) == _seen(sent[0])


def test_the_body_is_encoded_once_for_all_tries_and_nan_is_refused_before_sending() -> None:
    calls: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.read())
        return httpx.Response(503 if len(calls) == 1 else 200, json=assistant())

    client = KathanClient(
        "http://kathan.test", CREDS, transport=httpx.MockTransport(handler), sleep=lambda _s: None
    )
    client.update_assistant(ID, {"name": "x", "voice": {"speed": 1.5}})
    assert calls == [b'{"name":"x","voice":{"speed":1.5}}'] * 2
    with pytest.raises(ApiError, match=r"cannot send PUT /assistants/\S+: Out of range float"):
        client.update_assistant(ID, {"voice": {"speed": float("nan")}})
    assert len(calls) == 2 and client.requests_sent == 2


def test_cookies_a_server_sets_go_back_with_the_next_requests() -> None:
    """As with httpx.Client's own path: a Set-Cookie answer is remembered and sent back."""
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("Cookie"))
        return httpx.Response(200, json={}, headers={"Set-Cookie": "lb=node-2; Path=/"})

    client = KathanClient("http://kathan.test", CREDS, transport=httpx.MockTransport(handler))
    client.get_protected()
    client.get_protected()
    assert cookies == [None, "lb=node-2"]


# --- a real server: connections and proxies ---------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with `{}`, keep-alive; counts connections and request lines."""

    protocol_version = "HTTP/1.1"
    delay = 0.0
    connections = 0
    lines: ClassVar[list[str]] = []
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            type(self).connections += 1

    def _answer(self) -> None:
        with self.lock:
            self.lines.append(self.requestline)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        body = json.dumps(assistant() if self.command == "PUT" else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"connections": 0, "lines": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_one_thread_reuses_one_connection(server: tuple[str, type[_Recorder]]) -> None:
    url, handler = server
    with KathanClient(url, CREDS) as client:
        for _ in range(5):
            client.get_protected()
    assert handler.connections == 1 and len(handler.lines) == 5


def test_concurrent_calls_open_one_connection_each_and_the_next_calls_reuse_them(
    server: tuple[str, type[_Recorder]],
) -> None:
    url, handler = server
    handler.delay = 0.05  # requests overlap: each needs a connection of its own

    def put(_: int) -> None:
        client.update_assistant(ID, {"name": "x"})

    with KathanClient(url, CREDS, parallelism=4) as client:
        client.run_concurrently(put, range(12))
        assert 2 <= handler.connections <= 4
        client.run_concurrently(put, range(40))
        assert handler.connections <= 4  # new threads, the same connections (the shelf)
    assert len(handler.lines) == 52


def test_the_shelf_keeps_at_most_keep_idle_connections_and_close_closes_them(
    server: tuple[str, type[_Recorder]],
) -> None:
    url, handler = server
    handler.delay = 0.1
    shelf = Shelf(keep=2)
    http = httpx.Client(transport=shelf)
    barrier = threading.Barrier(5)

    def get(_: int) -> None:
        barrier.wait(5)
        assert http.get(f"{url}/protected").status_code == 200

    with ThreadPoolExecutor(5) as pool:
        list(pool.map(get, range(5)))
    assert handler.connections >= 3  # more were open at once than the shelf keeps
    assert shelf.open_connections == 2
    http.close()  # closes its transport, the shelf
    assert shelf.open_connections == 0
    with pytest.raises(RuntimeError, match="closed"):
        shelf.handle_request(httpx.Request("GET", f"{url}/protected"))


def test_a_failed_request_gives_its_connection_back() -> None:
    shelf = Shelf(keep=4)
    with pytest.raises(httpx.ConnectError):
        shelf.handle_request(httpx.Request("GET", "http://127.0.0.1:9/protected"))
    assert shelf.open_connections == 1  # kept for the next request, none lent out


def test_http_and_https_connections_are_never_mixed() -> None:
    shelf = Shelf(keep=4)
    plain = shelf._take("http")
    shelf._give_back(plain)
    secure = shelf._take("https")
    assert secure is not plain
    shelf._give_back(secure)
    assert shelf._take("http") is plain and shelf._take("https") is secure


def test_a_proxy_from_the_environment_is_still_used(
    server: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx.Client routes through HTTP_PROXY: the direct path must not skip it."""
    proxy, handler = server
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with KathanClient("http://kathan.invalid", CREDS) as client:
        client.get_protected()
    assert handler.lines == ["GET http://kathan.invalid/protected HTTP/1.1"]
