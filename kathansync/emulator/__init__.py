"""A local Kathan API for demos, tests and benchmarks (docs/emulator.md).

Importing this package is cheap: FastAPI and uvicorn are imported only when an app is built or
served, and their absence is an `EmulatorUnavailable` naming `pip install 'kathansync[emulator]'`.

    store.py    the assistants: seed defaults, PUT semantics, atomic JSON state file
    faults.py   latency, random 503s, rate limit, queued faults: one ASGI middleware
    app.py      create_app: the API routes and the /_emulator control routes
    server.py   serve (blocking), EmulatorServer (background thread), main (python -m)
"""

from kathansync.emulator.app import EmulatorUnavailable, create_app
from kathansync.emulator.faults import Fault
from kathansync.emulator.server import EmulatorServer, main, serve
from kathansync.emulator.store import DEFAULTS

__all__ = [
    "DEFAULTS",
    "EmulatorServer",
    "EmulatorUnavailable",
    "Fault",
    "create_app",
    "main",
    "serve",
]
