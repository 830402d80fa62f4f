"""The emulator's HTTP surface: create_app wires the API routes (routes.py), auth, the 422
shape, the misbehaviour middleware (faults.py) and the emulator-only control routes."""

import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.emulator.errors import EmulatorError, EmulatorUnavailable
from kathansync.emulator.faults import CONTROL_PREFIX, Controls, Fault, FaultMiddleware, Knobs
from kathansync.emulator.sessions import Sessions
from kathansync.emulator.store import Store

if TYPE_CHECKING:
    from fastapi import FastAPI

# authentication.md documents one 401 body, whatever was wrong: it never says which.
UNAUTHORIZED = "Invalid authentication credentials"


def require_extra() -> None:
    """Fail with the install command when the optional dependencies are missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise EmulatorUnavailable(
            f"the emulator needs FastAPI and uvicorn ({exc.name} is missing): "
            "pip install 'kathansync[emulator]'"
        ) from None


def create_app(
    *,
    state_file: Path | None = None,
    api_key: str | None = None,
    user_id: str | None = None,
    latency_ms: int = 0,
    fail_rate: float = 0.0,
    rate_limit: int | None = None,
    rate_window: float = 60.0,
    rate_limit_headers: bool = True,
    max_page_size: int | None = None,
    extra_fields: Mapping[str, str] | Iterable[str] = (),
    seed: int | None = None,
) -> "FastAPI":
    """The emulator as an ASGI app; `app.state.store`, `.controls`, `.sessions` are its insides.

    A corrupt `state_file`, bad knob values or a bad extra field raise EmulatorError.
    """
    require_extra()
    from fastapi import APIRouter, Depends, FastAPI
    from fastapi.exceptions import RequestValidationError

    from kathansync.emulator.models import assistant_models, parse_extra_fields
    from kathansync.emulator.routes import add_assistant_routes, add_other_routes

    knobs = _knobs(latency_ms, fail_rate, rate_limit, rate_window, rate_limit_headers, seed)
    if max_page_size is not None and max_page_size < 1:
        raise EmulatorError(f"emulator: max_page_size must be >= 1, got {max_page_size}")
    models = assistant_models(parse_extra_fields(extra_fields))
    store, controls, sessions = Store(state_file), Controls(knobs), Sessions()

    app = FastAPI(title="Kathan API emulator", docs_url=None, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _validation_answer)
    app.state.store, app.state.controls, app.state.sessions = store, controls, sessions
    app.add_middleware(FaultMiddleware, controls=controls)

    api = APIRouter(dependencies=[Depends(_authenticate(api_key, user_id))])
    add_assistant_routes(api, store, models, max_page_size)
    add_other_routes(api, store, sessions)
    app.include_router(api)
    control = APIRouter(prefix=CONTROL_PREFIX, include_in_schema=False)
    _add_control_routes(control, store, controls, sessions)
    app.include_router(control)
    return app


def _knobs(
    latency_ms: int,
    fail_rate: float,
    rate_limit: int | None,
    rate_window: float,
    rate_limit_headers: bool,
    seed: int | None,
) -> Knobs:
    try:
        return Knobs(
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            rate_limit=rate_limit,
            rate_window=rate_window,
            rate_limit_headers=rate_limit_headers,
            seed=seed,
        )
    except ValueError as exc:
        raise EmulatorError(f"emulator: {exc}") from None


async def _validation_answer(request: Any, exc: Any) -> Any:
    """422 as FastAPI shapes it, `{"detail": [{"loc", "msg", "type"}]}`, without echoing the
    input: a rejected value may not even be JSON (NaN), and a server should not echo secrets."""
    from fastapi.responses import JSONResponse

    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": detail})


def _authenticate(api_key: str | None, user_id: str | None) -> Any:
    """A dependency checking both auth headers: 401 with the documented body when one is missing
    or the key is wrong, 403 when the key is right but X-User-ID is not the configured user."""
    from fastapi import HTTPException, Request

    def check(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        sent_user = request.headers.get("x-user-id", "").strip()
        if scheme.lower() != "bearer" or not token.strip() or not sent_user:
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        if api_key is not None and token.strip() != api_key:
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        if user_id is not None and sent_user != user_id:
            raise HTTPException(403, "X-User-ID does not match the API key")

    return check


def _add_control_routes(control: Any, store: Store, controls: Controls, sessions: Sessions) -> None:
    """Emulator-only routes for tests and demos: no auth, never affected by knobs or faults.

    Bodies are read as JSON whatever the Content-Type, so a bare `curl -d '[...]'` works.
    """
    from fastapi import HTTPException, Request

    async def json_body(request: Request, empty: Any) -> Any:
        raw = await request.body()
        if not raw.strip():
            return empty
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise HTTPException(422, f"body is not JSON: {exc}") from None

    @control.post("/faults")
    async def inject_faults(request: Request) -> dict[str, Any]:
        faults = await json_body(request, [])
        items = faults if isinstance(faults, list) else [faults]
        try:
            parsed = [Fault.from_dict(item) for item in items]
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, f"bad fault: {exc}") from None
        return {"pending": controls.inject(parsed)}

    @control.get("/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return [fault.to_dict() for fault in controls.pending()]

    @control.get("/stats")
    async def stats() -> dict[str, Any]:
        return controls.stats()

    @control.post("/reset")
    async def reset() -> dict[str, Any]:
        controls.reset()
        store.clear()
        sessions.clear()
        return {"reset": True}

    @control.put("/assistants/{assistant_id}")
    async def seed_assistant(assistant_id: uuid.UUID, request: Request) -> dict[str, Any]:
        fields = await json_body(request, {})
        if not isinstance(fields, dict):
            raise HTTPException(422, "body must be a JSON object of assistant fields")
        return store.seed(str(assistant_id), fields)
