"""The core helpers adapters inherit: paginators, batch bisection, timestamp parsing."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from connector.batching import bisect_batch, chunked
from connector.errors import ConfigurationError, RecordError
from connector.http.paging import (
    JsonCursor,
    JsonNextUrl,
    LinkHeader,
    Offset,
    PageAnswer,
    PageNumber,
    PageRequest,
    paginate,
)
from connector.timestamps import parse_timestamp


async def collect(pages, first, paginator):
    seen = []

    async def fetch(request: PageRequest) -> PageAnswer:
        seen.append(request)
        return pages[len(seen) - 1]

    bodies = [answer.body async for answer in paginate(fetch, first, paginator)]
    return seen, bodies


async def test_json_cursor_sends_the_cursor_back_and_stops_without_one():
    pages = [
        PageAnswer({"results": [1], "paging": {"next": {"after": "5"}}}),
        PageAnswer({"results": [2]}),
    ]
    seen, _ = await collect(
        pages, PageRequest("/x", {"limit": 1}), JsonCursor(("paging", "next", "after"), "after")
    )
    assert [r.params for r in seen] == [{"limit": 1}, {"limit": 1, "after": "5"}]


async def test_json_cursor_in_body():
    pages = [PageAnswer({"next": 7}), PageAnswer({})]
    seen, _ = await collect(
        pages, PageRequest("/s", json={"q": 1}), JsonCursor(("next",), "after", in_body=True)
    )
    assert seen[1].json == {"q": 1, "after": 7}


async def test_next_url_follows_relative_paths_and_refuses_other_hosts():
    pages = [
        PageAnswer({"done": False, "nextRecordsUrl": "/q/01g-2000"}),
        PageAnswer({"done": True, "nextRecordsUrl": "/ignored"}),
    ]
    seen, _ = await collect(
        pages,
        PageRequest("/q", {"q": "SELECT"}),
        JsonNextUrl(("nextRecordsUrl",), done_path=("done",)),
    )
    assert [(r.path, dict(r.params)) for r in seen] == [
        ("/q", {"q": "SELECT"}),
        ("/q/01g-2000", {}),
    ]
    evil = JsonNextUrl(("next",))
    with pytest.raises(ConfigurationError, match="outside base_url"):
        evil.next_request(PageRequest("/q"), PageAnswer({"next": "https://evil.example/steal"}))


async def test_link_header_stays_under_base_url_and_resolves_relative_targets():
    paginator = LinkHeader(base_url="https://api.example/v1")
    link = httpx.Headers({"Link": '<https://api.example/v1/items?page=2>; rel="next"'})
    following = paginator.next_request(PageRequest("/items"), PageAnswer(None, link))
    assert following == PageRequest("/items", {"page": "2"})
    relative = PageAnswer(
        None, httpx.Headers({"Link": '<?page=3>; rel="next"'}), "https://api.example/v1/items"
    )
    following = paginator.next_request(PageRequest("/items"), relative)
    assert following == PageRequest("/items", {"page": "3"})
    for outside in ("https://evil.example/v1/items", "https://api.example/other"):
        answer = PageAnswer(None, httpx.Headers({"Link": f'<{outside}>; rel="next"'}))
        with pytest.raises(ConfigurationError, match="outside base_url"):
            paginator.next_request(PageRequest("/items"), answer)
    assert paginator.next_request(PageRequest("/items"), PageAnswer(None)) is None


async def test_offset_and_page_number_stop_on_a_short_page():
    pages = [PageAnswer({"items": [1, 2]}), PageAnswer({"items": [3]})]
    seen, _ = await collect(pages, PageRequest("/o"), Offset(2, items_path=("items",)))
    assert [r.params["offset"] for r in seen] == [0, 2]
    pages = [PageAnswer({"data": [1]}), PageAnswer({"data": []})]
    seen, _ = await collect(pages, PageRequest("/p"), PageNumber(items_path=("data",)))
    assert [r.params["page"] for r in seen] == [1, 2]


async def test_bisect_isolates_the_bad_item_and_keeps_its_neighbours():
    calls = []

    async def send(batch):
        calls.append(list(batch))
        if "bad" in batch:
            raise RecordError("refused", code="X")
        return {item: "ok" for item in batch}

    result = await bisect_batch(
        ["a", "b", "bad", "c", "d"], send, lambda item, error: {item: error.code}
    )
    assert result == {"a": "ok", "b": "ok", "bad": "X", "c": "ok", "d": "ok"}
    assert len(calls) <= 1 + 2 * 3
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


def test_parse_timestamp_reads_the_shapes_apis_send():
    expected = dt.datetime(2013, 5, 7, 22, 7, 19, tzinfo=dt.UTC)
    assert parse_timestamp("2013-05-07T22:07:19.000+0000") == expected
    assert parse_timestamp("2013-05-07T22:07:19Z") == expected
    assert parse_timestamp("2013-05-08T00:07:19+02:00") == expected
    assert parse_timestamp(str(int(expected.timestamp() * 1000))) == expected
    assert parse_timestamp("") is None and parse_timestamp("garbage") is None
