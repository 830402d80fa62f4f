"""The manifest cache (kathansync/load/cache.py, cached.py) on real files: a warm load is the
cold load, each key invalidates, a bad cache file is ignored, no ${VAR} value reaches disk."""

from __future__ import annotations

import json
import marshal
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kathansync
from kathansync.load import LoadResult, cache, load_manifests, yamlio
from kathansync.load.cache import CACHE_GLOB

UUID_A = "33df85c1-dce4-4569-bac0-a9c4c70d0486"
UUID_B = "7d0f7e0e-5f6a-4d8e-9a53-1f7b9b2c4e11"
SECRET = "s3cret-value-0451"

SUPPORT = f"""\
id: {UUID_A}
name: Support
system_instruction: !file ../../prompts/support.md
speech_settings:
  style: profesional
"""
SALES = f"""\
id: {UUID_B}
name: Sales
first_message: Hello
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "kathansync.yaml", "")
    write(tmp_path / "prompts/support.md", "Be kind.\n")
    write(tmp_path / "assistants/_defaults.yaml", "voice:\n  language: en\n")
    write(tmp_path / "assistants/team/support.yaml", SUPPORT)
    write(tmp_path / "assistants/sales.yaml", SALES)
    return tmp_path


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text the fast parser is handed: empty on a warm load."""
    texts: list[str] = []
    real = yamlio.parse_fast

    def counting(text: str) -> Any:
        texts.append(text)
        return real(text)

    monkeypatch.setattr(yamlio, "parse_fast", counting)
    yield texts


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def environ(repo: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(repo.parent / "xdg"), **extra}


def load(repo: Path, *, cached: bool = True, **env: str) -> LoadResult:
    return load_manifests(
        repo / "assistants",
        environ=environ(repo, **env),
        cache_dir=repo / ".kathansync" / "cache" if cached else None,
    )


def cache_file(repo: Path) -> Path:
    """The one cache file these tests write (one context)."""
    (found,) = (repo / ".kathansync" / "cache").glob(CACHE_GLOB)
    return found


def test_a_warm_load_is_the_cold_load_without_parsing(repo: Path, parsed: list[str]) -> None:
    cold = load(repo)
    assert cold.warnings and len(cold.manifests) == 2  # a warning to replay, not only data
    assert cache_file(repo).is_file()
    parsed.clear()
    warm = load(repo)
    assert parsed == []
    assert warm == cold
    assert warm.manifests[1].origins == {"voice.language": "assistants/_defaults.yaml"}
    assert "cache/" in (repo / ".kathansync" / ".gitignore").read_text().splitlines()


def test_a_duplicate_id_across_cached_files_is_found_at_its_line(repo: Path) -> None:
    write(repo / "assistants/sales.yaml", "description: Sales\n" + SALES.replace(UUID_B, UUID_A))
    cold = load(repo)
    warm = load(repo)
    assert warm == cold
    errors = [str(p) for p in warm.errors]
    assert f"assistants/sales.yaml:2:5: error: id {UUID_A} is also used by" in errors[0]
    assert f"assistants/team/support.yaml:1:5: error: id {UUID_A}" in errors[1]


CHANGES: dict[str, Callable[[Path], None]] = {
    "manifest byte": lambda repo: write(repo / "assistants/sales.yaml", SALES + "# \n"),
    "defaults byte": lambda repo: write(
        repo / "assistants/_defaults.yaml", "voice:\n  language: fr\n"
    ),
    "new defaults in the chain": lambda repo: write(
        repo / "assistants/team/_defaults.yml", "first_message: Hi from the team\n"
    ),
    "!file target": lambda repo: write(repo / "prompts/support.md", "Be brief.\n"),
    "API schema": lambda repo: write(
        repo / "kathan-api-schema.json",
        json.dumps({"format_version": "1", "schema": {"properties": {"x": {"type": "string"}}}}),
    ),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_each_key_invalidates(
    repo: Path, parsed: list[str], change: Callable[[Path], None]
) -> None:
    load(repo)
    change(repo)
    parsed.clear()
    warm = load(repo)
    assert parsed  # read again, not served from the cache
    assert warm == load(repo, cached=False)


def test_a_new_version_invalidates(
    repo: Path, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(repo)
    monkeypatch.setattr(kathansync, "__version__", "99.0.0")
    parsed.clear()
    assert load(repo) == load(repo, cached=False)
    assert len(parsed) >= 3  # both manifests and the defaults, before the uncached load


def test_a_manifest_using_a_variable_is_never_stored(repo: Path, parsed: list[str]) -> None:
    write(repo / "assistants/greeter.yaml", "name: Greeter\nfirst_message: ${GREETING}\n")
    first = load(repo, GREETING=SECRET)
    assert SECRET.encode() not in cache_file(repo).read_bytes()
    assert b"greeter" not in cache_file(repo).read_bytes()
    parsed.clear()
    second = load(repo, GREETING="Welcome back")
    assert not [text for text in parsed if "Sales" in text or "Support" in text]  # warm
    greeter = {m.handle: m for m in second.manifests}["greeter"]
    assert greeter.desired["first_message"] == "Welcome back"
    assert greeter.sensitive == {"first_message"}
    assert first.manifests[0].desired["first_message"] == SECRET


def test_a_variable_in_a_defaults_file_keeps_its_manifests_out(repo: Path) -> None:
    write(repo / "assistants/_defaults.yaml", "description: ${TEAM}\n")
    load(repo, TEAM=SECRET)
    assert not list(repo.glob(f".kathansync/cache/{CACHE_GLOB}"))  # nothing stored: all under it
    second = load(repo, TEAM="Other team")
    assert {m.desired["description"] for m in second.manifests} == {"Other team"}


def resign_with_another_key(repo: Path) -> None:
    body = cache_file(repo).read_bytes().partition(b"\n")[2]
    cache_file(repo).write_bytes(b"0" * 128 + b"\n" + body)


def tamper(repo: Path) -> None:
    data = cache_file(repo).read_bytes()
    cache_file(repo).write_bytes(data.replace(b"Support", b"Hacked!"))


def replace_with_a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def resign(repo: Path, header: bytes, body: bytes) -> None:
    """A cache file signed with this user's own key: only the content is wrong."""
    key = (repo.parent / "xdg/kathansync/cache-key").read_bytes().strip()
    signed = header + b"\n" + body
    cache_file(repo).write_bytes(cache._sign(key, signed).encode() + b"\n" + signed)


def signed_parts(repo: Path) -> tuple[bytes, bytes]:
    header, _, body = cache_file(repo).read_bytes().partition(b"\n")[2].partition(b"\n")
    return header, body


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "truncated": lambda repo: cache_file(repo).write_bytes(cache_file(repo).read_bytes()[:500]),
    "garbage": lambda repo: cache_file(repo).write_bytes(b"\xff\x00not json"),
    "empty": lambda repo: cache_file(repo).write_bytes(b""),
    "a directory": lambda repo: replace_with_a_directory(cache_file(repo)),
    "foreign signature": resign_with_another_key,
    "tampered body": tamper,
    # Signed with the right key, but not what this kathansync and this Python wrote: marshal
    # is not safe against malformed data, and another Python's marshal may read differently.
    "another Python's marshal": lambda repo: resign(
        repo, b"kathansync-cache 3 marshal 3 cpython-310", signed_parts(repo)[1]
    ),
    "signed, not marshal": lambda repo: resign(repo, cache.HEADER.encode(), b"\xff\x00junk"),
    "signed, cut short": lambda repo: resign(
        repo, cache.HEADER.encode(), signed_parts(repo)[1][:-40]
    ),
    "signed, another shape": lambda repo: resign(
        repo, cache.HEADER.encode(), marshal.dumps(["context", {}, ()])
    ),
    "signed, entries cut short": lambda repo: reshape(repo, lambda entry: entry[:3]),
    "signed, entries not tuples": lambda repo: reshape(repo, lambda entry: 1),
    "signed, deps out of range": lambda repo: reshape(
        repo, lambda entry: (entry[0], 99, *entry[2:])
    ),
}


def reshape(repo: Path, change: Callable[[Any], Any]) -> None:
    """Every entry changed by `change`, the file signed again with the user's key."""
    context, deps, entries = marshal.loads(signed_parts(repo)[1])
    changed = {name: change(entry) for name, entry in entries.items()}
    resign(repo, cache.HEADER.encode(), marshal.dumps((context, deps, changed)))


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_cache_file_is_ignored(
    repo: Path, parsed: list[str], breakage: Callable[[Path], None]
) -> None:
    cold = load(repo)
    breakage(repo)
    parsed.clear()
    assert load(repo) == cold
    assert parsed


def test_a_cache_signed_by_another_user_is_ignored(repo: Path, parsed: list[str]) -> None:
    cold = load(repo)
    parsed.clear()
    other = load_manifests(
        repo / "assistants",
        environ={"XDG_CACHE_HOME": str(repo.parent / "other-user")},
        cache_dir=repo / ".kathansync" / "cache",
    )
    assert other == cold
    assert parsed


@pytest.mark.parametrize("variable", ["CI", "KATHANSYNC_NO_CACHE"])
def test_ci_or_the_switch_disables_the_cache(repo: Path, variable: str) -> None:
    load(repo, **{variable: "true"})
    assert not (repo / ".kathansync").exists()


def test_a_hit_is_still_confined_to_the_root(repo: Path, tmp_path_factory: Any) -> None:
    load(repo)
    outside = tmp_path_factory.mktemp("outside") / "sales.yaml"
    outside.write_text(SALES, encoding="utf-8")  # the very bytes the cache holds
    (repo / "assistants/sales.yaml").unlink()
    (repo / "assistants/sales.yaml").symlink_to(outside)
    result = load(repo)
    assert [m.handle for m in result.manifests] == ["team/support"]
    assert "refusing to read this file: its path leaves the repository root" in str(
        result.errors[0]
    )


def test_entries_of_deleted_manifests_are_dropped(repo: Path) -> None:
    load(repo)
    (repo / "assistants/sales.yaml").unlink()
    load(repo)
    assert b"sales.yaml" not in cache_file(repo).read_bytes()


def test_a_manifest_typed_by_the_saved_api_schema_keeps_its_note(
    repo: Path, parsed: list[str]
) -> None:
    schema = {"format_version": "1", "schema": {"properties": {"max_turns": {"type": "integer"}}}}
    write(repo / "kathan-api-schema.json", json.dumps(schema))
    write(repo / "assistants/sales.yaml", SALES + "max_turns: 3\n")
    cold = load(repo)
    assert any("max_turns is not in this kathansync's models" in p.message for p in cold.warnings)
    parsed.clear()
    assert load(repo) == cold
    assert [text for text in parsed if "max_turns" in text]  # noted once a run: never stored


def test_a_warning_in_a_defaults_file_is_replayed_when_every_manifest_hits(
    repo: Path, parsed: list[str]
) -> None:
    write(repo / "assistants/_defaults.yaml", "speech_settings:\n  emotions: happy\n")
    cold = load(repo)
    assert [p.file for p in cold.warnings].count("assistants/_defaults.yaml") == 1
    parsed.clear()
    assert load(repo) == cold
    assert parsed == []  # the defaults file was not read again, its warning still given


def test_a_link_inside_the_root_is_still_a_hit(repo: Path, parsed: list[str]) -> None:
    # A manifest is opened without following links; a link goes through the full rules
    # (resolved, confined), and a link that stays inside the root is served like a file.
    write(repo / "shared/sales.yaml", SALES)
    (repo / "assistants/sales.yaml").unlink()
    (repo / "assistants/sales.yaml").symlink_to(repo / "shared/sales.yaml")
    cold = load(repo)
    parsed.clear()
    assert load(repo) == cold
    assert parsed == []
    assert [m.handle for m in cold.manifests] == ["sales", "team/support"]


def test_a_long_process_keeps_one_cache_file_at_most(repo: Path) -> None:
    # The last file read is held until exit, in a cycle the final collection skips (freeing
    # it took a tenth of a warm run); each read replaces the one before, which is freed.
    load(repo)
    load(repo)
    first = cache._KEPT[0]
    load(repo)
    assert len(cache._KEPT) == 2 and cache._KEPT[1] is cache._KEPT
    assert cache._KEPT[0] is not first and cache._KEPT[0][0] == first[0]


def test_each_environment_keeps_its_own_cache(repo: Path, parsed: list[str]) -> None:
    # validate checks every environment in one run: with one file for all, each environment
    # overwrote the other's and no run was ever warm.
    def both() -> list[LoadResult]:
        return [
            load_manifests(
                repo / "assistants",
                env=env,
                environments=["staging", "production"],
                environ=environ(repo),
                cache_dir=repo / ".kathansync" / "cache",
            )
            for env in ("staging", "production")
        ]

    first = both()
    parsed.clear()
    assert both() == first
    assert parsed == []
    assert len(list((repo / ".kathansync/cache").glob(CACHE_GLOB))) == 2


def test_old_contexts_and_formats_are_pruned(repo: Path) -> None:
    folder = repo / ".kathansync" / "cache"
    folder.mkdir(parents=True)
    (folder / "manifests.json").write_text("{}")  # an older format
    for n in range(cache.KEEP_FILES + 3):
        (folder / f"manifests-{n:024d}.bin").write_bytes(b"old")
        os.utime(folder / f"manifests-{n:024d}.bin", ns=(n * 10**9, n * 10**9))  # 0 the oldest
    load(repo)
    kept = sorted(file.name for file in folder.glob(CACHE_GLOB))
    assert len(kept) == cache.KEEP_FILES and cache_file_name(repo) in kept
    assert "manifests.json" not in kept and "manifests-000000000000000000000000.bin" not in kept


def cache_file_name(repo: Path) -> str:
    files = (repo / ".kathansync" / "cache").glob(CACHE_GLOB)
    newest = max(files, key=lambda file: file.stat().st_mtime_ns)
    return newest.name


def test_a_manifest_that_grows_while_read_is_read_to_its_end_within_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A read shorter than asked is the end of a regular file; one that fills what was asked
    # (the file grew since fstat) is read on, up to the loader's cap, and refused beyond it.
    from kathansync.load import cached

    read_end, write_end = os.pipe()
    os.write(write_end, b"b" * 100)
    os.close(write_end)
    assert cached._read_rest(read_end, b"a" * 10) == b"a" * 10 + b"b" * 100
    os.close(read_end)
    monkeypatch.setattr(yamlio, "MAX_BYTES", 50)
    read_end, write_end = os.pipe()
    os.write(write_end, b"b" * 100)
    os.close(write_end)
    with pytest.raises(OSError, match="cap"):
        cached._read_rest(read_end, b"a" * 10)
    os.close(read_end)


def test_without_o_nofollow_every_manifest_takes_the_general_way(
    repo: Path, parsed: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    from kathansync.load import cached

    monkeypatch.setattr(cached, "_NOFOLLOW", 0)  # a platform without it
    cold = load(repo)
    parsed.clear()
    assert load(repo) == cold and parsed == []  # still warm, through Resolver.locate
    outside = tmp_path_factory.mktemp("outside") / "sales.yaml"
    outside.write_text(SALES, encoding="utf-8")
    (repo / "assistants/sales.yaml").unlink()
    (repo / "assistants/sales.yaml").symlink_to(outside)
    assert "leaves the repository root" in str(load(repo).errors[0])


def test_an_upgraded_reader_library_invalidates(
    repo: Path, parsed: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ryaml, ruamel.yaml or pydantic upgraded: kathansync's version and code are the same, but
    a file may be read or checked differently, so nothing loaded before is replayed."""
    from importlib.machinery import ModuleSpec

    import kathansync.load.cache as cache

    installed = tmp_path / "site" / "ryaml.py"
    installed.parent.mkdir()
    installed.write_text("# 0.5\n")
    real = cache.importlib.util.find_spec

    def find_spec(name: str) -> ModuleSpec | None:
        return ModuleSpec(name, None, origin=str(installed)) if name == "ryaml" else real(name)

    monkeypatch.setattr(cache.importlib.util, "find_spec", find_spec)
    load(repo)
    parsed.clear()
    load(repo)
    assert parsed == []  # warm
    installed.write_text("# 0.6, a new reading\n")
    load(repo)
    assert parsed, "the upgrade was not seen: old loads replayed"
