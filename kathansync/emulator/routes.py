"""The Kathan API routes: assistants (paged list, create, get, update, delete), /protected, /chat.

Paths have no trailing slash, as in the current documents; the other spelling answers 307 to
them through FastAPI's own redirect_slashes (POST /assistants/, the earlier edition's, included).

Which document each follows is in docs/emulator.md; FastAPI is imported by the caller already.
Answers are the stored objects as they are (JSONResponse), not filtered through the response
models: those only document the answers in openapi.json, and seeded fields must come back.
"""

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from kathansync.emulator.chat import reply
from kathansync.emulator.models import (
    AssistantModels,
    ChatAnswer,
    ChatRequest,
    ProtectedAnswer,
)
from kathansync.emulator.sessions import Sessions
from kathansync.emulator.store import Store

NOT_FOUND = "Assistant not found"
SESSION_NOT_FOUND = "Session not found"
DEFAULT_PAGE_SIZE = 50  # GET /calls documents `limit` default 50, `offset` default 0


def add_assistant_routes(
    api: APIRouter, store: Store, models: AssistantModels, max_page_size: int | None
) -> None:
    """GET (paged) and POST on the collection, GET/PUT/DELETE on one assistant."""
    update_model, create_model, out = models.update, models.create, models.out

    def found(assistant: dict[str, Any] | None, status: int = 200) -> JSONResponse:
        if assistant is None:
            raise HTTPException(404, NOT_FOUND)
        return JSONResponse(assistant, status_code=status)

    @api.get("/assistants", response_model=list[out])  # type: ignore[valid-type]
    async def list_assistants(
        limit: int = Query(DEFAULT_PAGE_SIZE, ge=1), offset: int = Query(0, ge=0)
    ) -> Response:
        # Past the cap a page is silently shorter, as many servers do: a client must not take a
        # page shorter than the limit it asked for as the last one unless it knows the cap.
        if max_page_size is not None:
            limit = min(limit, max_page_size)
        return Response(store.page(offset, limit), media_type="application/json")

    @api.post("/assistants", status_code=201, response_model=out)
    async def create_assistant(body: create_model) -> JSONResponse:  # type: ignore[valid-type]
        return found(store.create(sent(body)), status=201)

    @api.get("/assistants/{assistant_id}", response_model=out)
    async def get_assistant(assistant_id: uuid.UUID) -> JSONResponse:
        return found(store.get(str(assistant_id)))

    @api.put("/assistants/{assistant_id}", response_model=out)
    async def update_assistant(
        assistant_id: uuid.UUID,
        body: update_model,  # type: ignore[valid-type]
    ) -> JSONResponse:
        return found(store.update(str(assistant_id), sent(body)))

    @api.delete("/assistants/{assistant_id}", status_code=204)
    async def delete_assistant(assistant_id: uuid.UUID) -> Response:
        found({} if store.delete(str(assistant_id)) else None)
        return Response(status_code=204)


def sent(body: Any) -> dict[str, Any]:
    """The top-level fields the client sent; an object sent comes whole, its defaults filled."""
    return {key: _plain(getattr(body, key)) for key in body.model_fields_set}


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def add_other_routes(api: APIRouter, store: Store, sessions: Sessions) -> None:
    """GET /protected (authentication.md) and POST /chat (chat-chat-with-assistant.md)."""

    @api.get("/protected", response_model=ProtectedAnswer)
    async def protected(request: Request) -> dict[str, str]:
        user_id = request.headers["x-user-id"].strip()  # present: auth ran first
        return {"message": f"Hello, user {user_id}!", "user_id": user_id}

    @api.post("/chat", response_model=ChatAnswer)
    async def chat(body: ChatRequest) -> dict[str, str]:
        assistant = store.get(body.assistant_id)
        if assistant is None:
            raise HTTPException(404, NOT_FOUND)
        if body.session_id is None:
            session_id, first_turn = sessions.start(body.assistant_id), True
        elif sessions.turn(body.session_id, body.assistant_id):
            session_id, first_turn = body.session_id, False
        else:
            raise HTTPException(404, SESSION_NOT_FOUND)
        output = reply(assistant, body.input, first_turn)
        return {"output_type": "text", "output": output, "session_id": session_id}
