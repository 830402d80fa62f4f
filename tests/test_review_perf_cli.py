"""Review of the lazy CLI, the backup's one-line layout, the emulator's encoded pages and the
packaging (issue 16): regressions found in review, each proven by a failing test first."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

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
