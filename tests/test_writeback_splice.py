"""Line splicing: the dumper's lines only where asked, the file's own bytes (and ends) elsewhere."""

from __future__ import annotations

import pytest

from kathansync.writeback.splice import Lines, UnrelatedChange, insert, splice


def test_lines_keep_each_end_and_a_missing_final_newline() -> None:
    lines = Lines.of("a\r\nb\nc")
    assert lines.contents == ("a", "b", "c") and lines.ends == ("\r\n", "\n", "")
    assert Lines.of("a\r\nb\r\nc\n").newline == "\r\n"
    assert Lines.of("").contents == ()


@pytest.mark.parametrize("text", ["a\rb\n", "a\x85b\n", "a\u2028b\n", "a\u2029b\n"])
def test_lines_refuse_other_line_breaks(text: str) -> None:
    with pytest.raises(ValueError, match="other than LF or CRLF"):
        Lines.of(text)


def test_as_parsed_has_tabs_as_spaces_in_the_same_columns() -> None:
    assert Lines.of("name:\tx\t\nb: 1  \n").as_parsed() == ["name: x", "b: 1"]


@pytest.mark.parametrize(
    ("original", "dumped", "allowed", "expected"),
    [
        # Only the asked line takes the dumper's text; the others keep their bytes.
        (
            "a: 1\t\r\nb: 2\r\nc:   3\r\n",
            "a: 1\nb: 9\nc: 3\n",
            [(1, 2)],
            "a: 1\t\r\nb: 9\r\nc:   3\r\n",
        ),
        # An insertion at the edge of a range (a list item appended).
        ("l:\n- x\nn: 1\n", "l:\n- x\n- y\nn: 1\n", [(0, 2)], "l:\n- x\n- y\nn: 1\n"),
        # A change nobody asked for is dropped.
        ("# c\n---\na: 1\n", "---\na: 2\n", [(2, 3)], "# c\n---\na: 2\n"),
        # No final newline stays so.
        ("a: 1\nb: 2", "a: 1\nb: 3\n", [(1, 2)], "a: 1\nb: 3"),
    ],
)
def test_splice(original: str, dumped: str, allowed: list[tuple[int, int]], expected: str) -> None:
    assert splice(Lines.of(original), dumped, allowed) == expected


def test_splice_refuses_an_asked_line_tied_to_one_not_asked_for() -> None:
    with pytest.raises(UnrelatedChange) as caught:
        splice(Lines.of("a: 1\n  b\nc: 1\n"), "a: 1\nb\nc: |\n  x\n", [(2, 3)])
    assert caught.value.line == 1


def test_insert_uses_the_file_line_end_and_keeps_the_rest() -> None:
    assert insert(Lines.of("# h\r\nname: x\r\n"), 1, ["id: 1"]) == "# h\r\nid: 1\r\nname: x\r\n"
    assert insert(Lines.of("name: x"), 0, ["id: 1"]) == "id: 1\nname: x"
    assert insert(Lines.of("name: x"), 5, ["id: 1"]) == "name: x\nid: 1"
