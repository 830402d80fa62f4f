"""The emulator's HTTP surface: the Kathan API routes (FastAPI) and emulator-only control routes."""

import json
import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.emulator.faults import CONTROL_PREFIX, Controls, Fault, FaultMiddleware, Knobs
from kathansync.emulator.store import Store
from kathansync.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic import BaseModel

NOT_FOUND = "Assistant not found"


class EmulatorUnavailable(ConfigError):
    """FastAPI or uvicorn is not installed."""


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


@cache
def body_models() -> tuple[type["BaseModel"], type["BaseModel"]]:
    """(PUT body, POST body): the manifest Spec models, minus their leniency.

    Spec models read YAML booleans as "on"/"off"; a server must not, or the emulator would hide
    a client that sends `true`. POST requires `name`, since every response carries one.
    """
    from pydantic import Field

    from kathansync.models import UNSET, AssistantSpec, SpeechSettingsSpec

    class SpeechSettingsBody(SpeechSettingsSpec):
        interruptions: str = UNSET
        emotions: str = UNSET

    class AssistantUpdate(AssistantSpec):
        speech_settings: SpeechSettingsBody = UNSET

    class AssistantCreate(AssistantUpdate):
        name: str = Field()

    return AssistantUpdate, AssistantCreate


def create_app(
    *,
    state_file: Path | None = None,
    api_key: str | None = None,
    user_id: str | None = None,
    latency_ms: int = 0,
    fail_rate: float = 0.0,
    rate_limit: int | None = None,
    seed: int | None = None,
) -> "FastAPI":
    """The emulator as an ASGI app; `app.state.store` and `app.state.controls` are its insides.

    A corrupt `state_file` raises ConfigError naming it; bad knob values raise ConfigError too.
    """
    require_extra()
    from fastapi import APIRouter, Depends, FastAPI
    from fastapi.exceptions import RequestValidationError

    try:
        knobs = Knobs(latency_ms=latency_ms, fail_rate=fail_rate, rate_limit=rate_limit, seed=seed)
    except ValueError as exc:
        raise ConfigError(f"emulator: {exc}") from None
    store = Store(state_file)
    controls = Controls(knobs)

    app = FastAPI(title="Kathan API emulator", docs_url=None, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _validation_answer)
    app.state.store = store
    app.state.controls = controls
    app.add_middleware(FaultMiddleware, controls=controls)

    api = APIRouter(dependencies=[Depends(_authenticate(api_key, user_id))])
    _add_api_routes(api, store)
    app.include_router(api)
    control = APIRouter(prefix=CONTROL_PREFIX, include_in_schema=False)
    _add_control_routes(control, store, controls)
    app.include_router(control)
    return app


async def _validation_answer(request: Any, exc: Any) -> Any:
    """422 as FastAPI shapes it, `{"detail": [{"loc", "msg", "type"}]}`, without echoing the
    input: a rejected value may not even be JSON (NaN), and a server should not echo secrets."""
    from fastapi.responses import JSONResponse

    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": detail})


def _authenticate(api_key: str | None, user_id: str | None) -> Any:
    """A dependency checking both auth headers: 401 when missing or a wrong key, 403 when the
    key is right but X-User-ID is not the configured user. Never echoes what was sent."""
    from fastapi import HTTPException, Request

    def check(request: Request) -> None:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("Not authenticated: send 'Authorization: Bearer <api key>'")
        sent_user = request.headers.get("x-user-id", "").strip()
        if not sent_user:
            raise _unauthorized("Not authenticated: the X-User-ID header is required")
        if api_key is not None and token.strip() != api_key:
            raise _unauthorized("Invalid API key")
        if user_id is not None and sent_user != user_id:
            raise HTTPException(403, "X-User-ID does not match the API key")

    def _unauthorized(detail: str) -> HTTPException:
        return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})

    return check


def _add_api_routes(api: Any, store: Store) -> None:
    """The Kathan routes: only PUT is in the seed, the rest are assumptions (docs/api.md)."""
    from fastapi import HTTPException, Response

    update_model, create_model = body_models()

    def found(assistant: dict[str, Any] | None) -> dict[str, Any]:
        if assistant is None:
            raise HTTPException(404, NOT_FOUND)
        return assistant

    def sent(body: "BaseModel") -> dict[str, Any]:
        data = body.model_dump(mode="json", exclude_unset=True)
        for key in ("name", "system_instruction"):
            if key in data and data[key] is None:
                # The seed lets the request say null, but every response requires a string.
                raise _validation_error(key, f"{key} cannot be null: every assistant has one")
        return data

    @api.get("/assistants")
    async def list_assistants() -> list[dict[str, Any]]:
        return store.list()

    @api.post("/assistants", status_code=201)
    async def create_assistant(body: create_model) -> dict[str, Any]:  # type: ignore[valid-type]
        return store.create(sent(body))

    @api.get("/assistants/{assistant_id}")
    async def get_assistant(assistant_id: uuid.UUID) -> dict[str, Any]:
        return found(store.get(str(assistant_id)))

    @api.put("/assistants/{assistant_id}")
    async def update_assistant(
        assistant_id: uuid.UUID,
        body: update_model,  # type: ignore[valid-type]
    ) -> dict[str, Any]:
        return found(store.update(str(assistant_id), sent(body)))

    @api.delete("/assistants/{assistant_id}", status_code=204)
    async def delete_assistant(assistant_id: uuid.UUID) -> Response:
        found({} if store.delete(str(assistant_id)) else None)
        return Response(status_code=204)

    _add_chat_route(api, store)


def _add_chat_route(api: Any, store: Store) -> None:
    """POST /chat (api/chat-chat-with-assistant.md): replies from emulator/chat.py, sessions in
    memory. A minimal stand-in: the emulator's own route replaces it at merge."""
    from fastapi import HTTPException
    from pydantic import BaseModel

    from kathansync.emulator.chat import reply

    class ChatRequest(BaseModel):
        assistant_id: str
        input: str
        session_id: str | None = None

    sessions: dict[str, str] = {}  # session_id -> assistant_id

    @api.post("/chat")
    async def chat(body: ChatRequest) -> dict[str, Any]:
        assistant = store.get(body.assistant_id.lower())
        if assistant is None:
            raise HTTPException(404, NOT_FOUND)
        session_id = body.session_id
        if session_id is not None and sessions.get(session_id) != body.assistant_id:
            raise HTTPException(404, "Session not found")
        if session_id is None:
            session_id = str(uuid.uuid4())
            sessions[session_id] = body.assistant_id
        output = reply(assistant, body.input, first_turn=body.session_id is None)
        return {"output_type": "text", "output": output, "session_id": session_id}


def _validation_error(field: str, message: str) -> Exception:
    from fastapi.exceptions import RequestValidationError

    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": None}]
    )


def _add_control_routes(control: Any, store: Store, controls: Controls) -> None:
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
        return {"reset": True}

    @control.put("/assistants/{assistant_id}")
    async def seed_assistant(assistant_id: uuid.UUID, request: Request) -> dict[str, Any]:
        fields = await json_body(request, {})
        if not isinstance(fields, dict):
            raise HTTPException(422, "body must be a JSON object of assistant fields")
        return store.seed(str(assistant_id), fields)
