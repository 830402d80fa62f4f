"""The warm lane (kathansync/load/warm.py): a load the cache serves whole, without the loader.

It must give exactly what the full loader gives, hand over at the first thing it cannot
answer (and then agree too), read no manifest twice, and import no pydantic, ruamel or models.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kathansync.load import LoadResult, cached, discover, handle_of, load_manifests, loader
from kathansync.load.warm import _manifest_files

FULL = loader.load_manifests  # the full loader itself, before any test counts its calls
UUID_A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
UUID_B = "7d0f7e0e-5f6a-4d8e-9a53-1f7b9b2c4e11"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "kathansync.yaml", "")
    write(tmp_path / "prompts/support.md", "Be kind.\n")
    write(tmp_path / "assistants/_defaults.yaml", "voice:\n  language: en\n")
    write(
        tmp_path / "assistants/team/support.yaml",
        f"id: {UUID_A}\nname: Support\nsystem_instruction: !file ../../prompts/support.md\n"
        "speech_settings:\n  style: profesional\n",  # a warning to replay
    )
    write(tmp_path / "assistants/sales.yaml", f"id: {UUID_B}\nname: Sales\n")
    write(tmp_path / "assistants/new.yml", "name: New\n")  # no id: a create
    return tmp_path


def options(repo: Path) -> dict[str, Any]:
    return {
        "environ": {"XDG_CACHE_HOME": str(repo.parent / "xdg")},
        "cache_dir": repo / ".kathansync" / "cache",
    }


def cold(repo: Path, directory: Path | None = None) -> LoadResult:
    """The full loader, no cache: the reference."""
    return FULL(directory or repo / "assistants", environ=options(repo)["environ"])


@pytest.fixture
def full_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every time the lane hands over to the full loader."""
    calls: list[Path] = []

    def counting(directory: Path, **kwargs: Any) -> LoadResult:
        calls.append(directory)
        return FULL(directory, **kwargs)

    monkeypatch.setattr(loader, "load_manifests", counting)
    return calls


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every manifest the cache's side reads."""
    names: list[str] = []
    real = cached.WarmLoads.read_manifest

    def counting(self: cached.WarmLoads, name: str) -> bytes | None:
        names.append(name)
        return real(self, name)

    monkeypatch.setattr(cached.WarmLoads, "read_manifest", counting)
    yield names


def test_the_lane_serves_what_the_loader_gives(repo: Path, full_loads: list[Path]) -> None:
    first = load_manifests(repo / "assistants", **options(repo))  # cold: fills the cache
    assert full_loads == [repo / "assistants"]
    full_loads.clear()
    warm = load_manifests(repo / "assistants", **options(repo))
    assert full_loads == []  # served whole by the lane
    assert warm == first == cold(repo)
    assert warm.warnings and [m.handle for m in warm.manifests] == ["new", "sales", "team/support"]


@pytest.mark.parametrize("given", [".", "assistants", "./assistants", "absolute"])
def test_the_lane_names_files_as_the_loader_does(
    repo: Path, full_loads: list[Path], given: str
) -> None:
    directory = repo / "assistants" if given == "absolute" else Path(given)
    if given == ".":
        os.chdir(repo / "assistants")
    load_manifests(directory, **options(repo))
    full_loads.clear()
    assert load_manifests(directory, **options(repo)) == cold(repo, directory)
    assert full_loads == []


def test_the_lane_finds_the_files_discover_finds(tmp_path: Path) -> None:
    for name in [
        "a.yaml",
        "b.yml",
        "_defaults.yaml",
        "_private.yaml",
        ".hidden.yaml",
        "notes.txt",
        "deep/er/c.yaml",
        ".git/x.yaml",
        ".hidden/y.yaml",
        "dotted.name.v2.yaml",
        "ünï/cödé.yaml",
    ]:
        write(tmp_path / "m" / name, "name: x\n")
    directory = tmp_path / "m"
    write(tmp_path / "elsewhere/z.yaml", "name: z\n")
    (directory / "linked").symlink_to(tmp_path / "elsewhere")  # listed, not walked into
    (directory / "link.yaml").symlink_to(tmp_path / "elsewhere/z.yaml")  # a file (the loader
    # refuses it if it leaves the root)
    os.mkfifo(directory / "fifo.yaml")  # listed: the loader says why it is not read
    expected = sorted((str(p), handle_of(p, directory)) for p in discover(directory))
    assert sorted(_manifest_files(directory) or []) == expected
    assert len(expected) == 7


def change_one(repo: Path) -> None:
    write(repo / "assistants/sales.yaml", f"id: {UUID_B}\nname: Sales, changed\n")


def duplicate_id(repo: Path) -> None:
    write(repo / "assistants/zz-copy.yaml", f"id: {UUID_A}\nname: Copy\n")
    load_manifests(repo / "assistants", **options(repo))  # both files cached, each clean


def write_twice(repo: Path) -> None:
    write(repo / "assistants/zz.yaml", "name: Z\n")
    load_manifests(repo / "assistants", **options(repo))  # zz now cached
    write(repo / "assistants/zz.yml", "name: Z again\n")


def api_schema(repo: Path) -> None:
    write(repo / "kathan-api-schema.json", '{"format_version": "1", "schema": {"properties": {}}}')
    load_manifests(repo / "assistants", **options(repo))  # cached under the new context


def unreadable_schema(repo: Path) -> None:
    write(repo / "kathan-api-schema.json", "not json")
    load_manifests(repo / "assistants", **options(repo))


def non_utf8_name(repo: Path) -> None:
    name = os.fsencode(repo / "assistants") + b"/caf\xe9.yaml"
    with open(name, "wb") as handle:
        handle.write(b"name: Cafe\n")


HANDOVERS: dict[str, Callable[[Path], None]] = {
    "a changed manifest": change_one,
    "a new manifest": lambda repo: write(repo / "assistants/zz-new.yaml", "name: New too\n"),
    "one id in two files": duplicate_id,
    "two files for one handle": write_twice,
    "a saved API schema": api_schema,
    "a broken API schema": unreadable_schema,
    "a name that is not UTF-8": non_utf8_name,
}


@pytest.mark.parametrize("change", HANDOVERS.values(), ids=HANDOVERS.keys())
def test_what_the_lane_cannot_answer_goes_to_the_loader(
    repo: Path, full_loads: list[Path], reads: list[str], change: Callable[[Path], None]
) -> None:
    load_manifests(repo / "assistants", **options(repo))
    change(repo)
    full_loads.clear()
    reads.clear()
    result = load_manifests(repo / "assistants", **options(repo))
    assert full_loads == [repo / "assistants"]
    assert result == cold(repo)
    assert len(reads) == len(set(reads))  # what the lane read, the loader did not read again


def test_a_deleted_manifest_is_dropped_by_the_lane(repo: Path, full_loads: list[Path]) -> None:
    load_manifests(repo / "assistants", **options(repo))
    (repo / "assistants/sales.yaml").unlink()
    full_loads.clear()
    assert load_manifests(repo / "assistants", **options(repo)) == cold(repo)
    assert full_loads == []
    (file,) = (repo / ".kathansync/cache").glob("manifests-*.bin")
    assert b"sales.yaml" not in file.read_bytes()


def test_a_generated_corpus_is_served_as_loaded(tmp_path: Path, full_loads: list[Path]) -> None:
    pick = random.Random(16)
    write(tmp_path / "kathansync.yaml", "")
    write(tmp_path / "prompts/p.md", "Prompt\n")
    write(tmp_path / "m/_defaults.yaml", "llm:\n  llm_provider: google\n")
    write(tmp_path / "m/eu/_defaults.yml", "voice:\n  language: de\n")
    for n in range(200):
        folder = pick.choice(["m", "m/eu", "m/eu/de", "m/us"])
        description = pick.choice(["x", "on", "'1.5'", "yes"])  # YAML 1.2: strings all
        lines = [f"name: A{n}", f"description: {description}"]
        if pick.random() < 0.7:
            lines.insert(0, f"id: {uuid.UUID(int=pick.getrandbits(128), version=4)}")
        if pick.random() < 0.2:
            prompt = os.path.relpath(tmp_path / "prompts/p.md", tmp_path / folder)
            lines.append(f"system_instruction: !file {prompt}")
        if pick.random() < 0.2:
            lines.append("speech_settings:\n  emotions: happy")  # a warning
        if pick.random() < 0.3:
            lines.append(f"voice:\n  speed: {pick.choice([0.9, 1, 1.25])}")
        write(
            tmp_path / folder / f"a{n:03d}.{pick.choice(['yaml', 'yml'])}", "\n".join(lines) + "\n"
        )
    opts = {"environ": {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, "cache_dir": tmp_path / "c"}
    first = load_manifests(tmp_path / "m", **opts)
    assert not first.errors, first.errors[:3]
    full_loads.clear()
    assert load_manifests(tmp_path / "m", **opts) == first == FULL(tmp_path / "m")
    assert full_loads == [] and len(first.manifests) == 200 and first.warnings


def test_a_warm_load_imports_no_pydantic_ruamel_or_models(repo: Path) -> None:
    load_manifests(repo / "assistants", **options(repo))
    xdg, folder = str(repo.parent / "xdg"), str(repo / ".kathansync/cache")
    code = (
        "import sys\nfrom pathlib import Path\nfrom kathansync.load import load_manifests\n"
        f"r = load_manifests(Path({str(repo / 'assistants')!r}),"
        f" environ={{'XDG_CACHE_HOME': {xdg!r}}}, cache_dir=Path({folder!r}))\n"
        "assert len(r.manifests) == 3, r\n"
        "heavy = ('pydantic', 'ruamel.yaml', 'kathansync.models', 'kathansync.load.loader')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
