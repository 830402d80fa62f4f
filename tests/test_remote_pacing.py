"""The rate budget and retry pacing with an injected clock: no test here really waits."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from kathansync.errors import ApiError, ConfigError
from kathansync.remote.pacing import RateBudget, RateHeaders


class SharedTime:
    """A fake clock shared by threads, faithful to real time: work takes no time, and time
    moves only when every thread sharing the clock is asleep, to the earliest wake-up.

    Moving it on each sleep instead (wake at what the sleeper last read + seconds) lets one
    thread's 60 s wait pass while another, descheduled between taking a budget slot and
    sending, still holds that slot: its request then reaches the fake server a window or two
    late, which in real time (a gap of microseconds) cannot happen. Alone (no `share()`),
    a sleep moves the clock at once.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._changed = threading.Condition()
        self._wakes: list[float] = []  # when each sleeping thread wakes
        self._threads, self._items_left = 1, 1

    def share(self, threads: int, items: int) -> None:
        """`items` pieces of work run on `threads` threads, each calling `item_done()`."""
        with self._changed:
            self._threads, self._items_left = threads, items

    def item_done(self) -> None:
        with self._changed:
            self._items_left -= 1
            self._advance()

    def clock(self) -> float:
        with self._changed:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            self.sleeps.append(seconds)
            wake = self.now + seconds
            self._wakes.append(wake)
            self._advance()
            woke = self._changed.wait_for(lambda: self.now >= wake, timeout=30.0)
            self._wakes.remove(wake)
            assert woke, "fake clock stuck: a thread sharing it neither sleeps nor ends"

    def _advance(self) -> None:
        """Called under the lock: when every running thread sleeps, the earliest wakes."""
        running = min(self._threads, self._items_left)
        if self._wakes and len(self._wakes) >= running and min(self._wakes) > self.now:
            self.now = min(self._wakes)
            self._changed.notify_all()


def windows(times: list[float], length: float = 60.0) -> list[int]:
    """Requests per server window [0, 60), [60, 120), ..."""
    counts = Counter(int(t // length) for t in times)
    return [counts[index] for index in range(max(counts) + 1)]


def test_a_budget_of_10_per_window_spreads_30_requests_over_3_windows() -> None:
    fake = SharedTime()
    notes: list[str] = []
    budget = RateBudget(10, clock=fake.clock, sleep=fake.sleep, notify=notes.append)
    sent = []
    for _ in range(30):
        budget.acquire()
        sent.append(fake.now)
    assert windows(sent) == [10, 10, 10]
    assert fake.sleeps == [60.0, 60.0]
    assert notes == ["rate limit: waiting 60 s"] * 2


def test_parallel_threads_never_exceed_the_budget() -> None:
    fake = SharedTime()
    notes: list[str] = []
    budget = RateBudget(10, clock=fake.clock, sleep=fake.sleep, notify=notes.append)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(5):
                budget.acquire()
                with lock:
                    sent.append(fake.now)
        finally:
            fake.item_done()

    fake.share(threads=6, items=6)
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 30
    assert windows(sent) == [10, 10, 10]
    assert len(notes) == 2  # one line per wait, not one per waiting thread


def test_without_a_budget_nothing_waits_once_an_answer_had_no_headers() -> None:
    fake = SharedTime()
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.acquire()
    budget.observe({})
    for _ in range(1000):
        budget.acquire()
    assert fake.sleeps == []


def test_before_any_answer_one_request_goes_alone() -> None:
    """Four requests sent at once before the headers are known: the first answer's Remaining
    would not count the three others in flight, and the window would be overdrawn."""
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.acquire()  # the probe
    second = threading.Thread(target=budget.acquire)
    second.start()
    second.join(timeout=0.2)
    assert second.is_alive()  # it waits for the probe's answer
    budget.observe(
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9", "X-RateLimit-Reset": "1060"}
    )
    second.join(timeout=5)
    assert not second.is_alive() and budget.remaining == 8 and fake.sleeps == []


def test_a_probe_that_got_no_answer_lets_another_go() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.acquire()
    second = threading.Thread(target=budget.acquire)
    second.start()
    budget.unanswered()  # a transport error: no headers will come from the probe
    second.join(timeout=5)
    assert not second.is_alive()  # it went, as the next probe


def test_headers_set_the_budget_and_pace_to_the_reset() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.observe(
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "1023"}
    )
    budget.acquire()
    budget.acquire()
    assert fake.sleeps == []
    budget.acquire()  # the third waits for the reset, and goes first into the new window
    assert fake.sleeps == [23.0]
    budget.observe(  # its answer tells what the new window holds
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "1083"}
    )
    for _ in range(99):
        budget.acquire()
    assert fake.sleeps == [23.0] and budget.per_minute == 100


def test_a_new_window_starts_with_one_probe_the_others_wait_for_its_answer() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.observe(
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1010"}
    )
    budget.acquire()  # waits 10 s, then is the probe
    fake.now += 0.05
    assert budget._take(fake.now) == pytest.approx(0.05)  # the next one looks again soon
    fake.now += 0.06
    assert budget._take(fake.now) == pytest.approx(0.1)  # the probe is still out: no second
    budget.observe(
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "1070"}
    )
    assert budget._take(fake.now) is None


def test_answers_out_of_order_keep_the_lowest_remaining_in_a_window() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    reset = {"X-RateLimit-Limit": "100", "X-RateLimit-Reset": "1030"}
    budget.observe({**reset, "X-RateLimit-Remaining": "40"})
    budget.observe({**reset, "X-RateLimit-Remaining": "45"})  # an older answer, late
    assert budget.remaining == 40
    budget.observe({**reset, "X-RateLimit-Reset": "1090", "X-RateLimit-Remaining": "99"})
    assert budget.remaining == 99  # a new window


def rate(remaining: int, reset: float, date: float | None = None) -> dict[str, str]:
    """An answer's X-RateLimit-* headers (limit 100), and a Date header when `date` is given."""
    from email.utils import formatdate

    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": str(remaining)}
    headers["X-RateLimit-Reset"] = str(int(reset))
    return {**headers, "Date": formatdate(date, usegmt=True)} if date is not None else headers


def test_a_late_answer_from_an_earlier_window_changes_nothing() -> None:
    # Taken, it moved the reset back: a window opened that was not there, a probe went, and the
    # next answer of the real window counted as a new one, blind to the requests in flight
    # beside it: up to `parallelism` 429s at once.
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.observe(rate(0, 1003))
    fake.now = 1_003.0
    budget.acquire()  # the probe of the next window
    budget.observe(rate(99, 1006))
    for _ in range(9):
        budget.acquire()  # nine more in flight: 90 left
    budget.observe(rate(1, 1003))  # late, from the window before
    assert (budget.reset, budget.remaining) == (1006.0, 90)
    budget.observe(rate(97, 1006))
    assert budget.remaining == 90, "an answer of this window is not a new window"
    assert fake.sleeps == []


def test_the_clock_skew_is_read_once_so_a_window_keeps_one_reset() -> None:
    # A Date header is whole seconds, and a server caches it for a second: read from every
    # answer, the skew crossed the noise threshold now and then, the reset jumped by seconds,
    # and an answer of the same window read as a new window's whole budget (the bench saw 4
    # to 8 429s in one apply in two).
    fake = SharedTime(1_000.9)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.observe(rate(50, 1030, date=1_000.0))  # 0.9 s behind: noise, no skew
    for _ in range(10):
        budget.acquire()
    fake.now = 1_004.2
    budget.observe(rate(45, 1030, date=1_001.0))  # a cached Date: 3.2 s "behind"
    assert (budget.reset, budget.remaining) == (1030.0, 40)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, RateHeaders(None, None, None)),
        (
            {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "9"},
            RateHeaders(100, 7, 9.0),
        ),
        (
            {"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "x"},
            RateHeaders(None, None, None),
        ),
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "nan"}, RateHeaders(None, 3, None)),
        ({"x-ratelimit-remaining": " 5 ", "x-ratelimit-reset": "12.5"}, RateHeaders(None, 5, 12.5)),
    ],
)
def test_header_parsing(headers: dict[str, str], expected: RateHeaders) -> None:
    import httpx

    assert RateHeaders.parse(httpx.Headers(headers)) == expected


def test_malformed_or_missing_headers_leave_the_budget_alone() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(5, clock=fake.clock, sleep=fake.sleep)
    budget.observe({"X-RateLimit-Remaining": "zero", "X-RateLimit-Reset": "soon"})
    budget.observe({})
    assert not budget.from_headers and budget.per_minute == 5


def test_a_reset_in_the_past_means_the_window_is_over() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.observe(
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "900"}
    )
    budget.acquire()  # reset (900) already passed: a new window, no wait
    assert fake.sleeps == []


def test_a_429_blocks_every_thread_until_retry_after() -> None:
    fake = SharedTime(1_000.0)
    notes: list[str] = []
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep, notify=notes.append)
    budget.exhausted({}, retry_after=23.0)
    budget.acquire()
    budget.acquire()
    assert fake.sleeps == [23.0] and notes == ["rate limit: waiting 23 s"]


def test_a_429_without_retry_after_waits_for_the_reset() -> None:
    fake = SharedTime(1_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    budget.exhausted({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1042"}, None)
    budget.acquire()
    assert fake.sleeps == [42.0]


def test_a_reset_too_far_away_is_an_error_naming_the_time() -> None:
    fake = SharedTime(1_800_000_000.0)
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(ApiError, match=r"exhausted until 08:10:00 UTC \(600 s from now\)"):
        budget.exhausted({}, retry_after=600.0)
    assert fake.sleeps == []


def test_a_rate_limit_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 1 request per minute"):
        RateBudget(0)


@pytest.mark.parametrize(("late", "most_429s"), [(0.0, 0), (0.7, 2)])
def test_threads_pace_under_a_servers_headers_without_bouncing_off_429s(
    late: float, most_429s: int
) -> None:
    """A server with 10 requests per 60 s window, as the API documents it (headers on every
    answer, 429 without Retry-After): 30 PUTs on 4 threads land in 3 windows, with no 429 —
    or, when the server's window really ends `late` after the whole second its Reset names,
    one 429 per new window (the probe), never a burst of them."""
    import httpx
    from test_client import ID, assistant

    from kathansync.remote.client import KathanClient
    from kathansync.remote.credentials import Credentials

    fake = SharedTime(1_800_000_000.0)
    start, used, statuses = fake.now, Counter[int](), Counter[int]()
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            window = int((fake.clock() - start - late) // 60) if fake.now > start + late else 0
            used[window] += 1
            reset = start + 60 * (window + 1)  # whole seconds: the real end is `late` after
            remaining = 10 - used[window]
            status = 200 if remaining >= 0 else 429
            statuses[status] += 1
        headers = {
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(int(reset)),
        }
        if status == 429:
            return httpx.Response(429, json={"detail": "Rate limit exceeded"}, headers=headers)
        return httpx.Response(200, json=assistant(), headers=headers)

    client = KathanClient(
        "https://api.test",
        Credentials("sk-test-0123456789", "u"),
        transport=httpx.MockTransport(handler),
        parallelism=4,
        sleep=fake.sleep,
        clock=fake.clock,
        wall=fake.clock,
    )

    def put(n: int) -> dict[str, object]:
        try:
            return client.update_assistant(ID, {"name": f"n{n}"})
        finally:
            fake.item_done()

    fake.share(threads=client.parallelism, items=30)
    results = client.run_concurrently(put, list(range(30)))
    assert len(results) == 30
    assert statuses[429] <= most_429s, statuses
    assert statuses[200] == 30 and max(used.values()) <= 10 + most_429s
    assert fake.now - start <= 1.1 * 120


def test_a_server_clock_behind_ours_shifts_the_reset_by_the_date_header() -> None:
    from email.utils import formatdate

    fake = SharedTime(1_800_000_100.0)  # our clock is 100 s ahead of the server's
    budget = RateBudget(None, clock=fake.clock, sleep=fake.sleep)
    server_now = 1_800_000_000.0
    budget.observe(
        {
            "Date": formatdate(server_now, usegmt=True),
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(server_now + 30)),
        }
    )
    budget.acquire()  # without the Date header the reset would look 70 s past: no wait
    assert fake.sleeps == [30.0]
