"""Running the emulator: `serve` (blocking, for the CLI), `EmulatorServer` (a background thread
for tests and benchmarks) and `main` (python -m kathansync.emulator)."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kathansync.emulator.app import create_app, require_extra
from kathansync.emulator.errors import EmulatorError
from kathansync.emulator.faults import Fault

if TYPE_CHECKING:
    import uvicorn

    from kathansync.emulator.faults import Controls
    from kathansync.emulator.sessions import Sessions
    from kathansync.emulator.store import Store

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8787


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; binding ourselves lets port 0 pick a free port without a race."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it each
    # response (headers and body are two writes) waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EmulatorError(f"emulator: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: Any) -> uvicorn.Server:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        log_config=None,  # leave the host program's logging alone
        lifespan="off",  # nothing to start up; saves time per test
        ws="none",
        http="h11",  # the protocol drop faults are tested with
    )
    return uvicorn.Server(config)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **create_app_kwargs: Any) -> None:
    """Serve the emulator until interrupted (Ctrl-C). Raises EmulatorError for a busy port, a
    corrupt state file or bad knobs, and EmulatorUnavailable without the extra."""
    require_extra()
    app = create_app(**create_app_kwargs)
    sock = bind(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"Kathan emulator listening on http://{shown_host}:{sock.getsockname()[1]}",
        file=sys.stderr,
        flush=True,
    )
    with sock:
        _server(app).run(sockets=[sock])


class EmulatorServer:
    """The emulator on a free port in a background thread, with direct access for assertions.

    with EmulatorServer(rate_limit=100, max_page_size=50) as emulator:
        emulator.seed("33df85c1-...", name="Acme Support")
        httpx.get(f"{emulator.url}/assistants", headers=emulator.headers)

    Keyword arguments are create_app's (knobs, extra_fields, state_file, credentials).
    """

    api_key = "test-api-key"
    user_id = "test-user"

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, **create_app_kwargs: Any) -> None:
        create_app_kwargs.setdefault("api_key", self.api_key)
        create_app_kwargs.setdefault("user_id", self.user_id)
        self.api_key = create_app_kwargs["api_key"]
        self.user_id = create_app_kwargs["user_id"]
        self.app = create_app(**create_app_kwargs)
        self.store: Store = self.app.state.store
        self.controls: Controls = self.app.state.controls
        self.sessions: Sessions = self.app.state.sessions
        self._host, self._port = host, port
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def assistants(self) -> dict[str, dict[str, Any]]:
        """The live store, id -> object (read it for assertions; write through `seed`)."""
        return self.store.assistants

    @property
    def headers(self) -> dict[str, str]:
        """Valid auth headers for this emulator."""
        return {"Authorization": f"Bearer {self.api_key}", "X-User-ID": self.user_id}

    def seed(self, assistant_id: str, **fields: Any) -> dict[str, Any]:
        """Create or overwrite an assistant: the seed's defaults with `fields` deep-merged in."""
        return self.store.seed(assistant_id, fields)

    def inject(self, *faults: Fault | dict[str, Any]) -> None:
        """Queue faults, consumed one per matching request in order (see docs/emulator.md)."""
        parsed = [f if isinstance(f, Fault) else Fault.from_dict(f) for f in faults]
        self.controls.inject(parsed)

    def stats(self) -> dict[str, Any]:
        """Request counts: total, per method, per status, and faults still pending."""
        return self.controls.stats()

    def start(self) -> EmulatorServer:
        self._sock = bind(self._host, self._port)
        port = self._sock.getsockname()[1]
        self.url = f"http://{self._host}:{port}"
        self._server = server = _server(self.app)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._sock]}, name="kathan-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop at once: requests still sleeping in a delay fault are cancelled, not awaited."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def parse_args(argv: Sequence[str] | None) -> dict[str, Any]:
    """The same options as `kathansync emulator`, as keyword arguments for `serve`."""
    parser = argparse.ArgumentParser(
        prog="python -m kathansync.emulator", description="Serve a local Kathan API emulator."
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--state", dest="state_file", type=Path, help="JSON file to keep state in")
    parser.add_argument("--api-key", help="the only Bearer token accepted (default: any)")
    parser.add_argument("--user-id", help="the only X-User-ID accepted (default: any)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay per request")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction answering 503")
    parser.add_argument("--rate-limit", type=int, help="requests per window before 429")
    parser.add_argument(
        "--rate-window", type=float, default=60.0, help="seconds per rate-limit window"
    )
    parser.add_argument(
        "--no-rate-limit-headers",
        dest="rate_limit_headers",
        action="store_false",
        help="limit without sending X-RateLimit-* headers",
    )
    parser.add_argument("--max-page-size", type=int, help="cap on GET /assistants?limit=")
    parser.add_argument(
        "--extra-field",
        dest="extra_fields",
        action="append",
        default=[],
        metavar="NAME:TYPE",
        help="add a top-level assistant field (TYPE: string|number|integer|boolean)",
    )
    parser.add_argument("--seed", type=int, help="random seed for --fail-rate")
    return vars(parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m kathansync.emulator`: exit 0 on Ctrl-C, 1 on a user error."""
    options = parse_args(argv)
    try:
        serve(**options)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
