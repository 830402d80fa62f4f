"""Atomic writes: old or new content, never half; nothing overwritten when told so."""

from __future__ import annotations

from pathlib import Path

import pytest

from kathansync import atomic
from kathansync.atomic import write_atomic


def test_replaces_and_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    path.chmod(0o640)
    write_atomic(path, "a: 2\n")
    assert path.read_text(encoding="utf-8") == "a: 2\n"
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_new_file_is_not_private(tmp_path: Path) -> None:
    path = tmp_path / "new.yaml"
    write_atomic(path, "a: 1\n")
    assert path.stat().st_mode & 0o044, "readable by group/others as umask allows, not 0600"


def test_never_overwrites_when_told_not_to(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("mine\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        write_atomic(path, "theirs\n", overwrite=False)
    assert path.read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]
    write_atomic(tmp_path / "b.yaml", "new\n", overwrite=False)
    assert (tmp_path / "b.yaml").read_text(encoding="utf-8") == "new\n"


def test_a_crash_before_the_rename_leaves_the_original_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("old\n", encoding="utf-8")

    def crash(source: str, target: str) -> None:
        assert Path(source).read_text(encoding="utf-8") == "new\n"  # fully written first
        raise OSError("power cut")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        write_atomic(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]
