"""Bulk API 2.0 query jobs: a large pull from the beginning as one job instead of many pages.

Lifecycle (salesforce.md §3.2): `POST /jobs/query` `{operation, query}` (v47.0+), poll
`GET /jobs/query/{id}` until `JobComplete`, then read `GET /jobs/query/{id}/results` pages of
`maxRecords` rows, following the `Sforce-Locator` header until it is the string `null`.
100,000 accounts are one job, a few polls and two result pages, where REST queries of 2,000
rows would be 50 calls.

Results are CSV, so the adapter types them back into what a REST query answers: the object's
`describe` (one call) gives each field's type; empty cells are null, booleans `true`/`false`,
numbers as numbers, datetimes `…Z` become the REST API's `…+0000`, and a relationship column
`Owner.Email` becomes the nested `{"Owner": {"Email": …}}`. Whether Bulk query jobs keep an
`ORDER BY` is not something the reference settles, so the query has none and the caller sorts.

Creating a query job writes nothing, so it is repeated after a lost answer like a read (at
worst an orphan job counts against the daily 10,000, §3.3).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from connector.timestamps import MonotonicClock

from .bulk import poll_job
from .client import SalesforceClient

NUMBERS = frozenset({"double", "currency", "percent"})


async def field_types(client: SalesforceClient, sobject: str) -> dict[str, str]:
    described = await client.call("GET", f"/sobjects/{sobject}/describe")
    return {str(f["name"]): str(f.get("type")) for f in (described or {}).get("fields") or []}


def _number(cell: str) -> int | float:
    try:
        return int(cell)
    except ValueError:
        return float(cell)


def _typed(cell: str, kind: str | None) -> Any:
    if cell == "":
        return None
    if kind == "boolean":
        return cell.lower() == "true"
    if kind == "int":
        return int(float(cell))
    if kind in NUMBERS:
        return _number(cell)
    if kind == "datetime" and cell.endswith("Z"):
        return cell[:-1] + "+0000"
    return cell


def typed_row(row: Mapping[str, str], types: Mapping[str, str]) -> dict[str, Any]:
    """A CSV result row as the REST API would have answered it."""
    out: dict[str, Any] = {}
    for column, cell in row.items():
        relation, dot, leaf = column.partition(".")
        if not dot:
            out[column] = _typed(cell, types.get(column))
            continue
        nested = out.get(relation)
        if cell == "" and not nested:
            out.setdefault(relation, None)
            continue
        nested = dict(nested or {})
        nested[leaf] = cell or None
        out[relation] = nested
    return out


async def query_rows(
    client: SalesforceClient,
    soql: str,
    types: Mapping[str, str],
    *,
    sleep: Callable[[float], Awaitable[None]],
    clock: MonotonicClock,
    page_size: int,
    include_deleted: bool = False,
    timeout_seconds: float = 3600.0,
) -> list[dict[str, Any]]:
    """Every row of `soql` through one query job, typed as a REST query would answer them."""
    spec = {
        "operation": "queryAll" if include_deleted else "query",
        "query": soql,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    job = await client.call("POST", "/jobs/query", json=spec, idempotent=True)
    job_path = f"/jobs/query/{job['id']}"
    await poll_job(client, job_path, f"Bulk query {job['id']}", sleep, clock, timeout_seconds)
    rows: list[dict[str, Any]] = []
    locator: str | None = None
    while True:
        params = {"maxRecords": str(page_size), **({"locator": locator} if locator else {})}
        response = await client.api.request(
            "GET",
            f"{client.data}{job_path}/results",
            params=params,
            headers={**client.headers, "Accept": "text/csv"},
        )
        rows += [typed_row(r, types) for r in csv.DictReader(io.StringIO(response.text))]
        locator = response.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return rows
