"""Ctrl-C during apply waits for the requests on the wire, even a lone one: each may land."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from conftest import MakeRepo, invoke

from kathansync.emulator import EmulatorServer
from kathansync.remote.threads import run_settling


@pytest.mark.parametrize(("items", "parallelism"), [([1], 4), ([1, 2], 1)])
def test_a_lone_write_in_flight_at_ctrl_c_is_waited_for(items: list[int], parallelism: int) -> None:
    """One change to apply, or --parallelism 1: the request on the wire may land, so it is
    waited for as when several go at once, and the next one never starts. On the caller's
    thread the Ctrl-C would cut it off mid-flight; a Ctrl-C while a worker thread was being
    started (ThreadPoolExecutor.submit) left that worker unjoined."""
    ended: list[int] = []

    def write(item: int) -> int:
        os.kill(os.getpid(), signal.SIGINT)  # at once: the caller may still be starting threads
        time.sleep(0.3)  # the answer comes after the interrupt
        ended.append(item)
        return item

    said: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        run_settling(write, items, parallelism, waiting=said.append)
    assert ended == [1]
    assert said == [1], "the user is told what the wait is for"


def test_an_error_waits_without_a_word() -> None:
    said: list[int] = []

    def write(item: int) -> int:
        if item == 0:
            raise ValueError("item 0")
        time.sleep(0.2)
        return item

    with pytest.raises(ValueError, match="item 0"):
        run_settling(write, [0, 1], 2, waiting=said.append)
    assert said == []


def test_an_error_waits_for_the_writes_after_it_and_starts_none() -> None:
    started: list[int] = []
    ended: list[int] = []

    def write(item: int) -> int:
        started.append(item)
        if item == 0:
            raise ValueError("item 0")
        time.sleep(0.2)
        ended.append(item)
        return item

    with pytest.raises(ValueError, match="item 0"):
        run_settling(write, list(range(10)), 2)
    assert sorted(ended) == sorted(started[1:]), "a write still running was not waited for"
    assert len(started) <= 3, started


def test_a_lone_create_answered_after_ctrl_c_is_recorded_as_created(
    make_repo: MakeRepo, kathan_env: EmulatorServer
) -> None:
    """One assistant to create, its POST answered 1 s late, Ctrl-C meanwhile: the answer is
    waited for, so the report says it was created and its id is written back (not left as
    'may have landed' for the next apply to puzzle over)."""
    repo = make_repo(config="manifests: assistants\n", files={"assistants/new.yaml": "name: N\n"})
    kathan_env.inject({"method": "POST", "path": "/assistants", "delay_ms": 1000})

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not kathan_env.stats()["methods"].get("POST"):
            time.sleep(0.02)
        time.sleep(0.2)  # the client now waits for the answer
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    interrupted = invoke("apply", "--auto-approve", "--no-backup")
    watcher.join()
    assert interrupted.exit_code == 1
    assert "done: new (created)" in interrupted.output, interrupted.output
    assert "interrupted: waiting for the answer to 1 request(s) already sent" in interrupted.output
    [created] = kathan_env.assistants
    assert f"id: {created}" in (repo / "assistants" / "new.yaml").read_text()
    pending = repo / ".kathansync" / "pending-creates.json"
    assert not pending.exists() or json.loads(pending.read_text())["creates"] == []
