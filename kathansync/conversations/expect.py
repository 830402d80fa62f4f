"""EXPECTATIONS (pure): does one answer satisfy a turn's `expect`? And does a case pass?

Every check is case-insensitive (casefold, so "STRASSE" meets "straße"); `matches` is a Python
regex searched anywhere in the answer, for at most MATCH_SECONDS: a pattern that backtracks
for longer (`(a|aa)+$`) fails its turn with a message saying so, instead of hanging the run.
An empty answer contains nothing: `contains` and `contains_any` fail on it, `not_contains`
holds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from kathansync.conversations.suite import ExpectSpec

_PERCENT = Decimal("0.01")
# A real answer is matched in microseconds; a second is only reached by runaway backtracking.
# `regex` checks its clock periodically, so a search can overrun this by about a second.
MATCH_SECONDS = 1.0


def check(expect: ExpectSpec, output: str) -> list[str]:
    """One line per expectation the answer breaks (empty: it holds), in a fixed order."""
    text = output.casefold()
    broken: list[str] = []
    if expect.not_empty and not output.strip():
        broken.append("not_empty: the answer is empty")
    missing = [word for word in expect.contains if word.casefold() not in text]
    if missing:
        broken.append(f"contains: missing {_listed(missing)}")
    if expect.contains_any and not any(w.casefold() in text for w in expect.contains_any):
        broken.append(f"contains_any: none of {_listed(expect.contains_any)} appears")
    found = [word for word in expect.not_contains if word.casefold() in text]
    if found:
        broken.append(f"not_contains: found {_listed(found)}")
    if expect.matches is not None:
        broken.extend(_regex_broken(expect.matches, output))
    return broken


def _regex_broken(pattern: str, output: str) -> list[str]:
    import regex  # 12 ms: only when a suite has a pattern

    try:
        found = regex.search(pattern, output, regex.IGNORECASE, timeout=MATCH_SECONDS)
    except TimeoutError:
        return [
            f"matches: /{pattern}/ ran longer than {MATCH_SECONDS:g} s against the answer"
            " (catastrophic backtracking?): counted as no match"
        ]
    return [] if found else [f"matches: no match for /{pattern}/"]


def meets(passed: int, repeat: int, pass_rate: float) -> bool:
    """Whether `passed` of `repeat` runs meet `pass_rate`.

    The observed rate is compared exactly, and also rounded to whole percent, so a threshold
    written as a rounded fraction means what it says: 2 of 3 runs (66.7 %) meet 0.67 and 0.66,
    not 0.7. Decimal arithmetic, so 0.29 is 0.29 and not 0.28999....
    """
    rate = Decimal(passed) / Decimal(repeat)
    threshold = Decimal(str(pass_rate))
    return rate >= threshold or rate.quantize(_PERCENT, ROUND_HALF_UP) >= threshold


def required_runs(repeat: int, pass_rate: float) -> int:
    """The fewest passing runs out of `repeat` that meet `pass_rate`."""
    return next(k for k in range(repeat + 1) if meets(k, repeat, pass_rate))


def _listed(words: tuple[str, ...] | list[str]) -> str:
    return ", ".join(repr(word) for word in words)
