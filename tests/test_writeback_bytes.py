"""Write-back keeps every byte it was not asked to change: tabs, CRLF, BOM, `---`, long lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import MakeRepo, invoke

from kathansync.errors import ConfigError
from kathansync.load import load_manifests
from kathansync.models import Manifest
from kathansync.tree import overlay
from kathansync.writeback import pull_manifest, write_id

ID = "3f2b8c1e-0000-4000-8000-000000000001"
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(config="{}\n")


def _write(repo: Path, data: bytes) -> Path:
    path = repo / "assistants" / "x.yaml"
    path.write_bytes(data)
    return path


def _manifest(path: Path) -> Manifest:
    result = load_manifests(path.parent, environ={})
    assert not result.errors, result.problems
    (manifest,) = result.manifests
    return manifest


def _pull(path: Path, **changes: Any) -> list[str]:
    manifest = _manifest(path)
    remote = overlay({"id": manifest.id, **manifest.desired}, changes)
    report = pull_manifest(manifest, remote, root=path.parent.parent)
    assert _manifest(path).desired == overlay(manifest.desired, changes)
    return sorted(report.written)


# --- the id after a create ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # A trailing tab the loader accepts but ruamel's round-trip scanner refuses.
        (b"name: x\t\n", b"id: %s\nname: x\t\n"),
        (b"name:\tx\n", b"id: %s\nname:\tx\n"),
        (b"name: x\t# c\n", b"id: %s\nname: x\t# c\n"),
        (b'name: "a\tb"\n', b'id: %s\nname: "a\tb"\n'),
        (b"voice: {speed: 1.0,\tlanguage: en}\n", b"id: %s\nvoice: {speed: 1.0,\tlanguage: en}\n"),
        # CRLF with a comment: no stray `\r` (`# c\r\r\n`).
        (b"# c\r\nname: x\r\n", b"# c\r\nid: %s\r\nname: x\r\n"),
        # A comment above `---` is kept.
        (b"# top\n---\nname: x\n", b"# top\n---\nid: %s\nname: x\n"),
        (b"%YAML 1.1\n# about\n---\nname: x\n", b"%YAML 1.1\n# about\n---\nid: %s\nname: x\n"),
        # A BOM stays, and a file without a final newline does not get one.
        (BOM + b"name: x\n", BOM + b"id: %s\nname: x\n"),
        (b"name: x", b"id: %s\nname: x"),
        (b"# only a comment\nname: x  # why\n", b"# only a comment\nid: %s\nname: x  # why\n"),
        # First lines ruamel would write differently: not rewritten for an id above them.
        (b"name:   x\n", b"id: %s\nname:   x\n"),
        (b"description: ~\nname: x\n", b"id: %s\ndescription: ~\nname: x\n"),
        (b"description:\nname: x\n", b"id: %s\ndescription:\nname: x\n"),
        (b"knowledge_base_ids: [ a,  b ]\n", b"id: %s\nknowledge_base_ids: [ a,  b ]\n"),
        (b"voice: &v\n  speed: 1\nname: x\n", b"id: %s\nvoice: &v\n  speed: 1\nname: x\n"),
    ],
)
def test_write_id_changes_nothing_but_the_id_line(repo: Path, before: bytes, after: bytes) -> None:
    path = _write(repo, before)
    write_id(path, ID, env=None)
    assert path.read_bytes() == after.replace(b"%s", ID.encode())
    assert _manifest(path).id == ID


def test_write_id_per_environment_in_a_crlf_file(repo: Path) -> None:
    path = _write(repo, b"# c\r\nid:\r\n  staging: %s  # by hand\r\nname: x\r\n" % ID.encode())
    other = ID.replace("1", "2")
    write_id(path, other, env="production")
    assert path.read_bytes() == (
        b"# c\r\nid:\r\n  staging: %s  # by hand\r\n  production: %s\r\nname: x\r\n"
        % (ID.encode(), other.encode())
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "id:\n    staging: {A}\nname:   x\n",
            "id:\n    staging: {A}\n    production: {B}\nname:   x\n",
        ),
        ("id: {{staging: {A}}}\nname: x\n", "id: {{staging: {A}, production: {B}}}\nname: x\n"),
    ],
)
def test_write_id_adds_an_environment_beside_the_others(
    repo: Path, before: str, after: str
) -> None:
    other = ID.replace("1", "2")
    path = _write(repo, before.format(A=ID, B=other).encode())
    write_id(path, other, env="production")
    assert path.read_text() == after.format(A=ID, B=other)


def test_apply_writes_the_id_of_a_create_into_a_file_with_a_trailing_tab(
    repo: Path, kathan_env: Any
) -> None:
    path = _write(repo, b"# new one\r\nname: Brand new\t\r\n")
    result = invoke("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    (created,) = kathan_env.assistants
    assert path.read_bytes() == b"# new one\r\nid: %s\r\nname: Brand new\t\r\n" % created.encode()
    plan = invoke("plan")
    assert "No changes." in plan.stdout


# --- pull ---------------------------------------------------------------------------------------


def test_pull_into_a_crlf_file_with_comments(repo: Path) -> None:
    text = f"# c\r\nid: {ID}\r\nname: A  # shown\r\n# note\r\ndescription: d\r\n"
    path = _write(repo, text.encode())
    assert _pull(path, name="B") == ["name"]
    assert path.read_bytes() == text.replace("name: A", "name: B").encode()


def test_pull_beside_a_trailing_tab(repo: Path) -> None:
    text = f"id: {ID}\nname: x\t\ndescription: d\n"
    path = _write(repo, text.encode())
    assert _pull(path, description="e") == ["description"]
    assert path.read_bytes() == text.replace("d\n", "e\n").encode()


@pytest.mark.parametrize(
    ("text", "changes", "expected"),
    [
        (
            "id: {ID}\nvoice:\n  speed: 1.0\n  language: en\nname: A\n",
            {"voice": {"speed": 1.2, "language": "de"}},
            "id: {ID}\nvoice:\n  speed: 1.2\n  language: de\nname: A\n",
        ),
        (
            "id: {ID}\nname: A\ndescription: d  # keep\nfirst_message: Hi\n",
            {"name": "B", "description": "e"},
            "id: {ID}\nname: B\ndescription: e  # keep\nfirst_message: Hi\n",
        ),
    ],
)
def test_pull_of_two_fields_on_adjacent_lines(
    repo: Path, text: str, changes: dict[str, Any], expected: str
) -> None:
    path = _write(repo, text.replace("{ID}", ID).encode())
    assert len(_pull(path, **changes)) == 2
    assert path.read_bytes() == expected.replace("{ID}", ID).encode()


def test_pull_beside_a_line_over_4096_characters(repo: Path) -> None:
    long = " ".join(["word"] * 1500)  # 7,499 characters on one line
    text = f"id: {ID}\nname: A\ndescription: {long}\n"
    path = _write(repo, text.encode())
    _pull(path, name="B")
    assert path.read_bytes() == text.replace("name: A", "name: B").encode()
    _pull(path, description=long + " more")
    assert path.read_text().splitlines()[2] == f"description: {long} more"


def test_pull_keeps_a_bom_and_a_missing_final_newline(repo: Path) -> None:
    text = f"id: {ID}\nname: A\ndescription: d"
    path = _write(repo, BOM + text.encode())
    _pull(path, description="e")
    assert path.read_bytes() == BOM + text.replace("description: d", "description: e").encode()


def test_pull_refuses_a_file_with_a_lone_carriage_return(repo: Path) -> None:
    # YAML reads a lone CR as a line break and ruamel counts lines by it: no line can be kept.
    text = f"id: {ID}\nname: A\ndescription: 'old\rmac'\n"
    path = _write(repo, text.encode())
    manifest = _manifest(path)
    remote = overlay({"id": ID, **manifest.desired}, {"name": "B"})
    with pytest.raises(ConfigError, match=r"x\.yaml: a line break other than LF or CRLF"):
        pull_manifest(manifest, remote, root=repo)
    assert path.read_bytes() == text.encode()


# --- every single-field pull, in every byte layout -----------------------------------------------

LAYOUT = """\
# Support line assistant.{SP}
---
id: {ID}
name: "Acme Support"   # shown in the dashboard
description: 'Answers questions about orders'\t
system_instruction: |
    You are Acme's support assistant.{SP}
    Be brief and friendly.
voice:
  voice_id: alloy      # picked in the 2025 voice test
  speed: 1.0
call_actions:
  hangup_triggers: [bye, goodbye]
  transfer_number: "+15550100"
first_message: {LONG}
"""
SINGLE_CHANGES = [
    ({"name": "Acme Help"}, "name:"),
    ({"description": "Orders"}, "description:"),
    ({"voice": {"speed": 1.1}}, "  speed:"),
    ({"voice": {"voice_id": "nova"}}, "  voice_id:"),
    ({"call_actions": {"transfer_number": "+15550199"}}, "  transfer_number:"),
    ({"call_actions": {"hangup_triggers": ["bye", "ciao"]}}, "  hangup_triggers:"),
]


@pytest.mark.parametrize(("changes", "key"), SINGLE_CHANGES)
@pytest.mark.parametrize(
    "layout",
    ["lf", "crlf", "bom-crlf", "no-final-newline"],
)
def test_a_single_field_pull_changes_exactly_its_line(
    repo: Path, changes: dict[str, Any], key: str, layout: str
) -> None:
    # Trailing blanks, a trailing tab, a `|` block indented by 4 under keys indented by 2, a
    # comment above `---` and a 6,000-character line: all kept byte for byte.
    text = LAYOUT.format(ID=ID, LONG="hi " * 2000, SP="  ")
    if layout == "no-final-newline":
        text = text.rstrip("\n")
    if "crlf" in layout:
        text = text.replace("\n", "\r\n")
    data = (BOM if layout.startswith("bom") else b"") + text.encode()
    path = _write(repo, data)
    _pull(path, **changes)
    before, after = data.split(b"\n"), path.read_bytes().split(b"\n")
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1 and before[changed[0]].startswith(key.encode()), (before, after)


def test_a_block_pulled_into_the_last_line_gets_the_final_newline_it_needs(repo: Path) -> None:
    path = _write(repo, f"id: {ID}\nname: A\nfirst_message: Hi".encode())
    _pull(path, first_message="Hello.\nHow are you?\n")
    assert path.read_bytes() == (
        f"id: {ID}\nname: A\nfirst_message: |\n  Hello.\n  How are you?\n".encode()
    )
