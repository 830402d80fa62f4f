"""Round-trip write-back: the id after a create, pull, and atomic replacement of the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo

from kathansync import atomic
from kathansync.errors import ConfigError
from kathansync.load import load_manifests
from kathansync.models import Manifest
from kathansync.writeback import pull_manifest, write_id
from kathansync.writeback.yamltree import dump_text, guess_indent, load_tree, save_tree

ID = "3f2b8c1e-0000-4000-8000-000000000001"
OTHER = "3f2b8c1e-0000-4000-8000-000000000002"

COMMENTED = """\
# Support line assistant.
# Owned by the support team; ask #support-bots before changing the voice.

name: "Acme Support"   # shown in the dashboard
description: 'Answers questions about orders'
system_instruction: |
  You are Acme's support assistant.
  Be brief and friendly.
first_message: Hello! How can I help?
voice:
  voice_id: alloy      # picked in the 2025 voice test
  speed: 1.0
speech_settings:
  style: professional
  interruptions: "off"  # callers found barge-in confusing
call_actions:
  hangup_triggers: [bye, goodbye]
  confirm_yes:
    - "yes"
    - yep   # common in the south
  transfer_number: "+15550100"
knowledge_base_ids: null
"""


def _manifest(path: Path, **overrides: Any) -> Manifest:
    result = load_manifests(path.parent, environ={})
    assert not result.errors, result.problems
    (manifest,) = [m for m in result.manifests if m.file.endswith(path.name)]
    if overrides:
        from dataclasses import replace

        manifest = replace(manifest, **overrides)
    return manifest


def _remote(manifest: Manifest, **changes: Any) -> dict[str, Any]:
    """The manifest's desired state as the remote would return it, with `changes` laid over."""
    from kathansync.plan.diff import overlay

    return overlay({"id": manifest.id, **manifest.desired}, changes)


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="{}\n")


# --- write_id ----------------------------------------------------------------------------------


def test_write_id_puts_id_first_and_keeps_every_other_line(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(COMMENTED)

    write_id(path, ID, env=None)

    lines = COMMENTED.splitlines(keepends=True)
    header, body = lines[:3], lines[3:]
    assert path.read_text() == "".join([*header, f"id: {ID}\n", *body])
    assert _manifest(path).id == ID


def test_write_id_replaces_a_plain_id_only_when_told_which(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}  # the old one\nname: Support\n")
    with pytest.raises(ConfigError, match=f"already holds id {ID} .*not replaced by {OTHER}"):
        write_id(path, OTHER, env=None)  # a second apply created it too: keep the first
    assert path.read_text() == f"id: {ID}  # the old one\nname: Support\n"
    write_id(path, ID, env=None)  # the same id again: nothing to refuse
    write_id(path, OTHER, env=None, replaces=ID)
    assert path.read_text() == f"id: {OTHER}  # the old one\nname: Support\n"


def test_write_id_never_overwrites_the_id_of_another_environment_run(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    text = f"id:\n  staging: {ID}\nname: Support\n"
    path.write_text(text)
    with pytest.raises(ConfigError, match="already holds id"):
        write_id(path, OTHER, env="staging")
    assert path.read_text() == text


def test_write_id_for_an_environment_adds_to_the_id_mapping(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"# header\nid:\n  staging: {ID}   # made by hand\nname: Support\n")
    write_id(path, OTHER, env="production")
    assert path.read_text() == (
        f"# header\nid:\n  staging: {ID}   # made by hand\n  production: {OTHER}\nname: Support\n"
    )


def test_write_id_for_an_environment_without_an_id_writes_a_mapping(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text("name: Support  # hi\n")
    write_id(path, ID, env="staging")
    assert path.read_text() == f"id:\n  staging: {ID}\nname: Support  # hi\n"


def test_write_id_refuses_to_turn_a_shared_id_into_a_per_environment_one(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\nname: Support\n")
    with pytest.raises(ConfigError, match="every environment"):
        write_id(path, OTHER, env="staging")
    assert path.read_text() == f"id: {ID}\nname: Support\n"


# --- pull --------------------------------------------------------------------------------------


def test_pull_changes_only_the_changed_lines_byte_for_byte(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\n" + COMMENTED)
    manifest = _manifest(path)
    remote = _remote(
        manifest,
        first_message="Hi there!",
        voice={"speed": 1.1},
        speech_settings={"interruptions": "on"},
        call_actions={"confirm_yes": ["yes", "yeah"]},
    )

    report = pull_manifest(manifest, remote, root=repo)

    assert sorted(report.written) == [
        "call_actions.confirm_yes",
        "first_message",
        "speech_settings.interruptions",
        "voice.speed",
    ]
    before = (f"id: {ID}\n" + COMMENTED).splitlines(keepends=True)
    after = path.read_text().splitlines(keepends=True)
    assert len(after) == len(before)
    pairs = enumerate(zip(after, before, strict=True))
    changed = {i: line for i, (line, old) in pairs if line != old}
    # Every other line, comments and quoting included, is byte-for-byte what the user wrote.
    assert [before[i].split(":")[0] for i in changed] == [
        "first_message",
        "  speed",
        "  interruptions",
        "    - yep   # common in the south\n",
    ]
    assert [line.split("#")[0].rstrip() for line in changed.values()] == [
        "first_message: Hi there!",
        "  speed: 1.1",
        '  interruptions: "on"',
        "    - yeah",
    ]
    assert changed[max(changed)].endswith("# common in the south\n")
    # And what was written is what the remote has: the next comparison is clean.
    from kathansync.plan.diff import diff_leaves

    assert diff_leaves(_manifest(path).desired, remote) == []


def test_pull_keeps_block_style_and_quotes_boolean_looking_values(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\n" + COMMENTED)
    manifest = _manifest(path)
    remote = _remote(
        manifest,
        system_instruction="You are Acme's assistant.\nBe brief.\n",
        description="yes",
        call_actions={"hangup_triggers": ["bye", "no"]},
    )

    pull_manifest(manifest, remote, root=repo)

    text = path.read_text()
    assert "system_instruction: |\n  You are Acme's assistant.\n  Be brief.\nfirst_message" in text
    assert "description: 'yes'" in text
    assert 'hangup_triggers: [bye, "no"]' in text
    assert (
        load_manifests(repo / "assistants", environ={}).manifests[0].desired["description"] == "yes"
    )


def test_pull_writes_a_new_multi_line_value_as_a_literal_block(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\nfirst_message: Hello\nname: Support\n")
    manifest = _manifest(path)
    pull_manifest(manifest, _remote(manifest, first_message="Hello.\nHow are you?"), root=repo)
    assert path.read_text() == (
        f"id: {ID}\nfirst_message: |-\n  Hello.\n  How are you?\nname: Support\n"
    )


def test_pull_escapes_a_literal_dollar_brace(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\nfirst_message: Hello\n")
    manifest = _manifest(path)
    remote = _remote(manifest, first_message="Costs ${5}")
    pull_manifest(manifest, remote, root=repo)
    assert _manifest(path).desired["first_message"] == "Costs ${5}"


def test_pull_with_nothing_to_change_does_not_touch_the_file(repo: Path) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\n" + COMMENTED)
    before = path.stat().st_mtime_ns
    manifest = _manifest(path)
    report = pull_manifest(manifest, _remote(manifest, voice={"speed": 1}), root=repo)
    assert not report.changed and not report.kept
    assert path.stat().st_mtime_ns == before


def test_pull_reports_values_from_variables_and_defaults_without_writing_them(
    repo: Path,
) -> None:
    folder = repo / "assistants"
    (folder / "_defaults.yaml").write_text("voice:\n  speed: 1.0\n")
    path = folder / "support.yaml"
    text = f"id: {ID}\nname: Support\nfirst_message: ${{GREETING}}\n"
    path.write_text(text)
    result = load_manifests(folder, environ={"GREETING": "Hi"})
    (manifest,) = result.manifests
    remote = _remote(manifest, first_message="Hello", voice={"speed": 1.2})

    report = pull_manifest(manifest, remote, root=repo)

    assert report.written == []
    assert any(line.startswith("first_message: comes from ${...}") for line in report.kept)
    defaults = [line for line in report.kept if line.startswith("voice.speed: comes from")]
    assert defaults and "_defaults.yaml" in defaults[0]
    assert all("Hello" not in line and "Hi" not in line for line in report.kept)
    assert path.read_text() == text


def test_pull_updates_a_file_reference_only_with_write_files(repo: Path) -> None:
    folder = repo / "assistants"
    (repo / "prompts").mkdir()
    prompt = repo / "prompts" / "support.md"
    prompt.write_text("Be nice.\n")
    path = folder / "support.yaml"
    text = f"id: {ID}\nsystem_instruction: !file ../prompts/support.md\n"
    path.write_text(text)
    manifest = _manifest(path)
    remote = _remote(manifest, system_instruction="Be very nice.\n")

    report = pull_manifest(manifest, remote, root=repo)
    assert report.kept == [
        "system_instruction: comes from !file ../prompts/support.md;"
        " pass --write-files to update it"
    ]
    assert prompt.read_text() == "Be nice.\n"

    report = pull_manifest(manifest, remote, root=repo, write_files=True)
    assert report.files_written and report.written == []
    assert prompt.read_text() == "Be very nice.\n"
    assert path.read_text() == text
    assert _manifest(path).desired["system_instruction"] == "Be very nice.\n"


def test_pull_never_writes_a_file_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    root = repo / "assistants"  # pretend the repository is only this folder
    outside = repo / "outside.md"
    outside.write_text("Be nice.\n")
    path = root / "support.yaml"
    path.write_text(f"id: {ID}\nsystem_instruction: !file ../outside.md\n")
    manifest = _manifest(path)
    report = pull_manifest(
        manifest, _remote(manifest, system_instruction="x"), root=root, write_files=True
    )
    assert "outside the repository" in report.kept[0]
    assert outside.read_text() == "Be nice.\n"


def test_pull_leaves_a_null_remote_value_alone_where_a_manifest_cannot_say_null(
    repo: Path,
) -> None:
    path = repo / "assistants" / "support.yaml"
    text = f"id: {ID}\nvoice:\n  language: en\ndescription: Old\n"
    path.write_text(text)
    manifest = _manifest(path)
    remote = _remote(manifest, voice={"language": None}, description=None)
    report = pull_manifest(manifest, remote, root=repo)
    assert report.written == ["description"]
    assert report.kept == ["voice.language: the remote has no value; left as is"]
    assert path.read_text() == f"id: {ID}\nvoice:\n  language: en\ndescription: null\n"


# --- atomic replacement --------------------------------------------------------------------------


def test_a_failure_between_write_and_rename_leaves_the_original_intact(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo / "assistants" / "support.yaml"
    path.write_text(f"id: {ID}\n" + COMMENTED)
    manifest = _manifest(path)
    written: list[str] = []

    def crash(source: str, target: str) -> None:
        written.append(Path(source).read_text())  # the new text was fully written...
        raise OSError("disk unplugged")  # ...and then the rename never happens

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk unplugged"):
        pull_manifest(manifest, _remote(manifest, name="Renamed"), root=repo)

    assert "Renamed" in written[0]
    assert path.read_text() == f"id: {ID}\n" + COMMENTED
    assert os.listdir(path.parent) == ["support.yaml"]  # no temporary file left behind


# --- indentation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  b: 1\n  c:\n    - x\n", (2, 4, 2)),
        ("a:\n    b: 1\nc:\n- x\n", (4, 2, 0)),
        ("a:\n  - x\n", (2, 4, 2)),
        ("a: 1\n", (2, 4, 2)),
        ("a:\n  - b:\n      c: 1\n", (2, 4, 2)),
        ("a: |\n    x\nb: 1\n", (4, 4, 2)),  # a block's indent, when no nested key shows one
        ("a:\n  b: 1\nc: |\n    x\n", (2, 4, 2)),  # nested keys win
    ],
)
def test_guess_indent(text: str, expected: tuple[int, int, int]) -> None:
    assert guess_indent(text) == expected


def test_create_then_write_id_keeps_comments_and_the_next_plan_is_clean(
    repo: Path, emulator: Any
) -> None:
    from kathansync.plan import Action, FingerprintKeys, make_plan
    from kathansync.remote.client import KathanClient
    from kathansync.remote.credentials import Credentials

    keys = FingerprintKeys(salt="test", secret=b"test")
    path = repo / "assistants" / "support.yaml"
    # Not `knowledge_base_ids: null`: the emulator answers [] for it, which diff reads as drift.
    text = COMMENTED.replace("knowledge_base_ids: null\n", "")
    path.write_text(text)
    manifest = _manifest(path)
    credentials = Credentials(emulator.api_key, emulator.user_id)
    with KathanClient(emulator.url, credentials) as client:
        (change,) = make_plan([manifest], {}, api_url=emulator.url, keys=keys).changes
        assert change.action is Action.CREATE
        created = client.create_assistant(change.payload)

        write_id(path, created["id"], env=None)

        assert path.read_text().endswith(text.split("\n", 3)[3])  # every line after the id
        again = _manifest(path)
        remote = client.get_assistant(created["id"])
        plan = make_plan([again], {again.id: remote}, api_url=emulator.url, keys=keys)
        assert not plan.has_changes


# --- pull keeps what it was not asked to change (review regressions) ----------------------------


def _pull(repo: Path, text: str, **changes: Any) -> tuple[str, Manifest]:
    """Pull `changes` into a manifest with `text`; the new text and the manifest read back."""
    path = repo / "assistants" / "x.yaml"
    path.write_bytes(text.encode())
    manifest = _manifest(path)
    pull_manifest(manifest, _remote(manifest, **changes), root=repo)
    return path.read_bytes().decode(), _manifest(path)


@pytest.mark.parametrize(
    "text",
    [
        f"id: {ID}\r\nname: A\r\ndescription: d\r\n",
        f"id: {ID}\nname: A\nsystem_instruction: |\n    line one\n    line two\n",
        f"---\nid: {ID}\nname: A\n",
        f"# above the start\n---\nid: {ID}\nname: A\n",
        f"\ufeffid: {ID}\r\nname: A\r\n# last, no final newline",
        f"id: {ID}\nname: A\nspeech_settings:\n  interruptions: off\n",  # plain stays plain
    ],
)
def test_pull_changes_only_the_changed_line(repo: Path, text: str) -> None:
    out, _ = _pull(repo, text, name="B")
    assert out == text.replace("name: A", "name: B")


def test_pull_through_an_alias_leaves_the_anchored_field_alone(repo: Path) -> None:
    text = f"id: {ID}\ncall_actions:\n  hangup_triggers: &t [bye, goodbye]\n  confirm_no: *t\n"
    out, after = _pull(repo, text, call_actions={"confirm_no": ["no", "nope"]})
    assert after.desired["call_actions"] == {
        "hangup_triggers": ["bye", "goodbye"],
        "confirm_no": ["no", "nope"],
    }
    assert "hangup_triggers: &t [bye, goodbye]" in out


def test_pull_into_an_anchored_mapping_is_reported_not_written(repo: Path) -> None:
    # Changing a mapping with an &anchor changes every place that merges it.
    text = f"id: {ID}\nvoice: &v\n  voice_id: a\n  speed: 1.0\n"
    path = repo / "assistants" / "x.yaml"
    path.write_text(text)
    manifest = _manifest(path)
    report = pull_manifest(manifest, _remote(manifest, voice={"speed": 1.2}), root=repo)
    assert report.written == [] and "aliased; left as is" in report.kept[0]
    assert path.read_text() == text


@pytest.mark.parametrize("value", ["a\rb", "a\r\nb\r\n", "x\x85y", "p\u2028q", "p\u2029q\n"])
def test_pull_of_a_string_no_block_can_hold_writes_it_double_quoted(repo: Path, value: str) -> None:
    text = f"id: {ID}\nname: A\nfirst_message: |\n  hello\n"
    out, after = _pull(repo, text, first_message=value)
    assert after.desired["first_message"] == value
    assert out.startswith(f'id: {ID}\nname: A\nfirst_message: "')


def test_pull_on_a_yaml_11_file_keeps_the_directive_and_the_strings(repo: Path) -> None:
    text = f"%YAML 1.1\n---\nid: {ID}\nname: A\nvoice:\n  language: no\n"
    out, after = _pull(repo, text, name="B")
    assert out == text.replace("name: A", "name: B")
    assert after.desired["voice"]["language"] == "no"


def test_pull_keeps_each_line_end_of_a_file_with_mixed_line_ends(repo: Path) -> None:
    path = repo / "assistants" / "x.yaml"
    text = f"id: {ID}\r\nname: A\ndescription: d\r\n"
    path.write_bytes(text.encode())
    manifest = _manifest(path)
    pull_manifest(manifest, _remote(manifest, name="B"), root=repo)
    assert path.read_bytes() == text.replace("name: A", "name: B").encode()


def test_pull_keeps_an_unrelated_block_ruamel_would_reindent(repo: Path) -> None:
    # Nested keys by 2, a `|` block by 4: ruamel writes both by one amount; the block's lines
    # are not asked for, so they keep their bytes.
    path = repo / "assistants" / "x.yaml"
    text = f"id: {ID}\nvoice:\n  speed: 1.0\nsystem_instruction: |\n    a\n    b\nname: A\n"
    path.write_text(text)
    manifest = _manifest(path)
    pull_manifest(manifest, _remote(manifest, name="B"), root=repo)
    assert path.read_text() == text.replace("name: A", "name: B")


def test_pull_refuses_when_an_asked_line_is_tied_to_a_line_not_asked_for(repo: Path) -> None:
    # The new value takes more lines and ruamel re-indents the block right above it, in one
    # piece of the diff: no line-for-line choice is possible.
    path = repo / "assistants" / "x.yaml"
    text = f"id: {ID}\nvoice:\n  speed: 1.0\nsystem_instruction: |\n    a\n    b\nname: A\n"
    path.write_text(text)
    manifest = _manifest(path)
    with pytest.raises(ConfigError, match=r"x.yaml:5: .*would also change this line"):
        pull_manifest(manifest, _remote(manifest, name="B\nC"), root=repo)
    assert path.read_text() == text


def test_save_tree_refuses_text_that_does_not_read_back_as_intended(repo: Path) -> None:
    path = repo / "assistants" / "x.yaml"
    path.write_text("name: A\n")
    tree, text = load_tree(path)
    tree["name"] = "B"
    with pytest.raises(ConfigError, match="would not read back as intended"):
        save_tree(tree, path, text, expected={"name": "C"}, allowed=None)
    assert path.read_text() == "name: A\n"
    save_tree(tree, path, text, expected={"name": "B"}, allowed=None)
    assert path.read_text() == "name: B\n"


# --- the dumper itself (moved from the deleted yamlio.dump_roundtrip) ---------------------------


def test_untouched_roundtrip_is_byte_identical(repo: Path) -> None:
    path = repo / "assistants" / "x.yaml"
    path.write_text(COMMENTED)
    tree, text = load_tree(path)
    assert dump_text(tree, text) == COMMENTED


def test_roundtrip_keeps_four_space_indent(repo: Path) -> None:
    text = "# x\nl:\n    - a\n    - b\nm:\n    k: v\n"
    path = repo / "assistants" / "x.yaml"
    path.write_text(text)
    tree, original = load_tree(path)
    assert dump_text(tree, original) == text


def test_new_boolean_looking_strings_are_written_quoted() -> None:
    data = {"interruptions": "on", "emotions": "off", "a": "yes", "b": "No", "c": "plain"}
    text = dump_text(data)
    assert 'interruptions: "on"' in text and 'emotions: "off"' in text
    assert 'a: "yes"' in text and 'b: "No"' in text and "c: plain" in text
    # A YAML 1.1 reader (the pure loader honours the directive) still reads strings.
    from ruamel.yaml import YAML

    assert YAML(typ="safe", pure=True).load("%YAML 1.1\n---\n" + text) == data
