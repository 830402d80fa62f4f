"""Resilience end to end: retries, timeouts, dropped connections, parallelism and output order,
through the real CLI (or the Run with a short-timeout client) against the emulator.

Every scenario ends on the same invariant: each remote assistant equals its snapshot from
before the run with the manifest's leaves laid over it (so the desired leaves are there and no
unmanaged field moved), and `plan --detailed-exitcode` says "No changes.". The emulator's
request counts prove the retries really happened (or really did not).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from conftest import invoke

from kathansync.apply import Status
from kathansync.emulator import EmulatorServer
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.run import ApiAccess, Run
from kathansync.settings import resolve_settings

# --- a fleet of assistants, some drifted, with fields the manifests do not manage ---------------


def assistant_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def desired_leaves(index: int) -> dict[str, Any]:
    """What manifest `index` manages: a top-level string, a nested float, nested enum and list."""
    return {
        "name": f"Assistant {index:02d}",
        "voice": {"speed": 1.1},
        "call_actions": {"transfer_mode": "warm", "hangup_triggers": ["bye", "goodbye"]},
    }


def manifest_yaml(index: int, *, with_id: bool = True) -> str:
    head = f"id: {assistant_id(index)}\n" if with_id else ""
    return head + (
        f"name: Assistant {index:02d}\n"
        "voice:\n"
        "  speed: 1.1\n"
        "call_actions:\n"
        "  transfer_mode: warm\n"
        "  hangup_triggers: [bye, goodbye]\n"
    )


def seed_remote(emulator: EmulatorServer, index: int, *, changed: bool) -> None:
    """Unmanaged siblings in every object the manifest touches, so a partial PUT would lose them."""
    emulator.seed(
        assistant_id(index),
        name=f"Assistant {index:02d}",
        description=f"Unmanaged description {index}",
        phone_number_id=f"phone-{index}",
        voice={"voice_id": f"voice-{index}", "speed": 1 if changed else 1.1},
        call_actions={
            "transfer_mode": "cold" if changed else "warm",
            "transfer_number": f"+1555010{index:04d}",
            "hangup_triggers": ["bye"] if changed else ["bye", "goodbye"],
        },
    )


def overlay(base: Mapping[str, Any], leaves: Mapping[str, Any]) -> dict[str, Any]:
    """`leaves` deep-merged over `base` (lists replaced): what a correct apply must leave."""
    result = copy.deepcopy(dict(base))
    for key, value in leaves.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = overlay(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@dataclass
class Fleet:
    """Manifests a00..aNN in `root/assistants`, the emulator seeded, and its state before."""

    root: Path
    emulator: EmulatorServer
    count: int
    changed: frozenset[int]
    before: dict[str, dict[str, Any]]

    def handle(self, index: int) -> str:
        return f"a{index:02d}"

    @property
    def changed_handles(self) -> list[str]:
        return [self.handle(i) for i in sorted(self.changed)]

    def assert_converged(self, *, except_: frozenset[int] = frozenset()) -> None:
        """Desired leaves on every remote, nothing else moved; `except_` must be untouched."""
        remote = self.emulator.assistants
        assert set(remote) == set(self.before), "an assistant was created or deleted"
        for index in range(self.count):
            key = assistant_id(index)
            if index in except_:
                assert remote[key] == self.before[key], f"{self.handle(index)} was changed"
            else:
                expected = overlay(self.before[key], desired_leaves(index))
                assert remote[key] == expected, f"{self.handle(index)} did not converge"
        if not except_:
            result = invoke("plan", "--detailed-exitcode", "--no-color")
            assert result.exit_code == 0, result.output
            assert "No changes." in result.stdout


def make_fleet(
    root: Path, emulator: EmulatorServer, *, count: int = 12, changed: frozenset[int] | None = None
) -> Fleet:
    changed = frozenset(range(0, count, 2)) if changed is None else changed
    for index in range(count):
        (root / "assistants" / f"a{index:02d}.yaml").write_text(manifest_yaml(index))
        seed_remote(emulator, index, changed=index in changed)
    before = copy.deepcopy(emulator.assistants)
    return Fleet(root, emulator, count, changed, before)


@pytest.fixture
def fleet(repo: Path, kathan_env: EmulatorServer) -> Fleet:
    """12 assistants, 6 of them (a00, a02, ...) drifted from their manifests."""
    return make_fleet(repo, kathan_env)


def apply_json(*extra: str) -> tuple[Result, dict[str, Any]]:
    result = invoke("apply", "--auto-approve", "--format", "json", *extra)
    return result, json.loads(result.stdout)


def statuses(data: Mapping[str, Any]) -> dict[str, str]:
    return {o["handle"]: o["status"] for o in data["outcomes"]}


def expect_all_ok(fleet: Fleet, data: Mapping[str, Any]) -> None:
    expected = {
        fleet.handle(i): "applied" if i in fleet.changed else "unchanged"
        for i in range(fleet.count)
    }
    assert statuses(data) == expected


def count(stats: Mapping[str, Any], method: str) -> int:
    return int(stats["methods"].get(method, 0))


def status_count(stats: Mapping[str, Any], status: int) -> int:
    return int(stats["statuses"].get(str(status), 0))


# --- retried failures: 503 bursts, 429 with Retry-After, dropped connections -------------------


def test_a_burst_of_503s_on_puts_is_retried_and_converges(fleet: Fleet) -> None:
    fleet.emulator.inject(*[{"status": 503, "method": "PUT"}] * 3)
    result, data = apply_json()
    assert result.exit_code == 0, result.output
    expect_all_ok(fleet, data)
    stats = fleet.emulator.stats()
    assert stats["faults_pending"] == 0
    assert status_count(stats, 503) == 3
    assert count(stats, "PUT") == len(fleet.changed) + 3  # each 503 cost exactly one more PUT
    fleet.assert_converged()


class FakeTime:
    """An injectable clock: sleep() records the delay and moves the clock, instantly."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_429_retry_after_is_honoured_on_get_and_put(fleet: Fleet) -> None:
    fleet.emulator.inject(
        {"status": 429, "retry_after": 1, "method": "GET"},
        {"status": 429, "retry_after": 1, "method": "PUT"},
    )
    lines: list[str] = []
    fake = FakeTime()
    session, conn = session_with(
        fleet.root, fleet.emulator, lines, sleep=fake.sleep, clock=fake.clock, wall=fake.clock
    )
    with conn:
        outcomes = session.apply(conn, session.plan(conn, session.load()), {})
    assert all(o.status.ok for o in outcomes), outcomes
    # Fetch then apply: each 429 waits the server's 1 s, and nothing else waits.
    assert fake.sleeps == [1.0, 1.0], fake.sleeps
    assert lines.count("rate limit: waiting 1 s") == 2, lines
    retries = [line for line in lines if line.startswith("retrying")]
    assert len(retries) == 2 and all("(HTTP 429, try 2/5)" in line for line in retries), retries
    stats = fleet.emulator.stats()
    assert status_count(stats, 429) == 2 and stats["faults_pending"] == 0
    assert count(stats, "GET") == fleet.count + 1
    assert count(stats, "PUT") == len(fleet.changed) + 1
    fleet.assert_converged()


def test_a_dropped_put_is_retried_since_put_is_idempotent(fleet: Fleet) -> None:
    fleet.emulator.inject({"drop": True, "method": "PUT"})
    result, data = apply_json()
    assert result.exit_code == 0, result.output
    expect_all_ok(fleet, data)
    stats = fleet.emulator.stats()
    assert stats["faults_pending"] == 0
    assert count(stats, "PUT") == len(fleet.changed) + 1
    assert status_count(stats, 200) == fleet.count + len(fleet.changed)  # the drop answered nothing
    fleet.assert_converged()


def test_a_failure_outlasting_the_retries_fails_that_assistant_only(fleet: Fleet) -> None:
    victim = min(fleet.changed)
    path = f"/assistants/{assistant_id(victim)}"
    fleet.emulator.inject(*[{"status": 503, "method": "PUT", "path": path}] * 10)
    result, data = apply_json("--max-retries", "1")
    assert result.exit_code == 1
    by_handle = {o["handle"]: o for o in data["outcomes"]}
    failed = by_handle[fleet.handle(victim)]
    assert failed["status"] == "failed"
    assert failed["http_status"] == 503
    assert "HTTP 503" in failed["message"] and fleet.handle(victim) in failed["message"]
    others = {h: s for h, s in statuses(data).items() if h != fleet.handle(victim)}
    assert set(others.values()) == {"applied", "unchanged"}
    assert data["summary"]["failed"] == 1
    assert data["summary"]["applied"] == len(fleet.changed) - 1
    assert data["summary"]["unchanged"] == fleet.count - len(fleet.changed)
    stats = fleet.emulator.stats()
    assert stats["faults_pending"] == 8  # --max-retries 1: two tries, no more
    assert count(stats, "PUT") == len(fleet.changed) - 1 + 2
    fleet.assert_converged(except_=frozenset({victim}))
    # The failed change is still pending, and only it.
    plan = json.loads(invoke("plan", "--format", "json").stdout)
    pending = [c["handle"] for c in plan["changes"] if c["action"] != "no-op"]
    assert pending == [fleet.handle(victim)]


@pytest.mark.parametrize("verbose", [True, False])
def test_retries_are_shown_as_they_happen_with_detail_under_verbose(
    fleet: Fleet, verbose: bool
) -> None:
    fleet.emulator.inject({"status": 503, "method": "PUT"})
    result, data = apply_json(*(["--verbose"] if verbose else []))
    assert result.exit_code == 0, result.output
    expect_all_ok(fleet, data)
    assert status_count(fleet.emulator.stats(), 503) == 1  # a retry did happen either way
    # Without --verbose too: a run that seems stuck says why, as it happens.
    shown = [line for line in result.stderr.splitlines() if line.startswith("HTTP 503, retrying")]
    assert len(shown) == 1 and shown[0].endswith("(2/5)"), result.stderr
    detailed = [line for line in result.stderr.splitlines() if line.startswith("retrying")]
    if verbose:
        assert len(detailed) == 1, result.stderr
        assert detailed[0].startswith("retrying PUT /assistants/")
        assert "(HTTP 503, try 2/5)" in detailed[0]
    else:
        assert detailed == []
    assert "retrying" not in result.stdout  # stdout stays the JSON result
    fleet.assert_converged()


# --- a timeout: at the Run level, with a client whose timeout a test can wait for ----------


def session_with(
    root: Path, emulator: EmulatorServer, lines: list[str], **client_options: Any
) -> tuple[Run, ApiAccess]:
    """The CLI's pipeline with a client the test configures (a short timeout, a fake clock)."""
    settings = resolve_settings(
        directory=None, env=None, api_url=emulator.url, environ=os.environ, cwd=root
    )
    client = KathanClient(
        emulator.url,
        Credentials(emulator.api_key, emulator.user_id),
        log=lines.append,
        notify=lines.append,
        **client_options,
    )
    return Run(settings, info=lines.append, log=lines.append), ApiAccess(client, emulator.api_key)


def short_timeout_session(
    root: Path, emulator: EmulatorServer, lines: list[str], timeout: float
) -> tuple[Run, ApiAccess]:
    """The CLI's pipeline with a 0.x s timeout (the CLI's default is 10 s)."""
    return session_with(root, emulator, lines, timeout=timeout)


def test_a_put_that_times_out_is_retried_and_converges(fleet: Fleet) -> None:
    target = assistant_id(min(fleet.changed))
    fleet.emulator.inject({"delay_ms": 1200, "method": "PUT", "path": f"/assistants/{target}"})
    lines: list[str] = []
    session, conn = short_timeout_session(fleet.root, fleet.emulator, lines, timeout=0.4)
    with conn:
        run_ = session.plan(conn, session.load())
        outcomes = session.apply(conn, run_, {})
    assert {o.handle: o.status for o in outcomes} == {
        fleet.handle(i): Status.APPLIED if i in fleet.changed else Status.UNCHANGED
        for i in range(fleet.count)
    }
    assert any("timed out after 0.4 s" in line and target in line for line in lines), lines
    assert count(fleet.emulator.stats(), "PUT") == len(fleet.changed) + 1
    fleet.assert_converged()


# --- creates: a POST is never retried after an ambiguous failure ------------------------------


NEW = 99  # the index of the manifest without an id


@pytest.fixture
def fleet_with_new(fleet: Fleet) -> Fleet:
    (fleet.root / "assistants" / f"a{NEW}.yaml").write_text(manifest_yaml(NEW, with_id=False))
    return fleet


def named(emulator: EmulatorServer, name: str) -> list[dict[str, Any]]:
    return [a for a in emulator.assistants.values() if a["name"] == name]


def test_a_dropped_post_is_not_retried_and_adoption_finds_the_assistant(
    fleet_with_new: Fleet,
) -> None:
    fleet, handle, name = fleet_with_new, f"a{NEW}", f"Assistant {NEW}"
    fleet.emulator.inject({"drop": True, "method": "POST"})
    result, data = apply_json()
    assert result.exit_code == 1
    outcome = {o["handle"]: o for o in data["outcomes"]}[handle]
    assert outcome["status"] == "failed" and outcome["action"] == "create"
    assert "may have been created" in outcome["message"]
    stats = fleet.emulator.stats()
    assert count(stats, "POST") == 1 and stats["faults_pending"] == 0
    assert "id:" not in (fleet.root / "assistants" / f"{handle}.yaml").read_text()
    # The emulator drops before processing; a real server may well have created it. Put it
    # there as such a server would have, with the body that was sent.
    created = "00000000-0000-4000-8000-00000000abcd"
    fleet.emulator.seed(created, **desired_leaves(NEW))
    plan = json.loads(invoke("plan", "--format", "json").stdout)
    entry = {c["handle"]: c for c in plan["changes"]}[handle]
    assert entry["id"] == created and entry.get("adopted") is True
    assert entry["action"] != "create" and plan["summary"]["create"] == 0
    result, data = apply_json()
    assert result.exit_code == 0, result.output
    assert count(fleet.emulator.stats(), "POST") == 1  # still the one: no second create
    assert len(named(fleet.emulator, name)) == 1
    assert f"id: {created}" in (fleet.root / "assistants" / f"{handle}.yaml").read_text()


def test_a_post_that_times_out_is_not_retried_and_never_creates_twice(
    fleet_with_new: Fleet,
) -> None:
    """The truly ambiguous case: the POST reached the server and the answer never came."""
    fleet, handle, name = fleet_with_new, f"a{NEW}", f"Assistant {NEW}"
    fleet.emulator.inject({"delay_ms": 600, "method": "POST"})
    lines: list[str] = []
    session, conn = short_timeout_session(fleet.root, fleet.emulator, lines, timeout=0.3)
    with conn:
        outcomes = session.apply(conn, session.plan(conn, session.load()), {})
    outcome = {o.handle: o for o in outcomes}[handle]
    assert outcome.status is Status.FAILED
    assert outcome.message and "may have been created" in outcome.message
    assert "timed out after 0.3 s" in outcome.message
    assert not any(line.startswith("retrying POST") for line in lines), lines
    assert count(fleet.emulator.stats(), "POST") == 1
    # The server did process the late POST: the next plan adopts it by name, never a second.
    # Real time on purpose: the emulator's thread is still sleeping the injected delay.
    deadline = time.monotonic() + 3
    while not named(fleet.emulator, name):
        assert time.monotonic() < deadline, "the late POST was never processed"
        time.sleep(0.05)
    plan = json.loads(invoke("plan", "--format", "json").stdout)
    entry = {c["handle"]: c for c in plan["changes"]}[handle]
    assert entry.get("adopted") is True and entry["action"] != "create"
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert len(named(fleet.emulator, name)) == 1
    assert count(fleet.emulator.stats(), "POST") == 1


# --- parallelism: deterministic order, and the bound holds -------------------------------------


def test_output_is_sorted_by_handle_whatever_the_completion_order(fleet: Fleet) -> None:
    # The earlier the handle, the later its answer: completion order is the reverse of handles.
    for index in range(fleet.count):
        path = f"/assistants/{assistant_id(index)}"
        delay = (fleet.count - index) * 40
        fleet.emulator.inject({"delay_ms": delay, "method": "GET", "path": path})
    plan = json.loads(invoke("plan", "--format", "json", "--parallelism", "8").stdout)
    handles = [c["handle"] for c in plan["changes"]]
    assert handles == sorted(handles) and len(handles) == fleet.count
    assert fleet.emulator.stats()["faults_pending"] == 0  # the delays were really served

    for index in sorted(fleet.changed):
        path = f"/assistants/{assistant_id(index)}"
        fleet.emulator.inject(
            {"delay_ms": (fleet.count - index) * 40, "method": "PUT", "path": path}
        )
    result, data = apply_json("--parallelism", "8")
    assert result.exit_code == 0, result.output
    handles = [o["handle"] for o in data["outcomes"]]
    assert handles == [fleet.handle(i) for i in range(fleet.count)]
    assert fleet.emulator.stats()["faults_pending"] == 0
    expect_all_ok(fleet, data)
    fleet.assert_converged()


@pytest.fixture
def slow_fleet(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    """16 assistants, all drifted, behind 150 ms of latency per request."""
    with EmulatorServer(latency_ms=150) as emulator:
        monkeypatch.setenv("KATHAN_API_URL", emulator.url)
        monkeypatch.setenv("KATHAN_API_KEY", emulator.api_key)
        monkeypatch.setenv("KATHAN_USER_ID", emulator.user_id)
        yield make_fleet(repo, emulator, count=16, changed=frozenset(range(16)))


class InFlight(httpx.BaseTransport):
    """A real transport that counts how many requests are in flight at once."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.now = self.most = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            response = self._inner.handle_request(request)
            response.read()
            return response
        finally:
            with self._lock:
                self.now -= 1

    def close(self) -> None:
        self._inner.close()


def test_parallelism_bounds_concurrent_requests(slow_fleet: Fleet) -> None:
    lines: list[str] = []
    counter = InFlight()
    session, conn = session_with(
        slow_fleet.root, slow_fleet.emulator, lines, parallelism=4, transport=counter
    )
    with conn:
        outcomes = session.apply(conn, session.plan(conn, session.load()), {})
    assert all(o.status is Status.APPLIED for o in outcomes), outcomes
    stats = slow_fleet.emulator.stats()
    # 16 ids > 2 x parallelism: one list walk (a short page, then the probe past it), then 16
    # PUTs, 150 ms each, never more than 4 at once (and 4 at once at some point: the bound is
    # used, not just respected).
    assert count(stats, "GET") == 2 and count(stats, "PUT") == 16
    assert counter.most == 4
    slow_fleet.assert_converged()
