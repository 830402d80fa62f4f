"""Every shortcut of a cold load gives what the slow path gives: the same manifests, the same
problems (file:line:column and wording), on a generated corpus of good and bad manifests."""

from __future__ import annotations

import gc
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kathansync.load import fastyaml, interpolate, load_manifests, loader, yamlio
from kathansync.load.discover import discover
from kathansync.load.loader import LoadResult
from kathansync.load.source import ShownFiles, shown_file

MakeRepo = Callable[..., Path]

_WORDS = ["support", "Hello!", "on", "off", "Ünïcode", "100%", "a*b", "x: y", "#tag", "null"]
# Each field: (values that load, values that are a problem); a problem is one pick in 15.
Choices = tuple[list[str], list[str]]
_VALUES: dict[str, Choices] = {
    "name": (["'Bench'", "Hello!", "'${NAME}'", "!file ../prompts/name.txt", "null"], ["42"]),
    "first_message": (['"Hi! ${GREETING}"', "Hello!", "'$${NOT_A_VAR}'", "~"], ["[1, 2]"]),
    "system_instruction": (["|\n  Be brief!\n  Be kind.", "!file ../prompts/long.md"], ["1.5"]),
    "assistant_speaks_first": (["true", "false", "null"], ["yes", "'true'"]),
    "knowledge_base_ids": (["[a, b]", "[]", "null", "\n  - kb-1\n  - ${KB}"], ["a"]),
    "machine_detection_timeout_seconds": (["3", "3.5", "1e3", "-0"], ["'3'", ".inf"]),
    "icon": (["robot", "!file ../prompts/name.txt", "a*b", "100%"], ["{a: 1}"]),
}
_NESTED: dict[str, dict[str, Choices]] = {
    "voice": {
        "voice_id": (["voice-1", "${VOICE}"], ["7"]),
        "speed": (["1", "1.0", "1.25", "2e0"], ["true", "'fast'"]),
        "language": (["en", "de"], ["[en]"]),
        "sped": ([], ["1.1"]),  # misspelt: an unknown key
    },
    "speech_settings": {
        "interruptions": (["'on'", "on", "off", "true", "false"], ["maybe", "1"]),
        "style": (["neutral", "professional", "${STYLE}"], ["nuetral"]),
        "emotions": (["natural", "'off'"], ["excited"]),
    },
    "call_actions": {
        "hangup_triggers": (["[bye, ciao]", "\n    - bye\n    - ${WORD}"], ["bye", "[1]"]),
        "auto_hangup_silence_seconds": (["30"], ["30.0", "'30'", "true"]),
        "transfer_mode": (["cold", "warm"], ["lukewarm"]),
        "webhook_timeout_ms": (["3500", "-5"], ["1_000"]),
    },
    "recording": {"enabled": (["false", "null"], ["on"]), "stereo": (["true"], [])},
}


def _pick(rng: random.Random, choices: Choices) -> str | None:
    good, bad = choices
    if bad and (not good or rng.random() < 1 / 15):
        return None if not good and rng.random() < 0.7 else rng.choice(bad)
    return rng.choice(good)


def _manifest(rng: random.Random, n: int) -> str:
    lines = [f"# manifest {n}"]
    if rng.random() < 0.7:
        good = rng.random() < 0.97
        lines.append(f"id: {f'00000000-0000-4000-8000-{n:012d}' if good else 'not-a-uuid'}")
    for key in rng.sample(sorted(_VALUES), rng.randint(1, len(_VALUES))):
        lines.append(f"{key}: {_pick(rng, _VALUES[key])}")
    for key in rng.sample(sorted(_NESTED), rng.randint(0, len(_NESTED))):
        lines.append(f"{key}:")
        for name, choices in _NESTED[key].items():
            value = _pick(rng, choices)
            if value is not None:
                lines.append(f"  {name}: {value}")
    if rng.random() < 0.03:
        lines.append(rng.choice(["name: again", "\tbad: tab", "oops: [", "x: *a"]))
    if rng.random() < 0.03:
        lines.append(f"extra_field_{n % 3}: {rng.choice(_WORDS)!r}")
    return "\n".join(lines) + "\n"


def corpus(make_repo: MakeRepo, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    files = {
        "prompts/name.txt": "From a file!\n",
        "prompts/long.md": "Be helpful.\n" * 20,
        "assistants/_defaults.yaml": "voice:\n  language: en\nrecording:\n  enabled: false\n",
        "assistants/team/_defaults.yaml": "speech_settings:\n  style: ${STYLE}\n",
        "assistants/team/deep/_defaults.yml": "call_actions:\n  transfer_mode: warm\n",
    }
    folders = ["assistants", "assistants/team", "assistants/team/deep", "assistants/other"]
    for n in range(count):
        files[f"{rng.choice(folders)}/m{n:04d}.yaml"] = _manifest(rng, n)
    return make_repo(config="manifests: assistants\n", files=files)


def load(root: Path) -> LoadResult:
    environ = {"NAME": "From env", "GREETING": "there!", "VOICE": "v-2", "STYLE": "neutral"}
    return load_manifests(root / "assistants", environ={**environ, "KB": "kb-9", "WORD": "end"})


def as_data(result: LoadResult) -> Any:
    """Everything a load gives, types included (1 and 1.0 and True differ in JSON)."""
    manifests = [
        (m.handle, m.file, m.id, repr(m.desired), sorted(m.sensitive), sorted(m.origins.items()))
        for m in result.manifests
    ]
    return manifests, [repr(p) for p in result.problems]


def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shortcut off: ruamel reads every file, every tree is walked and copied."""
    monkeypatch.setattr(fastyaml, "parse", lambda text: None)
    monkeypatch.setattr(fastyaml, "took", lambda data: False)
    monkeypatch.setattr(interpolate, "_plain_tree", lambda data: False)
    monkeypatch.setattr(loader, "conform", lambda data: None)  # the model validates them all


# Fields only a saved API schema types: validated beside the models, then put back.
_SCHEMA_FIELDS = {
    "format_version": "1",
    "schema": {
        "type": "object",
        "properties": {
            "max_turns": {"type": "integer"},
            "voice": {"type": "object", "properties": {"pitch": {"type": "number"}}},
        },
    },
}


def _with_schema_fields(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    (root / "kathan-api-schema.json").write_text(json.dumps(_SCHEMA_FIELDS), encoding="utf-8")
    for path in sorted(root.glob("assistants/**/m*.yaml"))[::3]:
        text = path.read_text(encoding="utf-8")
        text += f"max_turns: {rng.choice(['5', '7', 'many'])}\n"
        if "\nvoice:\n" in text:
            text = text.replace("\nvoice:\n", f"\nvoice:\n  pitch: {rng.choice(['1', '1.5'])}\n")
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_generated_corpus_loads_alike_with_and_without_shortcuts(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    root = corpus(make_repo, 400, seed)
    if seed == 4:
        _with_schema_fields(root, seed)
    taken: list[bool] = []
    real = fastyaml.parse
    with monkeypatch.context() as patch:
        patch.setattr(fastyaml, "parse", lambda text: taken.append(bool(r := real(text))) or r)
        fast = as_data(load(root))
    assert sum(taken) > 300  # the comparison is of the fast path, not of ruamel with itself
    with monkeypatch.context() as patch:
        slow(patch)
        reference = as_data(load(root))
    assert fast == reference
    manifests, problems = fast
    # The corpus exercises both outcomes: clean manifests and every kind of problem.
    assert len(manifests) > 60 and len(problems) > 100
    if seed == 4:  # and the schema's fields, typed and refused
        assert any("'max_turns'" in m[3] and "'pitch'" in m[3] for m in manifests)  # desired
        assert any("max_turns: expected a whole number" in p for p in problems)


def test_the_repository_examples_load_alike_with_and_without_shortcuts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    fast = as_data(load_manifests(root / "assistants", environ={}))
    slow(monkeypatch)
    assert fast == as_data(load_manifests(root / "assistants", environ={}))
    assert fast[0]


@pytest.mark.parametrize(
    "tag", ["!%66ile ../prompts/p.md", "!f!le ../prompts/p.md"], ids=["escaped", "tag-directive"]
)
def test_a_file_tag_spelt_without_the_word_is_still_read(make_repo: MakeRepo, tag: str) -> None:
    # No `$`, no `*`, no `!file` in the text: only the data shows the tag, so the shortcut
    # that skips the resolving walk must look at the data, not the text.
    directive = "%TAG !f! !fi\n---\n" if "!f!" in tag else ""
    root = make_repo(
        config="",
        files={
            "assistants/a.yaml": f"{directive}name: Hi!\nsystem_instruction: {tag}\n",
            "prompts/p.md": "From the file.\n",
        },
    )
    result = load(root)
    assert not result.problems
    assert result.manifests[0].desired == {"name": "Hi!", "system_instruction": "From the file.\n"}


# --- The PUT body's size: measured only when it could be near the budget -----------------------

_ANY_FIELD = {
    "format_version": "1",
    "schema": {"type": "object", "properties": {"anything": {}, "name": {"type": "string"}}},
}


@pytest.mark.parametrize(
    "text",
    [
        "anything: [" + ", ".join(["9e15"] * 50) + "]\n",  # 9000000000000000.0: 4.5x a float
        "anything: [" + ", ".join(["1e-5"] * 50) + "]\n",
        "anything:\n" + "-\n" * 50,  # an empty item is `null, `
        "anything:\n" + "".join(f"  k{i}:\n" for i in range(50)),  # `"k1": null, `
        "anything: [" + ",".join(["[]"] * 50) + "]\n",
        'name: "' + '\\"' * 50 + '"\n',  # every quote escaped again
        'name: "' + "\\x01" * 50 + '"\n',  # \x01 (4 characters) is \u0001 (6)
        "name: " + "\U0001f600" * 50 + "\n",  # one character, 4 bytes of UTF-8
        'name: "' + "\\U0001F600" * 50 + '"\n',
    ],
)
def test_a_body_grows_at_most_max_growth_times_its_text(make_repo: MakeRepo, text: str) -> None:
    # The bound _body_size trusts to skip measuring a body: worst cases of YAML -> JSON growth.
    root = make_repo(config="", files={"assistants/a.yaml": text})
    (root / "kathan-api-schema.json").write_text(json.dumps(_ANY_FIELD), encoding="utf-8")
    result = load(root)
    assert result.manifests, result.problems
    body = json.dumps(result.manifests[0].desired, ensure_ascii=False).encode()
    assert len(body) <= len(text) * loader._MAX_GROWTH


def test_a_body_over_the_budget_is_refused_with_its_size(make_repo: MakeRepo) -> None:
    # 1,000,000 control characters through !file: 6 MB of JSON escapes from a 1 MB file.
    root = make_repo(
        config="",
        files={
            "assistants/big.yaml": "name: x\nsystem_instruction: !file ../big.txt\n",
            "assistants/small.yaml": "name: y\n",
            "big.txt": "\x01" * 1_000_000,
        },
    )
    result = load(root)
    assert [m.handle for m in result.manifests] == ["small"]
    assert [str(p) for p in result.problems] == [
        "assistants/big.yaml:1:1: error: the PUT body would be 6000039 bytes, more than 4194304"
    ]


def test_a_large_plain_text_has_its_body_measured(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past MAX_BODY_BYTES / _MAX_GROWTH characters the bound proves nothing: measure.
    monkeypatch.setattr(loader, "MAX_BODY_BYTES", 1000)
    files = {"assistants/a.yaml": "name: " + "x" * 990 + "\n", "assistants/b.yaml": "name: x\n"}
    result = load(make_repo(config="", files=files))
    assert [m.handle for m in result.manifests] == ["b"]
    assert "the PUT body would be 1002 bytes, more than 1000" in str(result.problems[0])


# --- Paths: shown once a folder, opened without an lstat -----------------------------------------


def test_shown_files_shows_every_file_as_shown_file_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = tmp_path / "repo"
    (inside / "a" / "b").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (inside / "linked").symlink_to(tmp_path / "elsewhere")
    monkeypatch.chdir(inside)
    names = ["m.yaml", "é.yaml", "x\udcff.yaml", "\udcc3", "\udca9.yaml", ".h.yaml", "a b.yml"]
    folders = [
        "",
        ".",
        "a",
        "a/b",
        "./a//b",
        "a/../a",
        str(inside),
        str(inside / "a"),
        "..",
        str(tmp_path),
        "linked",
        str(inside / "linked"),
        "/",
        "../repo/a",
    ]
    shown = ShownFiles()
    for folder in folders:
        for name in names:
            path = Path(folder, name) if folder else Path(name)
            assert shown(path) == shown_file(path), path
    monkeypatch.chdir("/")
    shown = ShownFiles()
    for path in [Path("/m.yaml"), Path("etc/x.yaml"), Path(tmp_path, "é.yaml")]:
        assert shown(path) == shown_file(path), path


def test_a_manifest_symlinked_inside_the_repository_loads_under_its_own_name(
    make_repo: MakeRepo,
) -> None:
    root = make_repo(config="", files={"shared/base.yaml": "name: Shared!\n"})
    (root / "assistants" / "link.yaml").symlink_to(root / "shared" / "base.yaml")
    (root / "assistants" / "rel.yaml").symlink_to("../shared/base.yaml")
    result = load(root)
    assert not result.problems
    assert [(m.handle, m.file, m.desired) for m in result.manifests] == [
        ("link", "assistants/link.yaml", {"name": "Shared!"}),
        ("rel", "assistants/rel.yaml", {"name": "Shared!"}),
    ]


def test_a_dangling_symlink_is_worded_as_before(make_repo: MakeRepo) -> None:
    # The first, lstat-free open refuses the link; the careful way resolves it and words why.
    root = make_repo(config="")
    (root / "assistants" / "a.yaml").symlink_to("gone.txt")
    (root / "assistants" / "b.yaml").symlink_to("../../outside.txt")
    assert [str(p) for p in load(root).problems] == [
        "assistants/a.yaml: error: cannot read file: No such file or directory",
        "assistants/b.yaml: error: refusing to read this file: its path leaves the"
        f" repository root {root.resolve()}",
    ]


def test_took_tells_the_fast_paths_data_from_ruamels() -> None:
    fast = yamlio.parse_fast("name: Hi!\n")
    assert fastyaml.took(fast)
    slow_data = yamlio.parse_fast("a: &x 1\nb: *x\n")  # an alias: ruamel reads it
    assert slow_data == {"a": 1, "b": 1} and not fastyaml.took(slow_data)
    assert not fastyaml.took(fast)  # another text was parsed since: no longer known
    assert not fastyaml.took(None) and not fastyaml.took(yamlio.parse_fast(""))


@pytest.mark.parametrize("enabled", [True, False])
def test_a_load_leaves_the_cyclic_gc_as_it_found_it(make_repo: MakeRepo, enabled: bool) -> None:
    root = corpus(make_repo, 50, 4)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert load(root).manifests
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def _clean_fleet(make_repo: MakeRepo, **extra: str) -> Path:
    """More manifests than FREEZE_FROM, with ids, defaults, !file and a ${VAR}, all valid."""
    files = {
        f"assistants/t/m{n}.yaml": f"id: 00000000-0000-4000-8000-{n:012d}\nname: M{n}!\n"
        f"first_message: ${{NAME}}\n"
        for n in range(250)
    }
    files["assistants/_defaults.yaml"] = "system_instruction: !file ../prompt.md\n"
    files["prompt.md"] = "Be brief.\n"
    return make_repo(config="", files={**files, **extra})


def test_a_clean_load_leaves_no_cycle_behind(make_repo: MakeRepo) -> None:
    # A large clean fleet's result is frozen out of the cyclic GC: whatever the run left in a
    # cycle (once: every Source it read, through the defaults chain's bound method) would stay.
    root = _clean_fleet(make_repo)
    was = gc.isenabled()
    gc.disable()
    try:
        gc.unfreeze()
        gc.collect()
        result = load(root)
        assert gc.get_freeze_count() > 0
        gc.unfreeze()  # what the load froze, back in sight: is any of it garbage?
        # The cycle this guards against held 1,785 objects here; a few may come from another
        # thread of the test process (a server fixture), never from the load.
        assert gc.collect() < 100
    finally:
        if was:
            gc.enable()
    assert len(result.manifests) == 250 and not result.problems


def test_a_load_lets_go_of_every_manifests_parsed_tree(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The id checker keeps every Source to the end of the load, for a duplicate id's line (which
    # reads the text); their parsed trees were 40 MB at 10,000, and the list walked beside the
    # load then went past 200 MB.
    bad = "id: 00000000-0000-4000-8000-000000000001\nname: 42\n"  # a duplicate, and invalid
    root = _clean_fleet(make_repo, **{"assistants/bad.yaml": bad})
    kept: list[Any] = []
    real = loader._Loader.result

    def result(self: Any) -> LoadResult:
        kept.extend(source for _, _, source, _ in self.ids.ids)
        return real(self)

    monkeypatch.setattr(loader._Loader, "result", result)
    found = load(root)
    assert len(kept) == 251 and all(source.data is None for source in kept)
    assert len(found.manifests) == 250  # and the duplicate id is still found, at its line:
    assert [str(p) for p in found.problems if "also used" in p.message] == [
        "assistants/bad.yaml:1:5: error: id 00000000-0000-4000-8000-000000000001 is also used by"
        " assistants/t/m1.yaml",
        "assistants/t/m1.yaml:1:5: error: id 00000000-0000-4000-8000-000000000001 is also used by"
        " assistants/bad.yaml",
    ]


def test_a_load_with_problems_freezes_nothing(make_repo: MakeRepo) -> None:
    # A problem's position comes from a ruamel round-trip tree, which holds cycles.
    root = _clean_fleet(make_repo, **{"assistants/x.yaml": "speech_settings:\n  style: nuetral\n"})
    frozen = gc.get_freeze_count()
    result = load(root)
    assert len(result.manifests) == 251 and len(result.problems) == 1
    assert gc.get_freeze_count() == frozen


@pytest.mark.parametrize(
    "data",
    [b"", b"a: 1\n", b"\xef\xbb\xbfa: 1\n", b"\xef\xbb\xbf\xef\xbb\xbfa", b"\xef\xbb", b"\xef\xbbx",
     b"\xef\xbb\xbfa: \xff\n", b"a\nb: \xc3\n", "é\U0001f600".encode()],
)  # fmt: skip
def test_decoding_is_the_utf8_sig_codecs(data: bytes) -> None:
    try:
        expected: Any = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        expected = UnicodeDecodeError
    try:
        got: Any = yamlio.decode_utf8(data)
    except yamlio.SourceError as exc:
        got = UnicodeDecodeError
        assert exc.line and exc.column  # where the bad byte is
    assert got == expected


def test_discover_finds_and_orders_files_as_pathlib_does(tmp_path: Path) -> None:
    names = ["b.yaml", "a.yml", "_defaults.yaml", ".hidden.yaml", "A.yaml", "a b.yaml", "é.yaml",
             "x.txt", "a-b.yaml", "a.b.yaml"]  # fmt: skip
    for folder in ["", "sub", "sub/deeper", "sub-x", "sub.x", ".git", "Z", "é"]:
        for name in names:
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / name).write_text("name: x\n")
    expected = sorted(
        (
            Path(current, name)
            for current, dirs, files in os.walk(tmp_path)
            if ".git" not in Path(current).parts
            for name in files
            if name.endswith((".yaml", ".yml")) and not name.startswith(("_", "."))
        ),
        key=lambda path: path.parts,
    )
    assert discover(tmp_path) == expected and len(expected) == 49


# --- Values the check leaves to the model, or takes: worded and loaded as by the model alone ----

_ODD_MANIFESTS = {
    "nan": "voice:\n  speed: .nan\n",
    "inf": "voice:\n  speed: -.inf\n",
    "huge_float": "machine_detection_timeout_seconds: 1e400\n",
    "minus_zero": "voice:\n  speed: -0.0\n",
    "past_2_53": "voice:\n  speed: 9007199254740993\n",
    "past_int64": "long_term_memory:\n  search_limit: 9223372036854775808\n",
    "int_for_bool": "assistant_speaks_first: 1\n",
    "bool_for_int": "short_term_memory:\n  search_limit: true\n",
    "float_for_int": "call_actions:\n  webhook_timeout_ms: 3.0\n",
    "null_object": "voice: null\n",
    "empty_object": "voice:\n",
    "text_object": "llm: gpt\n",
    "list_object": "voice: []\n",
    "mixed_list": "knowledge_base_ids: [a, 1]\n",
    "text_list": "call_actions:\n  confirm_yes: yes\n",
    "on_off": "speech_settings:\n  emotions: true\n  interruptions: 1\n",
    "yaml11": "%YAML 1.1\n---\nspeech_settings:\n  interruptions: on\n",
    "anchor": "voice: &v\n  speed: 1\nllm: *v\n",
    "merge_key": "base: &b {voice_id: v}\nvoice:\n  <<: *b\n  speed: 1\n",
    "alias_ok": "name: &n Bot\ndescription: *n\n",
    "int_key": "1: x\nname: n\n",
    "null_key": "null: x\n",
    "nested_int_key": "voice:\n  2: x\n",
    "tags": "name: !!str 3\nvoice:\n  speed: !!float 1\nicon: !!int '3'\n",
    "binary": "name: !!binary aGk=\n",
    "date": "name: 2025-01-01\n",
    "variable": "voice:\n  speed: ${N}\nname: ${N}\n",
    "file_tag": "voice:\n  speed: !file ../speed.txt\nname: !file ../speed.txt\n",
    "bad_defaults/overrides": "voice:\n  speed: 2\n",
    "defaults/merged": "name: Merged\nknowledge_base_ids: null\nvoice:\n  voice_id: v\n",
    "defaults/nulled": "voice: null\n",
}


def test_odd_values_load_and_are_worded_as_by_the_model(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"assistants/{name}.yaml": text for name, text in _ODD_MANIFESTS.items()}
    files["assistants/bad_defaults/_defaults.yaml"] = "voice:\n  speed: .nan\n"
    files["assistants/defaults/_defaults.yaml"] = "voice:\n  speed: 1\nknowledge_base_ids: [kb]\n"
    files["speed.txt"] = "1.5"
    root = make_repo(config="", files=files)
    taken: list[bool] = []
    real = loader.conform
    with monkeypatch.context() as patch:
        patch.setattr(loader, "conform", lambda d: taken.append((r := real(d)) is not None) or r)
        fast = as_data(load_manifests(root / "assistants", environ={"N": "1"}))
    assert any(taken) and not all(taken)  # the check took some and left others to the model
    slow(monkeypatch)
    assert fast == as_data(load_manifests(root / "assistants", environ={"N": "1"}))
    manifests, problems = fast
    assert len(manifests) == 7 and len(problems) == 25
