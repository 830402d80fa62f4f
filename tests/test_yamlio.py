"""yamlio: fast and round-trip parsing agree, positions, limits (alias bombs, depth, tags)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kathansync.load import yamlio
from kathansync.load.positions import position


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
    assert position(tree, ("voice", "speed")) == (3, 10)
    assert position(tree, ("voice", "speed"), at_key=True) == (3, 3)
    assert position(tree, ("l", 1)) == (6, 5)
    # A key that is not there points at the deepest part that is.
    assert position(tree, ("voice", "missing")) == (3, 3)


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


def test_position_of_a_merged_key_is_the_mapping_that_merges_it() -> None:
    # ruamel has no position for a key that came in through `<<:` (lc returns None).
    tree = yamlio.parse_positions("voice: &v {speed: 1.0}\nllm:\n  <<: *v\n")
    assert position(tree, ("llm", "speed")) == (3, 3)
    assert position(tree, ("llm", "speed"), at_key=True) == (3, 3)


def test_position_of_an_empty_value_is_its_key_line() -> None:
    # ruamel marks an empty value where the next token starts: here line 5, not line 2.
    tree = yamlio.parse_positions("name: x\nvoice:\n\n# c\ndescription: y\n")
    assert position(tree, ("voice",)) == (2, 1)
    assert position(yamlio.parse_positions("a: null\n"), ("a",)) == (1, 4)


@pytest.mark.parametrize("parse", [yamlio.parse_fast, yamlio.parse_positions])
def test_deep_nesting_is_a_source_error(parse: Callable[[str], Any]) -> None:
    with pytest.raises(yamlio.SourceError, match="nested more than"):
        parse("name: " + "[" * 400 + "]" * 400 + "\n")


def test_nesting_as_deep_as_allowed_loads() -> None:
    depth = yamlio.MAX_DEPTH - 1
    assert yamlio.parse_fast("a: " + "[" * depth + "]" * depth + "\n") is not None


@pytest.mark.parametrize("tag", ["!!pairs", "!!omap", "!!set", "!!binary"])
@pytest.mark.parametrize("parse", [yamlio.parse_fast, yamlio.parse_positions])
def test_non_json_tags_are_refused_at_their_position(tag: str, parse: Callable[[str], Any]) -> None:
    body = {"!!binary": "aGk=", "!!set": "{a: null}"}.get(tag, "[{a: 1}]")
    with pytest.raises(yamlio.SourceError, match="unsupported tag") as info:
        parse(f"name: x\nknowledge_base_ids: {tag} {body}\n")
    assert info.value.line == 2


def test_pairs_alias_bomb_is_refused_with_a_short_message() -> None:
    # !!pairs built tuples, which the node budget did not walk: 332 bytes -> a 5 MB message.
    lines = ["  - a0: &a0 [x,x,x,x,x,x,x,x,x,x]"] + [
        f"  - a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 6)
    ]
    with pytest.raises(yamlio.SourceError) as info:
        yamlio.parse_fast("knowledge_base_ids: !!pairs\n" + "\n".join(lines) + "\n")
    assert len(info.value.message) < 200


def test_timestamps_are_text_as_in_yaml_12() -> None:
    assert yamlio.parse_fast("description: 2025-01-02\n") == {"description": "2025-01-02"}


def test_aliased_long_string_is_charged_by_its_length() -> None:
    # Under 1 MiB of file, 90,000 nodes (under the node budget), 54 GB of expanded text.
    text = f'd: &s "{"A" * 600_000}"\nl: [' + ",".join(["*s"] * 90_000) + "]\n"
    with pytest.raises(yamlio.SourceError, match="characters"):
        yamlio.parse_fast(text)


def test_text_budget_counts_keys_and_strings() -> None:
    yamlio.check_expansion({"k": ["x" * 10] * 9}, max_text=91)
    with pytest.raises(yamlio.SourceError, match="alias bomb"):
        yamlio.check_expansion({"k": ["x" * 10] * 9}, max_text=90)


def test_a_merge_key_bomb_is_refused_on_the_events_and_the_loader_still_works() -> None:
    lines = ["a0: &a0 {x: 1}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, 40)]
    with pytest.raises(yamlio.SourceError, match="merge keys") as caught:
        yamlio.parse_fast("\n".join(lines) + "\n")
    assert caught.value.line == 15  # where the budget ran out (2**16 values), not the end
    # The shared loader was left in a usable state: merges within budget still work.
    assert yamlio.parse_fast("a: &a {x: 1}\nb: {<<: *a, y: 2}\n") == {
        "a": {"x": 1},
        "b": {"x": 1, "y": 2},
    }


@pytest.mark.parametrize(("text", "where"), [("a: \x00\n", (1, 4)), ("a: b\nc: d\x07e\n", (2, 5))])
def test_characters_yaml_forbids_are_reported_at_line_and_column(
    text: str, where: tuple[int, int]
) -> None:
    with pytest.raises(yamlio.SourceError, match="control character") as caught:
        yamlio.parse_fast(text)
    assert (caught.value.line, caught.value.column) == where
