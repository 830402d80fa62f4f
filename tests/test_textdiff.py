"""textdiff: the line and word differences, lengths and escaping every renderer shows alike."""

from __future__ import annotations

import pytest

from kathansync.textdiff import (
    ELLIPSIS,
    Segment,
    char_delta,
    count_lines,
    describe_lines,
    line_diff,
    list_diff,
    shorten,
    visible,
    word_diff,
)

# --- line_diff --------------------------------------------------------------------------------


def test_line_diff_is_a_unified_diff_without_file_headers() -> None:
    assert line_diff("a\nb\nc\n", "a\nB\nc\n") == ["@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"]


def test_line_diff_keeps_only_the_asked_context_around_a_change() -> None:
    before = "\n".join(str(n) for n in range(20))
    after = before.replace("10", "ten")
    assert line_diff(before, after, context=1) == ["@@ -10,3 +10,3 @@", " 9", "-10", "+ten", " 11"]
    assert len(line_diff(before, after)) == 2 + 3 + 3 + 1  # the default: three lines each side


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param("a\nb", "a\nb\n", id="trailing newline added"),
        pytest.param("a\nb\n", "a\nb", id="trailing newline removed"),
        pytest.param("a\r\nb\r\n", "a\nb\n", id="CRLF to LF"),
    ],
)
def test_a_change_invisible_to_a_line_diff_is_still_said(before: str, after: str) -> None:
    assert line_diff(before, after) == ["(only line endings or the trailing newline differ)"]


def test_equal_texts_have_no_line_diff() -> None:
    assert line_diff("same\ntext\n", "same\ntext\n") == []


def test_list_diff_diffs_items_as_lines() -> None:
    assert list_diff(["a", "b"], ["a", "c"]) == ["@@ -1,2 +1,2 @@", " a", "-b", "+c"]
    assert list_diff(["a"], ["a"]) == []


def test_count_lines_counts_removed_and_added_but_not_context_or_headers() -> None:
    assert count_lines(line_diff("a\nb\nkeep\n", "c\nd\ne\nkeep\n")) == (2, 3)


@pytest.mark.parametrize(
    ("removed", "added", "said"),
    [
        (1, 0, "1 line removed"),
        (2, 0, "2 lines removed"),
        (0, 1, "1 line added"),
        (0, 2, "2 lines added"),
        (2, 1, "2 lines removed, 1 added"),
        (0, 0, "whitespace changed"),
    ],
)
def test_describe_lines(removed: int, added: int, said: str) -> None:
    assert describe_lines(removed, added) == said


# --- word_diff --------------------------------------------------------------------------------


def test_word_diff_marks_the_changed_word_and_elides_the_far_context() -> None:
    segments = word_diff(
        "The quick brown fox jumps over the lazy dog", "The quick red fox jumps over the lazy dog"
    )
    assert segments == [
        Segment("equal", "The quick "),
        Segment("delete", "brown"),
        Segment("insert", "red"),
        Segment("equal", " fox jumps over the"),
        Segment("elided", f" {ELLIPSIS}"),
    ]


def test_word_diff_elides_a_long_unchanged_start_down_to_the_context() -> None:
    before = "one two three four five six seven eight nine ten eleven twelve"
    segments = word_diff(before, before.replace("twelve", "TWELVE"), context=2)
    assert segments == [
        Segment("elided", f"{ELLIPSIS} "),
        Segment("equal", "eleven "),
        Segment("delete", "twelve"),
        Segment("insert", "TWELVE"),
    ]


def test_word_diff_reassembles_both_sides_when_nothing_is_elided() -> None:
    before, after = "Be brief, please.", "Be kind, please."
    segments = word_diff(before, after)
    assert segments is not None
    assert "".join(s.text for s in segments if s.kind != "insert") == before
    assert "".join(s.text for s in segments if s.kind != "delete") == after


def test_word_diff_gives_up_on_lines_too_different_for_markers() -> None:
    assert word_diff("hello world", "completely different text here") is None


def test_word_diff_of_equal_empty_lines_is_empty() -> None:
    assert word_diff("", "") == []


# --- char_delta, visible, shorten -------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ("ab", "abc", "+1 character"),
        ("a", "abc", "+2 characters"),
        ("abc", "a", "-2 characters"),
        ("a", "b", "same length"),
    ],
)
def test_char_delta(before: str, after: str, said: str) -> None:
    assert char_delta(before, after) == said


def test_visible_spells_out_terminal_controls_and_bidi_overrides() -> None:
    assert visible("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert visible("\x7f\x9b") == "\\x7f\\x9b"  # DEL and the 8-bit CSI
    assert visible("\u202eevil\u2066") == "\\u202eevil\\u2066"  # Trojan Source


def test_visible_keeps_tab_newline_and_ordinary_unicode() -> None:
    text = "tab\there\nnext line: café, 東京, emoji 🙂"
    assert visible(text) == text


def test_shorten_cuts_to_the_width_with_an_ellipsis() -> None:
    assert shorten("abcdef", 4) == f"abc{ELLIPSIS}"
    assert len(shorten("x" * 100, 10)) == 10


def test_shorten_leaves_text_that_fits() -> None:
    assert shorten("abcd", 4) == "abcd"
    assert shorten("", 4) == ""
