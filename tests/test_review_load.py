"""Review of kathansync/load: regressions for bugs found in the fast parser and the cache."""

from __future__ import annotations

from typing import Any

import pytest

from kathansync.load import fastyaml, yamlio


def _reference(text: str) -> Any:
    """ruamel's reading (the path every text ryaml steps aside for)."""
    return yamlio._parse(yamlio._fast_loader(), text)


@pytest.mark.parametrize(
    "scalar",
    ["1e309", "-1e400", "+1E400", "1.0e+400", ".5e+999", "1" * 400, "1" * 400 + ".5"],
)
def test_fast_path_agrees_on_numbers_that_overflow(scalar: str) -> None:
    # ryaml gives up on a number it cannot hold and returns the text; ruamel reads inf or a
    # big int. The same file must not mean two things depending on which path read it.
    text = f"name: {scalar}\n"
    fast = fastyaml.parse(text)
    assert fast is None or repr(fast) == repr(_reference(text))
