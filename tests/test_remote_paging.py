"""Walking GET /assistants page by page, over httpx.MockTransport servers that page differently."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import full_assistant
from hypothesis import given, settings
from hypothesis import strategies as st

from kathansync.errors import ApiError
from kathansync.remote import paging
from kathansync.remote.client import KathanClient
from kathansync.remote.credentials import Credentials
from kathansync.remote.pacing import page_batch
from kathansync.remote.paging import read_json, walk_pages

CREDS = Credentials(api_key="sk-test-paging-0123456789", user_id="user-1")


def fleet(count: int) -> list[dict[str, Any]]:
    return [full_assistant(f"3f2b8c1e-0000-4000-8000-{index:012d}") for index in range(count)]


def paged_server(
    items: list[dict[str, Any]],
    *,
    honour_limit: bool = True,
    honour_offset: bool = True,
    cap: int | None = None,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[tuple[int, int]]]:
    """GET /assistants as GET /calls documents it: a plain array, `limit` (default 50)/`offset`."""
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/assistants"
        limit = int(request.url.params.get("limit", 50))
        offset = int(request.url.params.get("offset", 0))
        asked.append((limit, offset))
        start = offset if honour_offset else 0
        end = start + min(limit, cap or limit) if honour_limit else len(items)
        return httpx.Response(200, json=items[start:end])

    return handler, asked


def client_for(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> KathanClient:
    return KathanClient(
        "https://api.test", CREDS, transport=httpx.MockTransport(handler), **options
    )


@pytest.mark.parametrize(
    ("count", "requests"),
    [(0, 1), (50, 2), (51, 2), (100, 3), (120, 3), (150, 4)],
)
def test_every_page_is_walked_until_a_short_one(count: int, requests: int) -> None:
    items = fleet(count)
    handler, asked = paged_server(items)
    with client_for(handler, parallelism=1) as client:
        listed = client.list_assistants()
    assert listed == items
    assert asked == [(50, 50 * page) for page in range(requests)]


@pytest.mark.parametrize("count", [1, 49])
def test_a_short_first_page_costs_one_more_request_to_tell_the_end_from_a_cap(count: int) -> None:
    items = fleet(count)
    handler, asked = paged_server(items)
    with client_for(handler) as client:  # budget for pages ahead: still one probe, not a batch
        assert client.list_assistants() == items
    assert asked == [(50, 0), (50, count)]


@pytest.mark.parametrize(("count", "requests"), [(20, 2), (68, 4), (120, 7)])
def test_a_server_capping_limit_below_ours_is_walked_by_its_page_length(
    count: int, requests: int
) -> None:
    """Asked for 50, a server with a cap of 20 silently answers 20: not the last page."""
    items = fleet(count)
    handler, asked = paged_server(items, cap=20)
    with client_for(handler, parallelism=1) as client:
        assert client.list_assistants() == items
    assert asked == [(50, 20 * page) for page in range(requests)]


def test_a_capped_server_is_walked_pages_ahead_once_the_cap_is_proven() -> None:
    items = fleet(420)
    handler, asked = paged_server(items, cap=20)
    with client_for(handler, parallelism=8) as client:
        assert client.list_assistants() == items
    offsets = sorted(offset for _, offset in asked)
    assert offsets[:22] == [20 * page for page in range(22)]  # 21 full pages, then the end
    assert len(asked) <= 22 + 3


def test_a_server_ignoring_limit_is_read_in_one_request() -> None:
    items = fleet(120)
    handler, asked = paged_server(items, honour_limit=False)
    with client_for(handler) as client:
        assert client.list_assistants() == items
    assert asked == [(50, 0)]  # 120 items for a limit of 50: that was everything


def test_a_server_ignoring_offset_ends_the_walk_on_a_page_with_no_new_id() -> None:
    items = fleet(120)
    handler, asked = paged_server(items, honour_offset=False)
    with client_for(handler, parallelism=1) as client:
        assert client.list_assistants() == items[:50]
    assert asked == [(50, 0), (50, 50)]


def test_an_empty_list_is_one_request() -> None:
    handler, asked = paged_server([])
    with client_for(handler) as client:
        assert client.list_assistants() == []
    assert len(asked) == 1


def test_later_pages_are_fetched_several_at_a_time_when_the_budget_allows() -> None:
    items = fleet(420)
    handler, asked = paged_server(items)
    with client_for(handler, parallelism=8) as client:
        assert client.list_assistants() == items
    offsets = sorted(offset for _, offset in asked)
    # 9 pages hold the 420 items (the ninth is short): rounds of 2, 4, then up to 8 pages read
    # them in 4 round trips, asking for fewer pages past the end than were read.
    assert offsets[:9] == [50 * page for page in range(9)]
    assert len(asked) == 1 + 2 + 4 + 8


def rounds_of(
    items: list[dict[str, Any]], *, expected: int, batch: int, cap: int | None = None
) -> tuple[list[dict[str, Any]] | None, list[list[int]]]:
    """walk_pages over `items` (pages of 50, or `cap`), and the offsets asked in each round."""
    rounds: list[list[int]] = [[0]]

    def fetch(limit: int, offset: int) -> list[dict[str, Any]]:
        return items[offset : offset + min(limit, cap or limit)]

    def run(each: Callable[[int], Any], offsets: Any) -> list[Any]:
        rounds.append(list(offsets))
        return [each(offset) for offset in offsets]

    listed = walk_pages(fetch, batch=lambda needed: batch, run=run, expected=expected)
    return listed, rounds


def test_the_pages_expected_items_need_are_asked_for_in_one_round() -> None:
    # 1,000 ids in the manifests: page 1, then the other 19 and the one showing the end.
    items = fleet(1000)
    listed, rounds = rounds_of(items, expected=1000, batch=20)
    assert listed == items
    assert rounds == [[0], [50 * page for page in range(1, 21)]]  # 2 rounds, 21 requests


def test_a_wrong_expectation_costs_no_more_than_the_budget_allows_a_round() -> None:
    items = fleet(120)  # the manifests expected 1,000: most of them are not there
    listed, rounds = rounds_of(items, expected=1000, batch=8)
    assert listed == items
    assert rounds == [[0], [50 * page for page in range(1, 9)]]  # 9 requests, not 21


def test_an_expectation_never_skips_items_of_a_server_capping_limit() -> None:
    items = fleet(230)
    listed, rounds = rounds_of(items, expected=230, batch=32, cap=20)
    assert listed == items
    assert rounds[1] == [20]  # one page ahead until a second page proves the cap
    assert all(offset % 20 == 0 for offsets in rounds for offset in offsets)


def test_a_small_budget_fetches_pages_one_at_a_time() -> None:
    items = fleet(200)
    handler, asked = paged_server(items)
    with client_for(handler, rate_limit=20) as client:  # 20/min: no room to guess ahead
        assert client.list_assistants() == items
    assert asked == [(50, 50 * page) for page in range(5)]


def test_a_page_that_cannot_be_read_ends_in_none() -> None:
    pages = {0: [{"id": "a"}] * 2}
    assert walk_pages(lambda limit, offset: pages.get(offset), page_size=2) is None


def test_a_server_inventing_ids_forever_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "MAX_ITEMS", 500)
    made = iter(range(10**9))

    def endless(limit: int, offset: int) -> list[dict[str, Any]]:
        return [{"id": f"id-{next(made)}"} for _ in range(limit)]

    with pytest.raises(ApiError, match="more than 500 assistants listed"):
        walk_pages(endless, page_size=50)


# --- read_json: json.loads' values, in less memory -------------------------------------------

# Inputs the two parsers read differently or not at all: json.loads decides.
ODD_JSON = [
    b"\xef\xbb\xbf[1]",  # a UTF-8 BOM
    "[1]".encode("utf-16"),
    b'["\\ud800"]',  # a lone surrogate, escaped
    b'"a\x01b"',  # a raw control character
    b"[1,]",
    b"01",
    b"NaN",
    b"[-Infinity]",
    b"1" * 5000,  # past int's digit limit
    b'{"a": 1, "a": 2}',
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from([5e-324, 2.2250738585072011e-308, 1.7976931348623157e308, -0.0, 0.1]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, ascii_only=st.booleans())
def test_read_json_reads_what_json_loads_reads(value: Any, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert repr(read_json(data)) == repr(json.loads(data))


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=40) | st.sampled_from(ODD_JSON))
def test_read_json_refuses_what_json_loads_refuses(data: bytes) -> None:
    try:
        expected: Any = json.loads(data)
    except ValueError:
        with pytest.raises(ValueError):
            read_json(data)
    else:
        assert repr(read_json(data)) == repr(expected)


@pytest.mark.parametrize(
    ("parallelism", "remaining", "needed", "pages"),
    [
        (32, None, 0, 32),  # no budget known, nothing expected: as many as run at once
        (32, None, 200, 200),  # 10,000 expected: all of them, 32 in flight at a time
        (32, 1000, 200, 100),  # a tenth of what the budget has left
        (32, 90, 200, 9),
        (8, 5, 0, 1),  # never less than one
    ],
)
def test_a_round_asks_for_the_pages_needed_within_the_budget(
    parallelism: int, remaining: int | None, needed: int, pages: int
) -> None:
    assert page_batch(parallelism, remaining, needed) == pages


def test_ten_thousand_expected_assistants_are_walked_in_two_rounds() -> None:
    items = fleet(10_000)
    handler, asked = paged_server(items)
    with client_for(handler, parallelism=32) as client:
        assert client.list_assistants(expected=10_000) == items
    assert len(asked) == 201  # every page once, and the empty one that shows the end
