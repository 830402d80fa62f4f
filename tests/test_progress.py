"""Progress lines: on a terminal, once the wait passes about a second, never with --quiet."""

from __future__ import annotations

import io
import threading

import pytest

from kathansync.commands.common import Options, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def options(*, quiet: bool = False) -> Options:
    return Options(None, None, None, verbose=False, quiet=quiet, no_color=False)


def _slow_run(total: int, opts: Options, *, delay: float = 0.05) -> None:
    """Waits well past the delay before the first item is done, then finishes every item."""
    with Progress("fetching", total, opts, delay=delay) as shown:
        if shown.enabled:
            _wait_shown(shown)  # the timer's first drawing, rather than a fixed sleep
        else:
            threading.Event().wait(delay * 4)  # long past the delay: still nothing drawn
        for _ in range(total):
            shown.tick()


def _wait_shown(progress: Progress) -> None:
    for _ in range(200):
        if progress.shown:
            return
        threading.Event().wait(0.01)
    pytest.fail("the progress line never appeared")


@pytest.mark.parametrize("total", [1, 3, 12])
def test_a_slow_wait_shows_progress_whatever_the_count(
    monkeypatch: pytest.MonkeyPatch, total: int
) -> None:
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    _slow_run(total, options())
    text = stream.getvalue()
    assert text.startswith(f"\rfetching 0/{total}")
    assert f"\rfetching {total}/{total}" in text
    assert text.endswith("\r\x1b[K"), "the line is erased before the report"


def test_a_quick_run_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with options().progress("fetching", 50) as tick:
        for _ in range(50):
            tick()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("stream", "quiet"),
    [
        (Terminal(), True),
        (io.StringIO(), False),  # not a terminal: a log file, CI
    ],
)
def test_no_progress_when_quiet_or_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, quiet: bool
) -> None:
    monkeypatch.setattr("sys.stderr", stream)
    _slow_run(3, options(quiet=quiet))
    assert stream.getvalue() == ""
