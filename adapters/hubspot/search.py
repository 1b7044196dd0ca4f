"""Incremental pull through the CRM search API: pure functions that build each search request and
decide the next one.

HubSpot's search (hubspot.md §2) returns at most 200 per page, allows one sort rule, and stops at
10,000 results per query (an `after` past that is a 400). Offset paging has two further flaws for
a change feed: a record modified while we page moves to the end and shifts the rest, so one can be
skipped; and a bulk update can give more than 10,000 records the *same* `hs_lastmodifieddate`
(supaglue-labs/supaglue#585), so restarting from the last timestamp alone loops forever.

So the walk never pages by offset. Every request restarts the window from the last timestamp
(keyset paging), and ties are broken by id:

* **range** mode: `modified >= T` (or `> T`), sorted by the modified property. HubSpot's order
  within one timestamp is unspecified, so the records at the page's latest timestamp `M` are not
  released; the next request starts at `modified >= M` and reads them again.
* **tie** mode, entered when a whole page shares one timestamp `M`: `modified == M AND
  hs_object_id > last_id`, sorted by `hs_object_id`, until the timestamp is drained; then range
  mode resumes at `modified > M`.

No query ever pages, so the 10,000 cap is never reached, and every step makes progress. Records
come out in ascending `(timestamp, id)` order. Each step is a plain value (`SearchCursor`) so the
window logic is tested without HTTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: "10,000 results per query; paging beyond that returns 400" (search guide).
RESULT_CAP = 10_000
MAX_PAGE_SIZE = 200
OBJECT_ID = "hs_object_id"


@dataclass(frozen=True)
class SearchCursor:
    """One position of the walk."""

    mode: Literal["range", "tie"]
    #: range: the lower bound on the modified property; tie: the timestamp being drained.
    timestamp_ms: int
    #: range only: whether records exactly at `timestamp_ms` are included.
    inclusive: bool = True
    #: tie only: read ids strictly greater than this.
    after_id: int | None = None


@dataclass(frozen=True)
class Hit:
    """What the walk needs to know about one search result (and the result itself)."""

    timestamp_ms: int
    object_id: int
    raw: Any = None


def to_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def first_cursor(since: dt.datetime | None, overlap: dt.timedelta) -> SearchCursor:
    """Start `overlap` before `since`: search lags writes by "a few moments"."""
    if since is None:
        return SearchCursor("range", 0, inclusive=True)
    return SearchCursor("range", max(0, to_ms(since - overlap)), inclusive=True)


def _filter(prop: str, operator: str, value: int) -> dict[str, Any]:
    return {"propertyName": prop, "operator": operator, "value": str(value)}


def build_request(
    cursor: SearchCursor, modified_property: str, properties: Sequence[str], limit: int
) -> dict[str, Any]:
    """The body of `POST .../search` for this cursor (never an `after`: see the module doc)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"search page size must be 1..{MAX_PAGE_SIZE}")
    if cursor.mode == "range":
        operator = "GTE" if cursor.inclusive else "GT"
        filters = [_filter(modified_property, operator, cursor.timestamp_ms)]
        sort_property = modified_property
    else:
        # GTE+LTE rather than EQ: both are documented for dates and mean the same instant.
        filters = [
            _filter(modified_property, "GTE", cursor.timestamp_ms),
            _filter(modified_property, "LTE", cursor.timestamp_ms),
        ]
        if cursor.after_id is not None:
            filters.append(_filter(OBJECT_ID, "GT", cursor.after_id))
        sort_property = OBJECT_ID
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": sort_property, "direction": "ASCENDING"}],
        "properties": list(dict.fromkeys([*properties, modified_property, OBJECT_ID])),
        "limit": limit,
    }


def _ordered(hits: Sequence[Hit]) -> list[Hit]:
    return sorted(hits, key=lambda hit: (hit.timestamp_ms, hit.object_id))


def step(
    cursor: SearchCursor, hits: Sequence[Hit], more: bool
) -> tuple[list[Hit], SearchCursor | None]:
    """After a page of `hits` (`more`: HubSpot offered a next page): what to release, in
    `(timestamp, id)` order, and the next cursor (None when the walk is complete)."""
    if cursor.mode == "tie":
        released = _ordered(hits)
        if more and hits:
            return released, SearchCursor(
                "tie", cursor.timestamp_ms, after_id=max(hit.object_id for hit in hits)
            )
        return released, SearchCursor("range", cursor.timestamp_ms, inclusive=False)
    if not more or not hits:
        return _ordered(hits), None
    latest = max(hit.timestamp_ms for hit in hits)
    earliest = min(hit.timestamp_ms for hit in hits)
    if earliest == latest:
        # A full page at one instant: drain that instant in id order.
        return [], SearchCursor("tie", latest, after_id=None)
    released = _ordered([hit for hit in hits if hit.timestamp_ms < latest])
    return released, SearchCursor("range", latest, inclusive=True)
