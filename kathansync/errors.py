"""One exception tree for every error that stops a run, each carrying its context.

    KathansyncError                 anything the CLI reports as one clean message, exit 1
     ├── ConfigError                 bad flags, missing credentials, bad kathansync.yaml
     ├── ManifestError               manifests that do not load; carries every Problem found
     ├── PlanFileError               a saved plan that cannot be used (unreadable, other API)
     └── ApiError                    an HTTP call that failed: handle, status, server detail
          └── ApiUnreachable          no HTTP answer at all (connection refused, timeout, DNS)

Per-assistant results of apply (applied, stale, failed, ...) are values, not exceptions:
see apply.Outcome. Nothing here ever holds the API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one file, at a 1-based line and column (0 when unknown)."""

    file: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.severity}: {self.message}"


def display_path(path: Path) -> str:
    """A file as messages show it: relative to the working directory when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


class KathansyncError(Exception):
    """Base of every error the CLI turns into a message and exit code 1."""


class ConfigError(KathansyncError):
    """Wrong flags, a missing environment variable, or an invalid kathansync.yaml."""


class ManifestError(KathansyncError):
    """Manifests that failed to load; `problems` lists every one, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in manifests")


class PlanFileError(KathansyncError):
    """A saved plan that cannot be applied as a whole."""


class ApiError(KathansyncError):
    """The Kathan API answered with an error (or, for the subclass, not at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: Any = None,
        handle: str | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.handle = handle
        self.reason = message
        super().__init__(message)

    def __str__(self) -> str:
        prefix = f"{self.handle}: " if self.handle else ""
        return prefix + self.reason

    def for_handle(self, handle: str) -> ApiError:
        """The same error, attributed to the assistant it happened for."""
        clone = type(self)(self.reason, status=self.status, detail=self.detail, handle=handle)
        return clone


class ApiUnreachable(ApiError):
    """No HTTP response: connection refused, timeout, name resolution."""
