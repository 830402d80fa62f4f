"""Review of the lazy CLI, the backup's one-line layout, the emulator's encoded pages and the
packaging (issue 16): regressions found in review, each proven by a failing test first."""

from __future__ import annotations

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
