"""Review of issue 16's remote fast paths: the early list walk, the shelf, the pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MakeRepo, invoke
from test_early_list import counted, fleet, late, walks  # noqa: F401 - fixtures

from kathansync.connect import listing_early
from kathansync.errors import ApiError
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.remote.early import Held
from kathansync.settings import Network, resolve_settings

COUNT = 60  # past one page of 50: the walk's second round runs on a pool
LOADING = 4500


def test_a_broken_manifest_exits_at_once_while_later_pages_hang(
    make_repo: MakeRepo, kathan_env: Any
) -> None:
    """The walk's second round (pool threads) is in flight when loading fails: the process
    must exit without waiting for those answers (here 8 s each)."""
    ids = [str(uuid.UUID(int=n + 1, version=4)) for n in range(COUNT)]
    # Many files: loading takes longer than the first page (the second round is then sent).
    files = {f"assistants/a{n:04}.yaml": f"name: B {n}\n" for n in range(LOADING)}
    files.update({f"assistants/a{n:02}.yaml": f"id: {ids[n]}\nname: A {n}\n" for n in range(COUNT)})
    files["assistants/zz.yaml"] = "id: [unclosed\n"
    make_repo(config="manifests: assistants\n", files=files)
    for n in range(COUNT):
        kathan_env.seed(ids[n], name=f"A {n}")
    kathan_env.inject(
        {"delay_ms": 1, "method": "GET", "path": "/assistants"},  # the first page: at once
        *[{"delay_ms": 8000, "method": "GET", "path": "/assistants"} for _ in range(4)],
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "KATHANSYNC_NO_CACHE")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kathansync", "plan"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "no change was sent" in done.stderr
    # The second round was in flight when loading failed (its requests took their faults).
    assert kathan_env.stats()["faults_pending"] < 4
    assert took < 5, f"the process waited {took:.1f} s for a walk nobody reads"


SECRET = "hook-token-8f2c1e9a7b"


def test_a_walk_error_echoing_a_manifest_secret_is_redacted(
    make_repo: MakeRepo, kathan_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The early walk's error was made before the manifests (and their secrets) were read:
    it is said with those secrets hidden all the same, as a walk after loading says it."""
    files = {f"assistants/a{n:02}.yaml": f"name: A {n}\n" for n in range(20)}
    files["assistants/hook.yaml"] = "name: Hook\nsystem_instruction: call ${HOOK}\n"
    make_repo(config="manifests: assistants\n", files=files)
    monkeypatch.setenv("HOOK", SECRET)
    kathan_env.inject({"status": 400, "method": "GET", "path": "/assistants", "detail": SECRET})
    result = invoke("plan")
    assert result.exit_code == 1
    assert "HTTP 400 from GET /assistants" in result.output
    assert SECRET not in result.output, result.output


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 401, "detail": "bad key"},
        {"status": 429, "retry_after": 1},
        {"status": 500, "detail": "boom"},
        {"drop": True},
    ],
)
def test_a_walk_error_reads_as_a_late_walk_reads_it(
    fleet: Any,  # noqa: F811 - the fixture
    walks: list[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, Any],
) -> None:
    """401, 429, 5xx, a dropped connection on the list: the same output (but for the
    jittered waits) and exit code, and the same requests, walked early or after loading."""
    faults = [{**fault, "method": "GET", "path": "/assistants"}] * 4
    fleet.inject(*faults)
    early, early_requests = counted(fleet, "plan", "-v", "--max-retries", "1")
    assert walks == ["started", "taken"]
    fleet.controls.reset()  # faults the first run left
    late(monkeypatch)
    fleet.inject(*faults)
    again, late_requests = counted(fleet, "plan", "-v", "--max-retries", "1")
    assert (early.exit_code, said(early.output)) == (again.exit_code, said(again.output))
    assert early_requests == late_requests


def said(output: str) -> list[str]:
    """The output's lines, a retry's or a wait's seconds (jittered, or to the next whole
    second of a rate-limit reset) left out."""
    return [re.sub(r"\d+(\.\d+)? s\b", "N s", line) for line in output.splitlines()]


def test_held_lines_stay_before_a_line_said_while_they_are_released() -> None:
    """A walk thread's new line must not overtake the held lines still being said."""
    said: list[str] = []
    late_line: list[threading.Thread] = []

    def say(line: str) -> None:
        said.append(line)
        if line == "first held" and not late_line:  # the walk says a line meanwhile
            late_line.append(threading.Thread(target=held, args=("said later",)))
            late_line[0].start()
            late_line[0].join(timeout=0.3)

    held = Held(say)
    held("first held")
    held("second held")
    held.release()
    late_line[0].join(timeout=5)
    assert said == ["first held", "second held", "said later"]


def test_held_remarks_and_log_lines_keep_their_order(make_repo: MakeRepo, kathan_env: Any) -> None:
    """-v: a retry's log line ("retrying GET ...") comes before its remark ("..., retrying in"),
    as a walk after loading says them; held apart, every remark came before every log line."""
    make_repo(config="manifests: assistants\n")
    kathan_env.inject({"status": 503, "method": "GET", "path": "/assistants"})
    settings = resolve_settings(
        directory=None, env=None, api_url=None, environ=dict(os.environ), cwd=Path.cwd()
    )
    said: list[str] = []
    access = listing_early(
        settings,
        Network(),
        lambda line: said.append(f"info {line}"),
        lambda line: said.append(f"log {line}"),
        prune=True,
    )
    assert access is not None and access.early is not None
    with access:
        access.early._thread.join(timeout=10)  # every line held
        assert said == []
        assert access.client.list_assistants() == []
    assert [line.split()[0] for line in said] == ["log", "info", "info"], said
    assert said[0].startswith("log retrying GET /assistants") and "503" in said[1]


@pytest.mark.parametrize("early", [True, False])
def test_a_list_the_api_cannot_answer_is_asked_for_once(
    fleet: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
    early: bool,
) -> None:
    """GET /assistants answered 404 for adoption: the fetch then GETs each id, without
    asking for the list a second time."""
    Path("assistants/new.yaml").write_text("name: New one\n")  # no id: adoption lists
    if not early:
        late(monkeypatch)
    fleet.inject(*[{"status": 404, "method": "GET", "path": "/assistants"}] * 2)
    result, requests = counted(fleet, "plan")
    assert result.exit_code == 0, result.output
    assert "cannot list assistants" in result.output
    assert requests == 1 + 20  # the list once, then each id


def test_an_answer_nested_too_deeply_is_an_api_error_not_a_traceback() -> None:
    """pydantic-core refuses JSON nested past its limit, and json.loads, its fallback, raised
    RecursionError (no ValueError): a traceback for what is only an unreadable answer."""
    deep = b"[" * 100_000 + b"]" * 100_000

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=deep, headers={"Content-Type": "application/json"})

    client = KathanClient(
        "http://127.0.0.1:9",
        Credentials("key-123456", "user"),
        transport=httpx.MockTransport(answer),
    )
    with client, pytest.raises(ApiError, match="expected JSON"):
        client.get_protected()
