"""Progress lines: only on a terminal, only for long runs, never with --quiet, erased at the end."""

from __future__ import annotations

import io

import pytest

from kathansync.commands.common import Options


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def options(*, quiet: bool = False) -> Options:
    return Options(None, None, None, verbose=False, quiet=quiet, no_color=False)


@pytest.mark.parametrize(
    ("stream", "total", "quiet", "drawn"),
    [
        (Terminal(), 12, False, True),
        (Terminal(), 3, False, False),  # short runs need no progress
        (Terminal(), 12, True, False),
        (io.StringIO(), 12, False, False),  # not a terminal: a log file, CI
    ],
)
def test_progress_is_drawn_only_when_useful(
    monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, total: int, quiet: bool, drawn: bool
) -> None:
    monkeypatch.setattr("sys.stderr", stream)
    with options(quiet=quiet).progress("fetching", total) as tick:
        for _ in range(total):
            tick()
    text = stream.getvalue()
    if drawn:
        assert f"\rfetching {total}/{total}" in text
        assert text.endswith("\r\x1b[K"), "the line is erased before the report"
    else:
        assert text == ""
