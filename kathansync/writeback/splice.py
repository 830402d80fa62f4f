"""Line splicing: the dumper's lines where a change was asked for, the file's own bytes elsewhere.

ruamel's round trip is close to faithful but not quite: it drops a comment above `---`, folds
very long lines, re-indents a block scalar to the mapping's indent, loses a trailing tab. So the
dumped text is never written as is: every line outside the ranges asked for is taken from the
original file, byte for byte (its own line end included), and the caller checks that the spliced
text still reads back as intended.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# Line breaks YAML (or ruamel's position marks) know besides LF and CRLF: a file with one of these
# raw in its text would put ruamel's line numbers and ours out of step.
_ODD_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


class UnrelatedChange(Exception):
    """The dumper changed, in one piece, lines asked for and a line that was not (0-based)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


@dataclass(frozen=True)
class Lines:
    """A text split on its line ends; each line keeps its own end ("\\n", "\\r\\n", or "")."""

    contents: tuple[str, ...]
    ends: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Lines:
        """Raises ValueError for a line break other than LF or CRLF (no line can be kept then)."""
        pieces = text.split("\n")
        last = pieces.pop()  # after a final "\n": ""
        contents: list[str] = []
        ends: list[str] = []
        for piece in pieces:
            crlf = piece.endswith("\r")
            contents.append(piece[:-1] if crlf else piece)
            ends.append("\r\n" if crlf else "\n")
        if last:
            contents.append(last)
            ends.append("")
        if any(mark in line for line in contents for mark in _ODD_BREAKS):
            raise ValueError("a line break other than LF or CRLF (CR, U+0085, U+2028, U+2029)")
        return cls(tuple(contents), tuple(ends))

    @property
    def newline(self) -> str:
        """The end most lines use, for lines that are new."""
        return "\r\n" if self.ends.count("\r\n") > self.ends.count("\n") else "\n"

    def for_parsing(self) -> str:
        """LF text for ruamel's round-trip reader: see `as_parsed`."""
        return "".join(line + "\n" for line in self.as_parsed())

    def as_parsed(self) -> list[str]:
        """The lines with tabs as spaces (same columns) and no trailing blanks.

        ruamel's pure scanner refuses tabs the loader accepts (`name: x<TAB>`, `name:<TAB>x`,
        a tab before a comment). Lines read this way are never written: every line not asked
        for is copied from the file, tabs and all."""
        return [line.replace("\t", " ").rstrip(" ") for line in self.contents]


def splice(original: Lines, dumped: str, allowed: list[tuple[int, int]]) -> str:
    """`dumped` (LF text of the edited tree) where it differs inside `allowed` (0-based [start,
    end) line ranges of `original`), the original lines everywhere else."""
    before = original.as_parsed()  # what ruamel read: an untouched line dumps the same
    after = dumped.split("\n")
    if after and after[-1] == "":
        after.pop()
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:  # line for line: each keeps its own end
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                asked = _inside(i, i + 1, allowed)
                out.append((after[j], original.ends[i]) if asked else _kept(original, i))
        elif tag != "equal" and _inside(i1, i2, allowed):
            out.extend((line, original.newline) for line in after[j1:j2])
        elif tag != "equal" and _overlaps(i1, i2, allowed):
            raise UnrelatedChange(i1)  # an asked-for line tied up with lines nobody asked for
        else:  # unchanged, or a change nobody asked for: the file's own bytes
            out.extend(_kept(original, i) for i in range(i1, i2))
    return _join(original, out)


def insert(original: Lines, at: int, new: list[str]) -> str:
    """The original text with the `new` lines put before its line `at` (0-based)."""
    count = len(original.contents)
    out = [_kept(original, i) for i in range(min(at, count))]
    out += [(line, original.newline) for line in new]
    out += [_kept(original, i) for i in range(min(at, count), count)]
    return _join(original, out)


def _join(original: Lines, out: list[tuple[str, str]]) -> str:
    """The lines with their ends; the last one with a final newline only if the file had one."""
    final_newline = not original.ends or original.ends[-1] != ""
    text = [line + (end or original.newline) for line, end in out]
    if text and not final_newline:
        text[-1] = out[-1][0]
    return "".join(text)


def _kept(original: Lines, index: int) -> tuple[str, str]:
    return original.contents[index], original.ends[index]


def _overlaps(i1: int, i2: int, allowed: list[tuple[int, int]]) -> bool:
    return any(start < i2 and i1 < end for start, end in allowed)


def _inside(i1: int, i2: int, allowed: list[tuple[int, int]]) -> bool:
    if i1 == i2:  # an insertion: at the edge of a range counts (a list item appended)
        return any(start <= i1 <= end for start, end in allowed)
    return all(any(start <= i < end for start, end in allowed) for i in range(i1, i2))
