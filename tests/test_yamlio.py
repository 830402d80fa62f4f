"""yamlio: fast and round-trip parsing agree, positions, limits, and atomic write-back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kathansync import yamlio

COMMENTED = """\
# Support line: keep comments, order and quoting.
id: 33df85c1-dce4-4569-bac0-a9c4c70d0486
name: 'Acme Support'   # single quotes stay
voice:
  speed: 1.05
  language: "en"
speech_settings:
  interruptions: "on"
call_actions:
  transfer_triggers:
    - speak to a human
    - talk to an agent
"""


def test_both_parsers_read_the_same_values() -> None:
    text = "a: &x {b: 1}\nc:\n  <<: *x\n  d: !file p.md\n"
    fast = yamlio.parse_fast(text)
    assert fast == {"a": {"b": 1}, "c": {"b": 1, "d": yamlio.FileRef("p.md", 4, 6)}}
    assert dict(yamlio.parse_positions(text)["c"]) == fast["c"]


def test_registering_file_tag_does_not_leak_into_ruamel() -> None:
    from ruamel.yaml import YAML

    yamlio.parse_fast("a: 1\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        YAML(typ="safe", pure=False).load("a: !file x\n")


def test_position_of_values_keys_and_list_items() -> None:
    tree = yamlio.parse_positions("a: 1\nvoice:\n  speed: fast\nl:\n  - x\n  - y\n")
    assert yamlio.position(tree, ("voice", "speed")) == (3, 10)
    assert yamlio.position(tree, ("voice", "speed"), at_key=True) == (3, 3)
    assert yamlio.position(tree, ("l", 1)) == (6, 5)
    # A key that is not there points at the deepest part that is.
    assert yamlio.position(tree, ("voice", "missing")) == (3, 3)


def test_check_expansion_counts_shared_aliases() -> None:
    leaf = ["lol"] * 10
    bomb: list[object] = leaf
    for _ in range(6):
        bomb = [bomb] * 10  # the same list object, ten times: cheap to hold, huge to walk
    with pytest.raises(yamlio.SourceError, match="alias bomb"):
        yamlio.check_expansion(bomb)
    yamlio.check_expansion([leaf] * 10)


def test_decode_reports_line_and_column_of_a_bad_byte() -> None:
    with pytest.raises(yamlio.SourceError) as info:
        yamlio.decode_utf8("ä: 1\nname: ok\xff".encode().replace(b"\xc3\xbf", b"\xff"))
    assert (info.value.line, info.value.column) == (2, 9)


def test_bom_is_dropped() -> None:
    assert yamlio.decode_utf8(b"\xef\xbb\xbfa: 1\n") == "a: 1\n"


def test_untouched_roundtrip_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    yamlio.dump_roundtrip(yamlio.load_roundtrip(path), path)
    assert path.read_text(encoding="utf-8") == COMMENTED


def test_roundtrip_keeps_four_space_sequence_indent(tmp_path: Path) -> None:
    text = "# x\nl:\n    - a\n    - b\nm:\n    k: v\n"
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8")
    yamlio.dump_roundtrip(yamlio.load_roundtrip(path), path)
    assert path.read_text(encoding="utf-8") == text


def test_boolean_looking_strings_are_written_quoted(tmp_path: Path) -> None:
    path = tmp_path / "new.yaml"
    data = {"interruptions": "on", "emotions": "off", "a": "yes", "b": "No", "c": "plain"}
    yamlio.dump_roundtrip(data, path)
    text = path.read_text(encoding="utf-8")
    assert 'interruptions: "on"' in text and 'emotions: "off"' in text
    assert 'a: "yes"' in text and 'b: "No"' in text and "c: plain" in text
    # A YAML 1.1 reader (the pure loader honours the directive) still reads strings.
    from ruamel.yaml import YAML

    assert YAML(typ="safe", pure=True).load("%YAML 1.1\n---\n" + text) == data


def test_changed_value_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    data = yamlio.load_roundtrip(path)
    data["voice"]["speed"] = 1.1
    yamlio.dump_roundtrip(data, path)
    assert path.read_text(encoding="utf-8") == COMMENTED.replace("1.05", "1.1")


def test_failed_write_leaves_the_original_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(COMMENTED, encoding="utf-8")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        yamlio.dump_roundtrip({"name": "new"}, path)
    assert path.read_text(encoding="utf-8") == COMMENTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml"]  # no temp file left
