"""CONNECT: a client for the selected API, and the list walk started while the manifests load.

The list of assistants (GET /assistants) does not depend on the manifests, and at a few
hundred assistants and more it is a dozen round trips: `listing_early` walks it on a thread
of its own during loading (see remote/early.py for what is held and when it is said). It is
started only when the run will read it, so it costs no request a plan would not make: more
manifest files than the size past which the client lists rather than GETs each id, or
`--prune`; never for `--target` (a few assistants, fetched one by one).

Beside a cold load of 10,000 manifests, the list read so far (~3 KB an assistant) peaks at
170 MB: the loader lets go of each manifest's parsed tree once it is built (loader.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kathansync.load.discover import SUFFIXES
from kathansync.settings import Network, Settings

if TYPE_CHECKING:
    from kathansync.plan import FingerprintKeys
    from kathansync.remote.client import KathanClient
    from kathansync.remote.early import EarlyClient

Report = Callable[[str], None]


@dataclass(frozen=True)
class ApiAccess:
    """How a run reaches the API: the client, and the key's one other use (never printed):
    keying plan fingerprints."""

    client: KathanClient
    api_key: str = field(repr=False)
    early: EarlyClient | None = field(default=None, repr=False, compare=False)  # the same client

    def keys(self, salt: str | None = None) -> FingerprintKeys:
        # Imported here: `plan` starts the list walk before it imports the pipeline (models).
        from kathansync.plan.saved import new_keys

        return new_keys(self.api_key, salt=salt)

    def __enter__(self) -> ApiAccess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def connect(settings: Settings, network: Network, info: Report, log: Report) -> ApiAccess:
    """A client for the selected API; missing credentials fail here, before any request."""
    from kathansync.remote.client import KathanClient
    from kathansync.remote.credentials import Credentials

    credentials = Credentials.from_env(settings.environ)
    # notify: retries and rate-limit waits as they happen
    client = KathanClient(**_client_options(settings, network, credentials), notify=info, log=log)
    return ApiAccess(client, credentials.api_key)


def listing_early(
    settings: Settings, network: Network, info: Report, log: Report, *, prune: bool
) -> ApiAccess | None:
    """A client already walking GET /assistants, or None when the run may not read the list,
    or when connecting fails (said again by `connect`, in its place: after loading)."""
    from kathansync.remote.paging import LIST_SIZE_DEFAULT, Stopped

    lists_past = 2 * (network.parallelism or LIST_SIZE_DEFAULT)  # as fetch_assistants decides
    files = count_manifests(settings.manifests)
    if not prune and files <= lists_past:
        return None
    from kathansync.errors import KathansyncError
    from kathansync.remote.credentials import Credentials
    from kathansync.remote.early import EarlyClient, Held

    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):  # a walk nobody will read: no more waiting, no retry
            raise Stopped

    try:
        credentials = Credentials.from_env(settings.environ)
        options = _client_options(settings, network, credentials)
        # Each manifest file is an assistant the list most likely holds: fewer page rounds.
        held = Held(info)  # and the log lines beside, in one order
        client = EarlyClient(
            **options, info=held, log=Held(log, beside=held), stop=stop, sleep=sleep, expected=files
        )
    except KathansyncError:
        return None
    return ApiAccess(client, credentials.api_key, client)


def _client_options(settings: Settings, network: Network, credentials: Any) -> dict[str, Any]:
    from kathansync.remote.pacing import RetryPolicy

    return {
        "api_url": settings.api_url,
        "credentials": credentials,
        "timeout": network.timeout,
        "retry": RetryPolicy(max_tries=network.max_retries + 1),
        "parallelism": network.parallelism,
        "rate_limit": network.rate_limit or settings.rate_limit,
    }


def count_manifests(directory: Path) -> int:
    """The manifest files below `directory`, by discover's rules (file names only: cheap)."""
    seen = 0
    for _current, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        seen += sum(1 for n in files if n.endswith(SUFFIXES) and not n.startswith(("_", ".")))
    return seen
