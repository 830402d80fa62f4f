"""The emulator's own errors: it shares no code with kathansync, its exceptions included."""

from __future__ import annotations


class EmulatorError(Exception):
    """A user mistake starting the emulator: a bad knob, a busy port, a corrupt state file.

    The message is one line, ready to print; `kathansync emulator` reports it with exit code 1.
    """


class EmulatorUnavailable(EmulatorError):
    """FastAPI or uvicorn is not installed."""
