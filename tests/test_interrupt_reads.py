"""Ctrl-C during reads ends the run at once: GETs in flight are abandoned, never joined."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import MakeRepo, invoke
from test_e2e_process import _wait_for_url

from kathansync.emulator import EmulatorServer
from kathansync.remote.threads import run_abandoning

LATENCY_MS = 20_000  # far past the test's patience: an exit that waits for a GET fails it
IDS = [str(uuid.UUID(int=n + 1, version=4)) for n in range(4)]
NAME = "kathansync-test-read"


@pytest.fixture
def slow_emulator(tmp_path: Path) -> Iterator[str]:
    """`python -m kathansync emulator` answering every API request 20 s late; its URL."""
    log = tmp_path / "emulator.log"
    command = [sys.executable, "-m", "kathansync", "emulator", "--port", "0"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--latency-ms", str(LATENCY_MS)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield _wait_for_url(process, log)
    finally:
        process.kill()  # nothing to keep, and terminating would wait for the GETs it holds
        process.wait()


def _gets(url: str) -> int:
    """GETs the emulator has received (counted on arrival, before its latency)."""
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as response:
        return int(json.loads(response.read())["methods"].get("GET", 0))


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    # Real time on purpose: other threads' and processes' progress, no clock to inject.
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("budget", "in_flight"),
    [
        # A known budget: both threads send at once; two GETs in flight, two not started.
        (["--rate-limit", "600"], 2),
        # None known: the first GET goes alone (pacing's probe), the other thread waits for it.
        ([], 1),
    ],
)
def test_ctrl_c_during_the_per_id_gets_exits_at_once(
    tmp_path: Path, slow_emulator: str, budget: list[str], in_flight: int
) -> None:
    """Four manifests at --parallelism 2: one GET per id (4 <= 2 x 2). SIGINT while they are
    in flight ends `plan` in well under the GETs' 20 s, as an interrupt always ends (exit 1,
    "Aborted."), and no GET is sent after it."""
    work = tmp_path / "repo"
    (work / "assistants").mkdir(parents=True)
    for n, assistant_id in enumerate(IDS):
        (work / "assistants" / f"line-{n}.yaml").write_text(f"id: {assistant_id}\nname: L{n}\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"NO_COLOR", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "KATHANSYNC_ENV"}
    }
    env.update(KATHAN_API_URL=slow_emulator, KATHAN_API_KEY="sk-e2e", KATHAN_USER_ID="e2e")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    command = [sys.executable, "-m", "kathansync", "plan", "--parallelism", "2"]
    plan = subprocess.Popen(
        [*command, "--timeout", "60", *budget],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until(lambda: _gets(slow_emulator) >= in_flight, 15, "the GETs never arrived")
        time.sleep(0.2)  # the threads now wait on their sockets (or for the budget)
        began = time.monotonic()
        plan.send_signal(signal.SIGINT)
        stdout, stderr = plan.communicate(timeout=10)
        took = time.monotonic() - began
    finally:
        if plan.poll() is None:
            plan.kill()
            plan.communicate()
    # Far below the GETs' 20 s, far above an exit's time on a loaded 2-core CI machine.
    assert took < 6.0, f"exit took {took:.1f} s after SIGINT: a GET in flight was waited for"
    assert plan.returncode == 1, (stdout, stderr)
    assert stderr.strip().endswith("Aborted."), stderr  # click turns a Ctrl-C into Abort
    assert "Traceback" not in stderr, stderr
    assert _gets(slow_emulator) == in_flight, "a GET was sent after the interrupt"


def _wait_for_no_thread_named(name: str) -> None:
    _wait_until(
        lambda: not any(t.name == name for t in threading.enumerate()),
        10,
        f"a {name} thread never ended",
    )


def test_no_item_starts_after_ctrl_c_and_none_in_flight_is_waited_for() -> None:
    gate = threading.Event()  # the answers of the two items in flight
    started: list[int] = []
    lock = threading.Lock()

    def fetch(item: int) -> int:
        with lock:
            started.append(item)
            second = len(started) == 2
        if second:  # both threads busy: Ctrl-C, heard by the thread waiting for results
            os.kill(os.getpid(), signal.SIGINT)
        gate.wait(10)
        return item

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_abandoning(fetch, list(range(6)), 2, name=NAME)
    assert time.monotonic() - began < 3, "an item in flight was waited for"
    gate.set()  # the answers come: the threads end instead of taking items 2 to 5
    _wait_for_no_thread_named(NAME)
    assert sorted(started) == [0, 1]


def test_an_error_stops_later_items_and_the_first_in_input_order_is_raised() -> None:
    """Item 1 fails at once; item 0, still running, fails later: item 0's error is the one
    raised (as run_settling raises), and no item after the failure starts."""
    started: list[int] = []

    def fetch(item: int) -> int:
        started.append(item)
        if item == 0:
            _wait_until(lambda: 1 in started, 5, "item 1 never started")
            time.sleep(0.1)  # item 1 has failed: the other thread would take item 2 next
        raise ValueError(f"item {item}")

    with pytest.raises(ValueError, match="item 0"):
        run_abandoning(fetch, list(range(6)), 2, name=NAME)
    _wait_for_no_thread_named(NAME)
    assert sorted(started) == [0, 1]


def test_an_error_is_raised_once_the_reads_in_flight_have_ended() -> None:
    # Abandoned, a read still retrying would print its retry lines and spend the rate budget
    # while the client moved on to its per-id fallback. Only Ctrl-C abandons.
    running, answered = threading.Event(), threading.Event()

    def fetch(item: int) -> int:
        if item == 0:
            running.wait(10)
            raise ValueError("item 0")
        running.set()
        time.sleep(0.3)  # an answer that comes after the error
        answered.set()
        return item

    with pytest.raises(ValueError, match="item 0"):
        run_abandoning(fetch, [0, 1, 2, 3], 2, name=NAME)
    assert answered.is_set(), "the read in flight was abandoned"
    _wait_for_no_thread_named(NAME)


def test_results_come_in_input_order() -> None:
    def slow_first(item: int) -> int:
        time.sleep(0.01 * (10 - item))
        return item * 2

    assert run_abandoning(slow_first, list(range(10)), 4, name=NAME) == list(range(0, 20, 2))
    assert run_abandoning(slow_first, [3], 4, name=NAME) == [6]
    assert run_abandoning(slow_first, [], 4, name=NAME) == []


CHAT_SUITE = """\
assistant: support
cases:
  - name: greets
    repeat: 3
    turns:
      - user: "hello"
        expect: {not_empty: true}
"""


def test_ctrl_c_during_test_s_chat_turns_does_not_wait_for_the_answers(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """A chat turn changes no assistant and nothing records its answer: `kathansync test`
    stopped while the model thinks ends at once, as `plan` does."""
    files = {"assistants/support.yaml": f"id: {IDS[0]}\nname: Support\n"}
    make_repo(files={**files, "conversations/support.yaml": CHAT_SUITE})
    kathan_env.seed(IDS[0], name="Support")
    for _ in range(3):
        kathan_env.inject({"method": "POST", "path": "/chat", "delay_ms": LATENCY_MS})

    interrupted: list[float] = []  # when: the time to exit counts from the signal, not
    # from the command's start (its loading takes seconds on a loaded machine)

    def interrupt_once_asked() -> None:
        _wait_until(lambda: kathan_env.stats()["methods"].get("POST", 0) >= 2, 10, "no chat")
        time.sleep(0.2)  # the threads now wait for the answers
        interrupted.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=interrupt_once_asked, daemon=True)
    watcher.start()
    result = invoke("test", "--parallelism", "2", "--timeout", "60", "--rate-limit", "600")
    ended = time.monotonic()
    watcher.join()
    assert interrupted, result.output
    took = ended - interrupted[0]
    assert took < 6, f"`test` took {took:.1f} s after Ctrl-C: an answer in flight was waited for"
    assert result.exit_code == 1
    assert result.output.strip().endswith("Aborted.")
    assert kathan_env.stats()["methods"]["POST"] == 2, "a conversation started after Ctrl-C"
