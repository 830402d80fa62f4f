"""CONNECT: GET /assistants walked while the manifests load reads exactly as a walk after them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import MakeRepo, invoke

from kathansync import connect
from kathansync.connect import count_manifests
from kathansync.plan import change
from kathansync.remote.early import EarlyClient, Held
from kathansync.run import Run

COUNT = 20  # past 2 x 8: the client lists rather than GETs each id
IDS = [str(uuid.UUID(int=n + 1, version=4)) for n in range(COUNT)]


def manifest(n: int, speed: float = 1.0) -> str:
    return f"id: {IDS[n]}\nname: Line {n}\nvoice:\n  speed: {speed}\n"


@pytest.fixture
def fleet(make_repo: MakeRepo, kathan_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """COUNT manifests, the first three planned as updates; the emulator holding all of them;
    the manifest cache filled (the walk starts early only when loading reads the cache)."""
    files = {
        f"assistants/line-{n:02}.yaml": manifest(n, 1.2 if n < 3 else 1.0) for n in range(COUNT)
    }
    make_repo(config="manifests: assistants\n", files=files)
    for name in ("CI", "KATHANSYNC_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    for n in range(COUNT):
        kathan_env.seed(IDS[n], name=f"Line {n}", voice={"speed": 1})
    assert invoke("validate").exit_code == 0
    assert Path(".kathansync/cache").is_dir()
    return kathan_env


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names each early walk started ("started") and taken ("taken")."""
    seen: list[str] = []
    walk, take = EarlyClient._walk, EarlyClient.list_assistants

    def started(self: EarlyClient) -> None:
        seen.append("started")
        walk(self)

    def taken(self: EarlyClient, expected: int = 0) -> Any:
        seen.extend([] if self._taken else ["taken"])
        return take(self, expected)

    monkeypatch.setattr(EarlyClient, "_walk", started)
    monkeypatch.setattr(EarlyClient, "list_assistants", taken)
    return seen


def late(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run as it was before: no walk before loading."""
    monkeypatch.setattr(connect, "listing_early", lambda *_, **__: None)


def counted(emulator: Any, *args: str) -> tuple[Result, int]:
    before = emulator.stats()["total"]
    result = invoke(*args)
    wait_for_no_walk()
    return result, emulator.stats()["total"] - before


def wait_for_no_walk() -> None:
    deadline = time.monotonic() + 10
    while any(t.name == "kathansync-list" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the early walk never ended"
        time.sleep(0.01)


@pytest.mark.parametrize("args", [(), ("--format", "json"), ("--prune",), ("-v",)])
def test_early_and_late_plans_agree(
    fleet: Any, walks: list[str], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    early, early_requests = counted(fleet, "plan", *args)
    assert walks == ["started", "taken"]
    assert "3 to update" in early.output or '"update": 3' in early.output
    late(monkeypatch)
    again, late_requests = counted(fleet, "plan", *args)
    assert walks == ["started", "taken"], "the late run walks after loading, as before"
    assert (early.exit_code, early.output) == (again.exit_code, again.output)
    assert early_requests == late_requests == 2  # one page of 20, one more to tell the end


def test_what_the_walk_says_comes_after_the_api_line(fleet: Any, walks: list[str]) -> None:
    fleet.inject({"status": 503, "method": "GET", "path": "/assistants"})
    result = invoke("plan")
    assert result.exit_code == 0, result.output
    assert walks == ["started", "taken"]
    api, retry, listed = (
        result.output.index(text) for text in ("Kathan API:", "HTTP 503, retrying", "listed 20")
    )
    assert api < retry < listed


def test_an_unreachable_api_reads_as_it_did(
    fleet: Any, walks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KATHAN_API_URL", "http://127.0.0.1:9")  # discard: nothing listens
    early = invoke("plan", "--max-retries", "0")
    assert walks == ["started", "taken"]
    late(monkeypatch)
    again = invoke("plan", "--max-retries", "0")
    assert early.exit_code == again.exit_code == 1
    assert early.output == again.output
    assert early.output.startswith("Kathan API: http://127.0.0.1:9")


def test_a_broken_manifest_stops_the_walk_and_hears_nothing_of_it(
    fleet: Any, walks: list[str]
) -> None:
    Path("assistants/line-05.yaml").write_text("id: [unclosed\n")
    fleet.inject({"delay_ms": 400, "status": 503, "method": "GET", "path": "/assistants"})
    result, requests = counted(fleet, "plan")
    assert walks == ["started"]
    assert result.exit_code == 1
    assert "line-05.yaml:2:1: error: invalid YAML" in result.output
    # One GET went out before loading failed: the message promises no more than it keeps.
    assert "Error: 1 error(s) in manifests; no change was sent." in result.output
    for unsaid in ("Kathan API", "503", "retrying", "listed"):
        assert unsaid not in result.output
    assert requests == 1, "stopped before its next request"


def test_ctrl_c_while_loading_stops_the_walk(
    fleet: Any, walks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.inject({"delay_ms": 300, "method": "GET", "path": "/assistants"})

    def interrupted(self: Run, **_: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "load_result", interrupted)
    result, requests = counted(fleet, "plan")
    assert walks == ["started"]
    assert result.exit_code == 1 and "Aborted" in result.output
    assert "listed" not in result.output and requests == 1


def test_no_early_walk_for_a_few_manifests_or_a_target(
    make_repo: MakeRepo, fleet: Any, walks: list[str]
) -> None:
    assert invoke("plan", "--target", "line-01").exit_code == 0
    for extra in Path("assistants").glob("line-1*.yaml"):
        extra.unlink()
    result, requests = counted(fleet, "plan")
    assert result.exit_code == 0 and walks == []
    assert requests == 10  # ten GETs, one per id, as before


def test_prune_walks_early_even_for_a_few(fleet: Any, walks: list[str]) -> None:
    for extra in Path("assistants").glob("line-1*.yaml"):
        extra.unlink()
    result, requests = counted(fleet, "plan", "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert walks == ["started", "taken"]
    assert "10 to delete" in result.output and requests == 2


def test_held_lines_are_said_in_order_once_released() -> None:
    said: list[str] = []
    held = Held(said.append)
    held("one")
    held("two")
    assert said == []
    held.release()
    held("three")
    assert said == ["one", "two", "three"]
    held.drop()
    held("never")
    assert said == ["one", "two", "three"]


def test_count_manifests_counts_as_discover_does(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yml", "_defaults.yaml", ".hidden.yaml", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.yaml").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text("")
    assert count_manifests(tmp_path) == 3


def test_each_manifest_is_diffed_once_while_the_list_arrives(
    fleet: Any, walks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    diffed: list[str] = []
    real = change.diff_leaves

    def counting(desired: Any, remote: Any) -> Any:
        diffed.append(desired["name"])
        walks.append("diff")
        return real(desired, remote)

    monkeypatch.setattr(change, "diff_leaves", counting)
    fleet.inject({"delay_ms": 200, "method": "GET", "path": "/assistants"})  # still arriving
    result = invoke("plan")
    assert result.exit_code == 0
    assert walks == ["started", *["diff"] * COUNT, "taken"], "diffed before the list was taken"
    assert sorted(diffed) == sorted(f"Line {n}" for n in range(COUNT))


def test_a_load_that_builds_the_cache_walks_early(fleet: Any, walks: list[str]) -> None:
    # Whatever the fleet's size: beside a cold load of 10,000 the walk peaks at 170 MB.
    shutil.rmtree(".kathansync/cache")
    early, requests = counted(fleet, "plan")
    assert early.exit_code == 0 and walks == ["started", "taken"] and requests == 2


def test_a_plan_saved_from_an_early_walk_applies(fleet: Any, walks: list[str]) -> None:
    # Its fingerprints were taken while the list arrived: apply re-checks against them.
    assert invoke("plan", "--out", "plan.json").exit_code == 0
    assert walks == ["started", "taken"]
    result = invoke("apply", "plan.json")
    assert result.exit_code == 0, result.output
    assert "3 applied" in result.output and "0 stale" in result.output
    assert [fleet.assistants[IDS[n]]["voice"]["speed"] for n in range(4)] == [1.2, 1.2, 1.2, 1]


def test_the_walk_starts_before_the_pipeline_is_imported(fleet: Any) -> None:
    """plan's 0.1 to 0.2 s of imports (run, plan, models: pydantic) overlap the first pages
    only if the walk is started before them: in a fresh process, pinned here."""
    code = (
        "import sys\n"
        "from kathansync.remote.early import EarlyClient\n"
        "walk = EarlyClient._walk\n"
        "def seen(self):\n"
        "    print('pipeline imported:', 'kathansync.run' in sys.modules, file=sys.stderr)\n"
        "    walk(self)\n"
        "EarlyClient._walk = seen\n"
        "from kathansync.cli import main\n"
        "main(['plan'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "KATHANSYNC_NO_CACHE")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pipeline imported: False" in done.stderr
