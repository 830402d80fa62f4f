"""Review of issue 16's loading fast paths: the warm lane and the cache must give exactly what
the full loader gives, and the loader must not quietly skip what it cannot read."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kathansync.errors import ConfigError
from kathansync.load import LoadResult, load_manifests, loader
from kathansync.settings import load_config


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "kathansync.yaml", "")
    write(tmp_path / "assistants/a.yaml", "name: A\n")
    return tmp_path


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path) -> None:
    path.mkdir()


def _dangling(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere.yaml")


ODD_DEFAULTS: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "directory": _folder,
    "dangling-link": _dangling,
}


def _defaults_problem(result: LoadResult) -> bool:
    return any("_defaults.yaml" in p.file for p in result.errors) and not result.manifests


@pytest.mark.parametrize("kind", ODD_DEFAULTS)
def test_unreadable_defaults_file_is_a_problem_not_absent(repo: Path, kind: str) -> None:
    """A `_defaults.yaml` that is there but not a regular file was treated as absent: the
    manifest was planned without its defaults. It must be an error naming the file."""
    ODD_DEFAULTS[kind](repo / "assistants/_defaults.yaml")
    result = loader.load_manifests(repo / "assistants")
    assert _defaults_problem(result), result.problems


@pytest.mark.parametrize("kind", ODD_DEFAULTS)
def test_cached_manifest_misses_when_defaults_become_unreadable(repo: Path, kind: str) -> None:
    """A manifest cached while it had no `_defaults.yaml` must not be replayed (warm lane or
    loader) once a `_defaults.yaml` that cannot be read appears beside it."""
    options = {
        "cache_dir": repo / ".kathansync/cache",
        "environ": {"XDG_CACHE_HOME": str(repo.parent / "xdg")},  # where the signing key is
    }
    first = load_manifests(repo / "assistants", **options)
    assert not first.problems and first.manifests
    assert list((repo / ".kathansync/cache").glob("manifests-*.bin"))  # stored: a hit next
    ODD_DEFAULTS[kind](repo / "assistants/_defaults.yaml")
    assert _defaults_problem(load_manifests(repo / "assistants", **options))
    write(repo / "assistants/b.yaml", "name: B\n")  # not servable whole: the loader's replay
    assert _defaults_problem(load_manifests(repo / "assistants", **options))


@pytest.mark.parametrize("linked", [".kathansync/cache", ".kathansync"])
def test_a_cache_folder_that_is_a_symlink_is_not_written_through(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, linked: str
) -> None:
    """A branch can commit `.kathansync/cache` (or `.kathansync`) as a symlink: the cache was
    written wherever it pointed, and pruning there deleted any file named `manifests*`."""
    outside = tmp_path_factory.mktemp("outside")
    keep = outside / "manifests.txt"
    keep.write_text("not ours\n", encoding="utf-8")
    target = outside / "cache" if linked == ".kathansync" else outside
    target.mkdir(exist_ok=True)
    (repo / linked).parent.mkdir(parents=True, exist_ok=True)
    (repo / linked).symlink_to(outside)
    if linked == ".kathansync":
        keep = target / "manifests.txt"
        keep.write_text("not ours\n", encoding="utf-8")
    environ = {"XDG_CACHE_HOME": str(repo.parent / "xdg")}
    result = load_manifests(
        repo / "assistants", cache_dir=repo / ".kathansync/cache", environ=environ
    )
    assert result.manifests and not result.problems
    assert keep.read_text(encoding="utf-8") == "not ours\n"
    assert not list(outside.rglob("manifests-*"))


@pytest.mark.parametrize("sign", ["", "-"])
def test_a_number_too_large_for_a_float_in_settings_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sign: str
) -> None:
    """`prune_threshold: 1000...0` (400 digits): the hand-written check found the bound broken,
    then converted it with float() anyway: OverflowError, a traceback. pydantic, which the file
    was read with before, says it is not a number."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "kathansync.yaml", f"prune_threshold: {sign}1{'0' * 400}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    message = str(caught.value)
    assert message.startswith("kathansync.yaml:1:18: error: prune_threshold: expected a number,")
    assert "\n" not in message


@pytest.mark.parametrize("kind", ODD_DEFAULTS)
def test_a_kathansync_yaml_that_cannot_be_read_is_an_error_not_absent(
    tmp_path: Path, kind: str
) -> None:
    """kathansync.yaml as a FIFO, a folder or a dangling link was taken for no file at all:
    the run went on with the built-in settings (URL, manifests folder, no environments)."""
    (tmp_path / ".git").mkdir()
    write(tmp_path / "assistants/a.yaml", "name: A\n")
    ODD_DEFAULTS[kind](tmp_path / "kathansync.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "kathansync", "validate"],
        cwd=tmp_path,
        env={**os.environ, "KATHANSYNC_NO_CACHE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout
    assert "kathansync.yaml" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
