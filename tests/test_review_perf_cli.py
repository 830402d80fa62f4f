"""Review of the lazy CLI, the backup's one-line layout, the emulator's encoded pages and the
packaging (issue 16): regressions found in review, each proven by a failing test first."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from kathansync.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]


def _dependency(name: str) -> Requirement:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = [Requirement(d) for d in pyproject["project"]["dependencies"]]
    return next(r for r in found if r.name == name)


def test_click_floor_has_the_no_such_command_error_the_lazy_group_catches() -> None:
    """KathansyncGroup.resolve_command catches click.exceptions.NoSuchCommand (click 8.4.0):
    with click 8.3.1, which `click>=8.2` allowed, `kathansync plna` ended in an
    AttributeError traceback instead of "No such command 'plna'." and exit 1."""
    import click.exceptions

    assert hasattr(click.exceptions, "NoSuchCommand")  # the installed click has it
    allowed = _dependency("click").specifier
    assert not allowed.contains("8.3.1"), "click 8.3 has no NoSuchCommand"
    assert allowed.contains("8.4.0")


def _complete(cwd: Path, words: str, cword: int) -> subprocess.CompletedProcess[str]:
    """`kathansync` asked for completions by bash, as the shell asks on <TAB>."""
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    env["_KATHANSYNC_COMPLETE"] = "bash_complete"
    return subprocess.run(
        [sys.executable, "-m", "kathansync"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_completion_of_handles_skips_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    """A manifest named in latin-1 (`validate` says: rename it) made every `--target <TAB>`
    print a UnicodeEncodeError traceback into the user's shell: completion must stay silent
    on a problem, and still offer the other handles."""
    (tmp_path / "kathansync.yaml").write_text("manifests: assistants\n", encoding="utf-8")
    folder = tmp_path / "assistants"
    folder.mkdir()
    (folder / "support.yaml").write_text("name: Support\n", encoding="utf-8")
    (folder / os.fsdecode(b"caf\xe9.yaml")).write_text("name: Cafe\n", encoding="utf-8")
    done = _complete(tmp_path, "kathansync plan --target ", 3)
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["plain,support"]


def test_emulator_list_page_far_past_the_end_is_an_answer_not_a_500() -> None:
    """Store.page took the page with itertools.islice, which refuses a bound above
    sys.maxsize: `?limit=10**20` (no maximum is documented) or a huge offset answered 500
    with a traceback, where the list slice it replaced answered the rest or nothing."""
    huge = 10**20
    with (
        EmulatorServer() as emulator,
        httpx.Client(base_url=emulator.url, headers=emulator.headers) as client,
    ):
        for n in range(3):
            emulator.seed(str(uuid.UUID(int=n + 1, version=4)), name=f"n{n}")
        whole = client.get("/assistants", params={"limit": huge})
        rest = client.get("/assistants", params={"limit": huge, "offset": 1})
        past = client.get("/assistants", params={"offset": huge})

    assert [whole.status_code, rest.status_code, past.status_code] == [200, 200, 200]
    assert [a["name"] for a in whole.json()] == ["n0", "n1", "n2"]
    assert [a["name"] for a in rest.json()] == ["n1", "n2"]
    assert past.json() == []


def test_emulator_list_page_never_answers_json_it_cannot_read() -> None:
    """JSONResponse refused NaN; the page encoded by hand must too (NaN is not JSON)."""
    from kathansync.emulator.store import Store

    store = Store()
    store.assistants["a"] = {"id": "a", "voice": {"speed": float("nan")}}
    with pytest.raises(ValueError, match="not JSON compliant"):
        store.page(0, 50)
