"""A local Kathan API for demos, tests and benchmarks (docs/emulator.md).

Importing this package is cheap: FastAPI and uvicorn are imported only when an app is built or
served, and their absence is an `EmulatorUnavailable` naming `pip install 'kathansync[emulator]'`.

It is a second reading of the API documents and imports nothing from the rest of kathansync.

    defaults.py   the seed's response example: what a created assistant starts as
    models.py     request and response models written from the documents; --extra-field
    store.py      the assistants: PUT semantics, paging, seeding, atomic JSON state file
    sessions.py   POST /chat sessions;  chat.py: what the assistant answers
    ratelimit.py  N requests per window, X-RateLimit-* headers, the documented 429
    faults.py     latency, random 503s, the rate limit, queued faults: one ASGI middleware
    routes.py     the Kathan API routes;  app.py: create_app, auth, 422 shape, control routes
    server.py     serve (blocking), EmulatorServer (background thread), main (python -m)
"""

from kathansync.emulator.app import create_app
from kathansync.emulator.defaults import DEFAULTS
from kathansync.emulator.errors import EmulatorError, EmulatorUnavailable
from kathansync.emulator.faults import Fault
from kathansync.emulator.server import EmulatorServer, main, serve

__all__ = [
    "DEFAULTS",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorUnavailable",
    "Fault",
    "create_app",
    "main",
    "serve",
]
