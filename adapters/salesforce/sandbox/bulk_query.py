"""Bulk API 2.0 query jobs (salesforce.md §3.2): create → poll → CSV results paged by locator.

* `POST /jobs/query` `{operation: query | queryAll, query, contentType?, columnDelimiter?,
  lineEnding?}` (v47.0+) answers the job in state `UploadComplete`; the SOQL is checked then
  (a bad query refuses the job: 400 with the query engine's errorCode);
* `GET /jobs/query/{id}` shows `InProgress` once, then `JobComplete` with
  `numberRecordsProcessed` — the job runs asynchronously, so a client must poll;
* `GET /jobs/query/{id}/results?maxRecords=&locator=` answers CSV (header: the query's field
  paths as written, `Owner.Email` included) with `Sforce-NumberOfRecords` and `Sforce-Locator`:
  the next page's locator, or the literal string `null` after the last page. Without
  `maxRecords` the sandbox picks 10,000 (Salesforce picks by size). Results of an unfinished
  job are refused (409 `INVALIDJOBSTATE`); a locator it did not hand out is 400
  `INVALID_LOCATOR` (code unverified).

Cells: empty for null, `true`/`false`, numbers as text, datetimes as `2026-12-05T21:00:00.000Z`
(the REST API writes `+0000`). Rows are the ones matching when the job was created. Every call
counts against the daily allocation like any REST call.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .org import ApiFault
from .rest import _json, api
from .state import Sandbox

DEFAULT_PAGE = 10_000


@dataclass
class QueryJob:
    id: str
    operation: str
    query: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    state: str = "UploadComplete"
    #: locator → first row index of the page it names.
    locators: dict[str, int] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": "",
            "state": self.state,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
            "numberRecordsProcessed": len(self.rows) if self.state == "JobComplete" else 0,
        }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.endswith("+0000") and "T" in text:
        return text[: -len("+0000")] + "Z"
    return text


def _flat(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        found = {k.lower(): v for k, v in value.items()}
        value = found.get(part.lower())
    return value


def _job(sandbox: Sandbox, request: Request) -> QueryJob:
    job = sandbox.bulk_jobs.get(request.path_params["job_id"])
    if not isinstance(job, QueryJob):
        raise ApiFault(404, "NOT_FOUND", "The requested resource does not exist")
    return job


async def create_job(request: Request, sandbox: Sandbox, user: str) -> Response:
    body = await _json(request)
    operation = str(body.get("operation", ""))
    if operation not in ("query", "queryAll"):
        raise ApiFault(400, "INVALIDJOB", f"Invalid operation: {operation}")
    text = str(body.get("query") or "")
    query, records = sandbox.queries.rows(
        text, include_deleted=operation == "queryAll", version=request.path_params["version"]
    )
    if query.count:
        raise ApiFault(400, "INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0")
    job = QueryJob("750" + secrets.token_hex(6)[:12] + "AAQ", operation, text, query.fields)
    job.rows = [[_cell(_flat(record, path)) for path in query.fields] for record in records]
    sandbox.bulk_jobs[job.id] = job
    return JSONResponse(job.info())


async def job_state(request: Request, sandbox: Sandbox, user: str) -> Response:
    job = _job(sandbox, request)
    if request.method == "DELETE":
        del sandbox.bulk_jobs[job.id]
        return Response(status_code=204)
    if job.state == "UploadComplete":
        job.state = "InProgress"
    elif job.state == "InProgress":
        job.state = "JobComplete"
    return JSONResponse(job.info())


async def results(request: Request, sandbox: Sandbox, user: str) -> Response:
    job = _job(sandbox, request)
    if job.state != "JobComplete":
        raise ApiFault(409, "INVALIDJOBSTATE", f"Job {job.id} is in state {job.state}")
    try:
        size = int(request.query_params.get("maxRecords") or DEFAULT_PAGE)
    except ValueError:
        raise ApiFault(400, "INVALID_INPUT", "maxRecords is a positive integer") from None
    if size < 1:
        raise ApiFault(400, "INVALID_INPUT", "maxRecords is a positive integer")
    locator = request.query_params.get("locator")
    start = 0
    if locator:
        if locator not in job.locators:
            raise ApiFault(400, "INVALID_LOCATOR", f"invalid locator: {locator}")
        start = job.locators[locator]
    page = job.rows[start : start + size]
    following = start + size
    next_locator = "null"
    if following < len(job.rows):
        next_locator = secrets.token_urlsafe(9)
        job.locators[next_locator] = following
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(job.columns)
    writer.writerows(page)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(page))},
    )


def routes(data: str) -> list[Route]:
    base = data + "/jobs/query"
    return [
        Route(base, api(create_job, min_version=47), methods=["POST"]),
        Route(base + "/{job_id}", api(job_state, min_version=47), methods=["GET", "DELETE"]),
        Route(base + "/{job_id}/results", api(results, min_version=47), methods=["GET"]),
    ]
