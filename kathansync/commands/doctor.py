"""`kathansync doctor`: one line per check (ok / warn / fail) on config, API, credentials,
rate limit, listing, manifests and the saved API schema; exit 1 on any fail.

It sends at most 5 requests: GET /protected, then up to 4 pages of GET /assistants. Nothing
here changes anything, remotely or on disk.
"""

from __future__ import annotations

import calendar
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from kathansync.commands.common import EXIT_ERROR, EXIT_OK, Options, session_for

if TYPE_CHECKING:
    from kathansync.remote.client import KathanClient
    from kathansync.run import Run

Level = Literal["ok", "warn", "fail"]
PAGES = 4  # pages of GET /assistants at most: with GET /protected, 5 requests
STALE_DAYS = 30  # a saved API schema older than this is worth refreshing


@dataclass(frozen=True)
class Check:
    level: Level
    name: str
    text: str

    def __str__(self) -> str:
        return f"{self.level:<4}  {self.name}: {self.text}"


@click.command()
@click.option("--env", envvar="KATHANSYNC_ENV", help="Environment from kathansync.yaml.")
@click.option("--api-url", help="Kathan API base URL (default: as for plan).")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False))
def doctor(env: str | None, api_url: str | None, directory: Path | None) -> int:
    """Check the setup: config, API URL, credentials, rate limit, listing, manifests.

    \b
    Example:
      kathansync doctor --env staging
    """
    checks = run_checks(Options(directory, env, api_url, False, True, False))
    for check in checks:
        click.echo(str(check))
    failed = sum(check.level == "fail" for check in checks)
    return EXIT_ERROR if failed else EXIT_OK


def run_checks(opts: Options) -> list[Check]:
    """Every check in order; a failure early on turns later ones into 'not checked'."""
    from kathansync.errors import KathansyncError

    try:
        session = session_for(opts)
    except KathansyncError as error:
        return [Check("fail", "config", str(error))]
    manifests, ids = _manifests(session)
    return [_config(session), manifests, *_remote(session, ids), _schema_file(session)]


def _config(session: Run) -> Check:
    config, settings = session.settings.config, session.settings
    env = f", environment {settings.environment}" if settings.environment else ""
    if config.path is None:
        return Check("warn", "config", f"no kathansync.yaml found (defaults){env}")
    return Check("ok", "config", f"{config.path}{env}")


def _manifests(session: Run) -> tuple[Check, set[str] | None]:
    """How many manifests load, and the ids they reference (None when they do not load)."""
    from kathansync.errors import KathansyncError

    try:
        result = session.load_result()
    except KathansyncError as error:
        return Check("fail", "manifests", str(error)), None
    if result.errors:
        return Check("fail", "manifests", f"{len(result.errors)} error(s): run validate"), None
    ids = {m.id.lower() for m in result.manifests if m.id}
    text = f"{len(result.manifests)} manifest(s), {len(ids)} with an id"
    return Check("ok", "manifests", text), ids


def _remote(session: Run, ids: set[str] | None) -> list[Check]:
    """URL, credentials, rate limit, listing: from GET /protected and a few list pages."""
    from kathansync.errors import ApiError, ApiUnreachable, KathansyncError

    url = session.settings.api_url
    try:
        client = _client(session)
    except KathansyncError as error:
        return [Check("fail", "credentials", str(error)), _skipped("api", url)]
    with client:
        try:
            answer = client.get_protected()
        except ApiUnreachable as error:
            return [Check("fail", "api", str(error))]
        except ApiError as error:
            if error.status in (401, 403):
                return [_reached(url), Check("fail", "credentials", str(error))]
            unsure = f"not verified ({error}); the listing below needs them too"
            return [_reached(url), Check("warn", "credentials", unsure), *_listing(client, ids)]
        user = answer.get("user_id") if isinstance(answer, dict) else None
        accepted = f"accepted (user {user})" if user else "accepted"
        return [_reached(url), Check("ok", "credentials", accepted), *_listing(client, ids)]


def _client(session: Run) -> KathanClient:
    """A client that never asks twice: one try, no 429 waits, so 5 requests stay 5."""
    import os

    from kathansync.remote.client import KathanClient
    from kathansync.remote.credentials import Credentials
    from kathansync.remote.pacing import RetryPolicy

    return KathanClient(
        session.settings.api_url,
        Credentials.from_env(os.environ),
        retry=RetryPolicy(max_tries=1),
        max_rate_waits=0,
        rate_limit=session.settings.rate_limit,
        # A spent budget still holds the listing until the reset: say so, never a silent hang.
        notify=lambda line: click.echo(line, err=True),
    )


def _reached(url: str) -> Check:
    from urllib.parse import urlsplit

    if url.startswith("https://"):
        return Check("ok", "api", f"{url} reachable (TLS ok)")
    local = urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
    # Plain http sends the API key in the clear: fine to a local emulator, not across a network.
    return Check("ok" if local else "warn", "api", f"{url} reachable (no TLS: http)")


def _skipped(name: str, what: str) -> Check:
    return Check("warn", name, f"{what}: not checked")


def _listing(client: KathanClient, ids: set[str] | None) -> list[Check]:
    """Up to PAGES pages of GET /assistants: does it list, does it page, how many are there."""
    from kathansync.errors import ApiError
    from kathansync.remote.paging import PAGE_SIZE

    seen: set[str] = set()
    note, complete, step = "", True, PAGE_SIZE
    try:
        for number in range(PAGES):
            page = client.list_page(PAGE_SIZE, len(seen))
            if page is None:
                cannot = "GET /assistants cannot list full assistants: one GET per id"
                return [_rate(client), Check("warn", "listing", cannot)]
            fresh = {str(item.get("id", "")).lower() for item in page} - seen
            seen |= fresh
            if len(page) > PAGE_SIZE:
                note = f" (the server ignores limit={PAGE_SIZE}: all in one answer)"
            step = len(page) if number == 0 else step  # short: the end, or the server's cap
            if len(page) > PAGE_SIZE or len(page) < step or not fresh:
                break
        else:
            note, complete = f" at least (stopped counting after {PAGES} pages)", False
    except ApiError as error:
        return [_rate(client), Check("fail", "listing", str(error))]
    listing = Check("ok", "listing", f"{len(seen)} assistant(s) remote{note}")
    return [_rate(client), listing, *_compare(ids, seen, complete=complete)]


def _rate(client: KathanClient) -> Check:
    described = client.budget.describe()
    level: Level = "ok" if client.budget.from_headers or client.budget.configured else "warn"
    hint = "" if level == "ok" else " (set --rate-limit or rate_limit: to pace anyway)"
    return Check(level, "rate limit", described + hint)


def _compare(ids: set[str] | None, remote: set[str], *, complete: bool) -> list[Check]:
    if ids is None or not complete:
        return []
    missing = len(ids - remote)
    text = f"{len(ids)} referenced, {len(ids & remote)} found remote"
    text += f", {len(remote - ids)} remote not referenced"
    if missing:
        return [Check("warn", "ids", f"{text}; {missing} referenced id(s) not found remote")]
    return [Check("ok", "ids", text)]


def _schema_file(session: Run) -> Check:
    from kathansync.load.apischema import API_SCHEMA_NAME

    path = session.settings.root / API_SCHEMA_NAME
    if not path.is_file():
        return Check("warn", "api schema", f"no {API_SCHEMA_NAME} (kathansync schema --update)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        fetched = calendar.timegm(time.strptime(saved["fetched_at"], "%Y-%m-%dT%H:%M:%SZ"))
    except (OSError, ValueError, KeyError, TypeError):
        return Check("fail", "api schema", f"{path}: unreadable; run kathansync schema --update")
    days = max(0, int((time.time() - fetched) // 86400))
    level: Level = "warn" if days > STALE_DAYS else "ok"
    return Check(level, "api schema", f"{path}: fetched {days} day(s) ago")
