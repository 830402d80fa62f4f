"""Review of kathansync/load: regressions for bugs found in the fast parser and the cache."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kathansync.load import cache, fastyaml, load_manifests, yamlio


def _reference(text: str) -> Any:
    """ruamel's reading (the path every text ryaml steps aside for)."""
    return yamlio._parse(yamlio._fast_loader(), text)


@pytest.mark.parametrize(
    "scalar",
    ["1e309", "-1e400", "+1E400", "1.0e+400", ".5e+999", "1" * 400, "1" * 400 + ".5"],
)
def test_fast_path_agrees_on_numbers_that_overflow(scalar: str) -> None:
    # ryaml gives up on a number it cannot hold and returns the text; ruamel reads inf or a
    # big int. The same file must not mean two things depending on which path read it.
    text = f"name: {scalar}\n"
    fast = fastyaml.parse(text)
    assert fast is None or repr(fast) == repr(_reference(text))


@pytest.mark.parametrize("scalar", [".8e8", "-.8e8", "+.5E1", ".0e57"])
def test_fast_path_agrees_on_a_leading_dot_with_an_unsigned_exponent(scalar: str) -> None:
    # YAML 1.2's core schema reads `.8e8` as a float, ruamel (the reference) as text: the
    # value of `voice.speed: .5e1` must not depend on which parser the rest of the file picks.
    for text in (f"name: {scalar}\n", f"- {scalar}\n", f"a: [{scalar}]\n"):
        fast = fastyaml.parse(text)
        assert fast is None or repr(fast) == repr(_reference(text))


@pytest.mark.parametrize(
    "text",
    [
        "name: " + "[" * 30_000 + "]" * 30_000 + "\n",  # the C composer overflowed its stack
        "name:\n" + "- " * 30_000 + "x\n",
        "name: " + "[" * 100_000 + "\n",  # ryaml spent minutes on it before refusing
    ],
    ids=["flow", "block", "unclosed"],
)
def test_deep_nesting_is_a_clean_error_in_seconds(make_repo: Any, text: str) -> None:
    # A separate process: the bug was a segmentation fault, which would take pytest with it.
    root: Path = make_repo(config="", files={"assistants/deep.yaml": text})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kathansync", "validate"],
        cwd=root,
        env={**os.environ, "KATHANSYNC_NO_CACHE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 5
    assert done.returncode == 1, done.stderr
    assert "assistants/deep.yaml:" in done.stdout + done.stderr
    assert "nested more than 64 levels deep" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("newline", ["\r", "\x85", "\u2028", "\u2029"])
def test_a_missing_file_target_is_reported_at_its_line_after_any_line_break(
    make_repo: Any, newline: str
) -> None:
    # YAML readers break lines at these too; the fast path counted only "\n", so the problem
    # pointed at line 1 of a two-line file.
    text = f"name: x{newline}system_instruction: !file missing.md\n"
    root: Path = make_repo(config="", files={"assistants/a.yaml": text})
    result = load_manifests(root / "assistants")
    assert [(p.line, p.column) for p in result.errors] == [(2, 21)]


def test_a_signing_key_committed_in_the_repository_is_never_used(
    make_repo: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A relative XDG_CACHE_HOME (invalid per the XDG spec) put the key inside the repository,
    # where a branch can commit its own key beside a cache signed with it: the cache then
    # served values no manifest in the branch says.
    root: Path = make_repo(config="", files={"assistants/a.yaml": "name: A\n"})
    forged_key = "f" * 64
    (root / "xdg/kathansync").mkdir(parents=True)
    (root / "xdg/kathansync/cache-key").write_text(forged_key)
    environ = {"XDG_CACHE_HOME": "xdg", "HOME": str(tmp_path_factory.mktemp("home"))}
    cache_dir = root / ".kathansync/cache"

    def load() -> Any:
        return load_manifests(root / "assistants", environ=environ, cache_dir=cache_dir)

    load()
    (cache_file,) = cache_dir.glob(cache.CACHE_GLOB)
    header, _, body = cache_file.read_bytes().partition(b"\n")[2].partition(b"\n")
    context, deps, entries = marshal.loads(body)
    ((name, entry),) = entries.items()
    entries[name] = (*entry[: cache.DESIRED], {"name": "Evil"}, *entry[cache.DESIRED + 1 :])
    forged = header + b"\n" + marshal.dumps((context, deps, entries))
    cache_file.write_bytes(cache._sign(forged_key.encode(), forged).encode() + b"\n" + forged)
    # The forgery itself is sound: a run whose key it is (absolute, outside) would take it.
    absolute = {"XDG_CACHE_HOME": str(root / "xdg")}
    trusting = load_manifests(root / "assistants", environ=absolute, cache_dir=cache_dir)
    assert [m.desired for m in trusting.manifests] == [{"name": "Evil"}]
    assert [m.desired for m in load().manifests] == [{"name": "A"}]
