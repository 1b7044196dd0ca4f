"""A small independent model of HubSpot's search endpoint for respx scenarios.

It follows the search guide as hubspot.md §2 describes it: filters ANDed in one group, one sort,
`limit` ≤ 200, offset `after`, and a 400 when paging would pass 10,000 results. Ties in the sort
come back in *descending* id order, to prove the adapter does not rely on any tie order.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import httpx

CAP = 10_000


@dataclass
class FakeSearch:
    modified_property: str = "hs_lastmodifieddate"
    records: list[tuple[int, int]] = field(default_factory=list)  # (id, timestamp ms)
    bodies: list[dict[str, object]] = field(default_factory=list)

    def _matches(self, rec: tuple[int, int], flt: dict[str, str]) -> bool:
        object_id, ts = rec
        value = object_id if flt["propertyName"] == "hs_object_id" else ts
        target = int(flt["value"])
        return {
            "GT": value > target,
            "GTE": value >= target,
            "LT": value < target,
            "LTE": value <= target,
            "EQ": value == target,
        }[flt["operator"]]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        limit = int(body.get("limit", 10))
        after = int(body.get("after", "0"))
        if limit > 200 or after + limit > CAP:
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "paging past 10,000 results",
                },
            )
        filters = body["filterGroups"][0]["filters"] if body.get("filterGroups") else []
        hits = [r for r in self.records if all(self._matches(r, f) for f in filters)]
        sort = body["sorts"][0]["propertyName"]
        if sort == "hs_object_id":
            hits.sort(key=lambda r: r[0])
        else:
            hits.sort(key=lambda r: (r[1], -r[0]))
        page = hits[after : after + limit]
        answer: dict[str, object] = {
            "total": len(hits),
            "results": [
                {
                    "id": str(object_id),
                    "properties": {
                        "hs_object_id": str(object_id),
                        self.modified_property: dt.datetime.fromtimestamp(ts / 1000, dt.UTC)
                        .isoformat(timespec="milliseconds")
                        .replace("+00:00", "Z"),
                    },
                }
                for object_id, ts in page
            ],
        }
        if after + limit < len(hits):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return httpx.Response(200, json=answer)
