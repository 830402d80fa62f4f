"""Did-you-mean: the closest known word to a misspelt one (difflib, no dependencies)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate most like `word`, or None when nothing is close enough to be a typo."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`"; did you mean 'speed'?"` for a close match, else `""`: ready to append to a message."""
    match = closest(word, candidates)
    return f"; did you mean {match!r}?" if match else ""
