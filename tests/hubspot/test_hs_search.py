"""The incremental search walk: pure steps, then a respx scenario past the 10,000 cap."""

from __future__ import annotations

import datetime as dt

import pytest
import respx

from adapters.hubspot.search import (
    Hit,
    SearchCursor,
    build_request,
    first_cursor,
    step,
    to_ms,
)
from connector.model import Entity
from connector.timestamps import parse_timestamp

from .conftest import BASE
from .fake_search import FakeSearch


def hits(*pairs: tuple[int, int]) -> list[Hit]:
    return [Hit(ts, object_id) for ts, object_id in pairs]


def test_range_page_releases_only_timestamps_before_its_latest():
    cursor = SearchCursor("range", 100)
    released, nxt = step(cursor, hits((100, 9), (100, 3), (200, 1), (300, 7)), more=True)
    assert [(h.timestamp_ms, h.object_id) for h in released] == [(100, 3), (100, 9), (200, 1)]
    assert nxt == SearchCursor("range", 300, inclusive=True)


def test_full_page_at_one_timestamp_switches_to_id_order():
    released, nxt = step(SearchCursor("range", 100), hits((500, 9), (500, 3)), more=True)
    assert released == []
    assert nxt == SearchCursor("tie", 500, after_id=None)


def test_tie_mode_continues_after_the_largest_id_then_resumes_the_range_strictly_after():
    released, nxt = step(SearchCursor("tie", 500), hits((500, 4), (500, 8)), more=True)
    assert [h.object_id for h in released] == [4, 8]
    assert nxt == SearchCursor("tie", 500, after_id=8)
    released, nxt = step(SearchCursor("tie", 500, after_id=8), hits((500, 11)), more=False)
    assert [h.object_id for h in released] == [11]
    assert nxt == SearchCursor("range", 500, inclusive=False)


def test_last_range_page_releases_everything_and_ends():
    released, nxt = step(SearchCursor("range", 0), hits((5, 2), (5, 1)), more=False)
    assert [h.object_id for h in released] == [1, 2] and nxt is None


def test_requests_filter_sort_and_never_page_by_offset():
    body = build_request(
        SearchCursor("range", 42, inclusive=False), "lastmodifieddate", ["email"], 200
    )
    assert body["filterGroups"] == [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": "42"}]}
    ]
    assert body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert body["limit"] == 200 and "after" not in body
    assert set(body["properties"]) == {"email", "lastmodifieddate", "hs_object_id"}
    tie = build_request(SearchCursor("tie", 42, after_id=7), "hs_lastmodifieddate", [], 200)
    ops = [
        (f["propertyName"], f["operator"], f["value"]) for f in tie["filterGroups"][0]["filters"]
    ]
    assert ops == [
        ("hs_lastmodifieddate", "GTE", "42"),
        ("hs_lastmodifieddate", "LTE", "42"),
        ("hs_object_id", "GT", "7"),
    ]
    assert tie["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    with pytest.raises(ValueError):
        build_request(SearchCursor("range", 0), "x", [], 201)


def test_first_cursor_applies_the_overlap_and_timestamps_parse_both_forms():
    since = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    cursor = first_cursor(since, dt.timedelta(seconds=60))
    assert cursor.timestamp_ms == to_ms(since) - 60_000 and cursor.inclusive
    assert parse_timestamp("2026-01-01T12:00:00.000Z") == since
    assert parse_timestamp(str(to_ms(since))) == since
    assert parse_timestamp("garbage") is None


@respx.mock
async def test_more_than_10000_changes_at_one_timestamp_all_sync_in_order(adapter):
    base = to_ms(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    fake = FakeSearch()
    fake.records += [(n, base - 5000) for n in range(20_001, 20_051)]
    fake.records += [(n, base) for n in range(1, 10_502)]  # 10,501 at ONE instant
    fake.records += [(n, base + 1) for n in range(30_001, 30_301)]
    respx.post(f"{BASE}/crm/v3/objects/companies/search").mock(side_effect=fake)
    seen = []
    async for page in adapter.read_changes(Entity.CUSTOMER, None):
        seen.extend((r.updated_at, int(r.id)) for r in page.records)
    assert len(seen) == len(fake.records) == len(set(seen))
    assert seen == sorted(seen)
    assert all("after" not in b for b in fake.bodies)
    # Keyset paging costs a handful of extra requests, not a re-read of everything.
    assert len(fake.bodies) <= len(fake.records) // 200 + 6


@respx.mock
async def test_since_with_overlap_reads_from_before_the_cursor(adapter):
    base = to_ms(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    fake = FakeSearch(records=[(1, base - 120_000), (2, base - 30_000), (3, base + 10)])
    respx.post(f"{BASE}/crm/v3/objects/companies/search").mock(side_effect=fake)
    respx.get(f"{BASE}/crm/v3/objects/companies").respond(json={"results": []})
    since = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    ids = [
        r.id async for page in adapter.read_changes(Entity.CUSTOMER, since) for r in page.records
    ]
    assert ids == ["2", "3"]  # 30 s before `since` is inside the 60 s overlap; 120 s is not
