"""Leaf paths: iterate, get, has, overlay and the dotted spelling, shared by load, diff, pull."""

from __future__ import annotations

from typing import Any

import pytest

from kathansync.tree import copy_tree, dotted, has, iter_leaves, overlay, value_at

TREE: dict[str, Any] = {
    "name": "Support",
    "voice": {"speed": 1.05, "language": None},
    "knowledge_base_ids": ["kb-a", {"nested": True}],
    "empty": {},
}


def test_leaves_are_every_non_mapping_value_in_order() -> None:
    assert list(iter_leaves(TREE)) == [
        (("name",), "Support"),
        (("voice", "speed"), 1.05),
        (("voice", "language"), None),
        (("knowledge_base_ids",), ["kb-a", {"nested": True}]),  # a list is one leaf
    ]


@pytest.mark.parametrize(
    ("path", "value", "present"),
    [
        (("voice", "speed"), 1.05, True),
        (("voice", "language"), None, True),  # null and absent read alike, but `has` tells
        (("voice", "tts_model"), None, False),
        (("name", "more"), None, False),  # stepping into a scalar
        (("knowledge_base_ids", 0), None, True),  # `has` steps into lists, value_at does not
        (("knowledge_base_ids", 5), None, False),
        ((), TREE, True),
    ],
)
def test_value_at_and_has(path: tuple[str | int, ...], value: Any, present: bool) -> None:
    assert value_at(TREE, path) == value
    assert has(TREE, path) is present


def test_overlay_merges_mappings_and_replaces_the_rest_without_sharing() -> None:
    base = {"voice": {"speed": 1, "language": "en"}, "knowledge_base_ids": ["a"], "name": "x"}
    top = {"voice": {"speed": 2}, "knowledge_base_ids": ["b"], "llm": {"model": "m"}}
    merged = overlay(base, top)
    assert merged == {
        "voice": {"speed": 2, "language": "en"},
        "knowledge_base_ids": ["b"],
        "name": "x",
        "llm": {"model": "m"},
    }
    merged["llm"]["model"] = "changed"
    merged["knowledge_base_ids"].append("c")
    merged["voice"]["speed"] = 3
    assert top == {"voice": {"speed": 2}, "knowledge_base_ids": ["b"], "llm": {"model": "m"}}
    assert base["voice"] == {"speed": 1, "language": "en"}


def test_copy_tree_copies_containers_only() -> None:
    copied = copy_tree(TREE)
    assert copied == TREE
    assert copied["voice"] is not TREE["voice"]
    assert copied["knowledge_base_ids"][1] is not TREE["knowledge_base_ids"][1]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("voice", "speed"), "voice.speed"),
        (("knowledge_base_ids", 0), "knowledge_base_ids"),  # a list is one leaf
        ((), ""),
    ],
)
def test_dotted(path: tuple[str | int, ...], expected: str) -> None:
    assert dotted(path) == expected
