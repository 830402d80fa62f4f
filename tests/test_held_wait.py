"""A rate-limit wait announced while the early walk's lines are held reads true when shown."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer
from kathansync.remote.early import Held
from kathansync.remote.pacing import RateBudget
from kathansync.remote.waitline import rate_limit_wait, retry_wait
from kathansync.run import Run


class FakeTime:
    """A clock moved by hand or by sleeping; `during_sleep` runs midway through each sleep."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.during_sleep: list[tuple[float, Any]] = []  # (seconds into the sleep, action)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        end = self.now + seconds
        for into, action in self.during_sleep:
            self.now += into
            action()
        self.now = end


def spent_budget(fake: FakeTime, said: list[str]) -> tuple[RateBudget, Held]:
    """A budget of 1 per minute, its one request taken, its lines held (as the early walk's)."""
    held = Held(said.append)
    budget = RateBudget(1, clock=fake.clock, sleep=fake.sleep, notify=held)
    budget.acquire()
    return budget, held


def test_the_line_is_the_live_wording_and_restates_as_time_passes() -> None:
    fake = FakeTime()
    line = rate_limit_wait(11.2, fake.now + 11.2, fake.clock)
    assert line == "rate limit: waiting 12 s" and line.restated() == "rate limit: waiting 12 s"
    fake.now += 7.0
    assert line.restated() == "rate limit: waiting 5 s"
    fake.now += 4.2
    assert line.restated() == "rate limit: waited 12 s"
    assert line == "rate limit: waiting 12 s", "the line itself (said live) never changes"


def test_a_wait_released_while_it_runs_says_the_seconds_still_left() -> None:
    fake = FakeTime()
    said: list[str] = []
    budget, held = spent_budget(fake, said)
    held("HTTP 503, retrying in 0.1 s (2/5)")
    fake.during_sleep = [(20.0, held.release)]  # the list is awaited 20 s into the wait
    budget.acquire()
    held("listed 3 assistant(s) in 2 request(s)")
    assert said == [
        "HTTP 503, retrying in 0.1 s (2/5)",
        "rate limit: waiting 40 s",
        "listed 3 assistant(s) in 2 request(s)",
    ]


def test_a_wait_over_before_release_says_it_waited() -> None:
    fake = FakeTime()
    said: list[str] = []
    budget, held = spent_budget(fake, said)
    budget.acquire()  # the whole 60 s pass before the list is awaited
    held("listed 3 assistant(s) in 2 request(s)")
    fake.now += 5.0
    assert said == []
    held.release()
    assert said == ["rate limit: waited 60 s", "listed 3 assistant(s) in 2 request(s)"]
    assert all(type(line) is str for line in said), "the sink gets plain text"


def test_a_429_wait_held_past_its_end_says_it_waited() -> None:
    fake = FakeTime()
    said: list[str] = []
    held = Held(said.append)
    budget = RateBudget(clock=fake.clock, sleep=fake.sleep, notify=held)
    budget.exhausted({}, retry_after=23.0)
    budget.acquire()
    held.release()
    assert said == ["rate limit: waited 23 s"]


def test_a_wait_said_after_release_is_the_live_line() -> None:
    fake = FakeTime()
    said: list[str] = []
    budget, held = spent_budget(fake, said)
    held.release()
    budget.acquire()
    line = rate_limit_wait(11.2, fake.now + 11.2, fake.clock)
    fake.now += 7.0  # said late, but not held: passed on as said, never restated
    held(line)
    assert said == ["rate limit: waiting 60 s", "rate limit: waiting 12 s"]


def test_a_dropped_wait_is_never_said() -> None:
    fake = FakeTime()
    said: list[str] = []
    budget, held = spent_budget(fake, said)
    budget.acquire()
    held.drop()
    held.release()
    assert said == []


def test_a_retry_line_restates_its_backoff() -> None:
    fake = FakeTime()
    line = retry_wait("HTTP 503", "2/5", 1.5, fake.clock)
    assert line == "HTTP 503, retrying in 1.5 s (2/5)"  # the live wording, as before
    fake.now += 1.0
    assert line.restated() == "HTTP 503, retrying in 0.5 s (2/5)"
    fake.now += 0.5
    assert line.restated() == "HTTP 503, retried after 1.5 s (2/5)"


def test_a_reason_with_braces_is_kept_as_it_is() -> None:
    # A transport error's wording can hold any text: it is never used as a format string.
    line = retry_wait("cannot connect ({host}:{port})", "2/5", 0.1, FakeTime().clock)
    assert line == "cannot connect ({host}:{port}), retrying in 0.1 s (2/5)"


def test_a_held_retry_of_the_client_says_it_retried() -> None:
    # The client's own backoff line, held as the early walk holds it and released after it.
    from test_client import ID, error, make_client, ok, sequence
    from test_client import FakeTime as ClientTime

    said: list[str] = []
    held = Held(said.append)
    fake = ClientTime()
    handler, _ = sequence(error(503, "down"), ok())
    make_client(handler, fake, notify=held).get_assistant(ID)
    held.release()
    assert said == ["HTTP 503, retried after 0.1 s (2/5)"]


# --- end to end: the early walk against the emulator's real rate limit ------------------------

COUNT = 20  # past 2 x 8: the early walk lists rather than GETs each id
IDS = [str(uuid.UUID(int=n + 1, version=4)) for n in range(COUNT)]
WINDOW = 1.0  # the emulator's window: the walk's second page waits for its end (1-2 s)


@pytest.fixture
def limited(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """COUNT manifests (cache filled: the walk starts early), an emulator admitting one
    request per WINDOW seconds and holding every assistant."""
    files = {
        f"assistants/line-{n:02}.yaml": f"id: {IDS[n]}\nname: Line {n}\n" for n in range(COUNT)
    }
    make_repo(config="manifests: assistants\n", files=files)
    for name in ("CI", "KATHANSYNC_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    with EmulatorServer(rate_limit=1, rate_window=WINDOW) as server:
        for n in range(COUNT):
            server.seed(IDS[n], name=f"Line {n}")
        monkeypatch.setenv("KATHAN_API_URL", server.url)
        monkeypatch.setenv("KATHAN_API_KEY", server.api_key)
        monkeypatch.setenv("KATHAN_USER_ID", server.user_id)
        assert invoke("validate").exit_code == 0
        assert Path(".kathansync/cache").is_dir()
        yield server


def test_a_wait_over_while_the_manifests_loaded_says_it_waited(
    limited: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = Run.load_result
    walked_early: list[bool] = []
    before = set(threading.enumerate())  # an earlier test's walk, abandoned, is not this one

    def slow_load(self: Run, **options: Any) -> Any:
        """Loading outlasts the walk, and with it the rate-limit wait."""
        walk = [t for t in threading.enumerate() if t.name == "kathansync-list" and t not in before]
        walked_early.append(bool(walk))
        for thread in walk:
            thread.join(timeout=10 * WINDOW + 5)
        return load(self, **options)

    monkeypatch.setattr(Run, "load_result", slow_load)
    started = time.monotonic()
    result = invoke("plan")
    assert result.exit_code == 0, result.output
    assert walked_early == [True]
    assert time.monotonic() - started >= WINDOW * 0.9, "the walk did wait for the window"
    assert "rate limit: waiting" not in result.output, result.output
    api, waited, listed = (
        result.output.index(text)
        for text in ("Kathan API:", "rate limit: waited ", "listed 20 assistant(s)")
    )
    assert api < waited < listed
