"""Bulk API 2.0 ingest jobs (salesforce.md §3.1): create → upload CSV → UploadComplete → poll →
successful / failed / unprocessed results.

* `POST /jobs/ingest` `{object, operation, externalIdFieldName?, contentType: CSV, lineEnding,
  columnDelimiter}` answers the job in state `Open` with its `contentUrl`;
* `PUT /jobs/ingest/{id}/batches` (text/csv) answers 201 with no body, only while `Open`, and
  only once a job (a second upload is refused: a client must not repeat it blindly);
* `PATCH /jobs/ingest/{id}` `{"state": "UploadComplete"}` starts processing (`Aborted` aborts);
* `GET /jobs/ingest/{id}` shows `InProgress` while the rows are processed in the background
  (500 at a time, other requests going through in between), then `JobComplete` with
  `numberRecordsProcessed` / `numberRecordsFailed` — processing is asynchronous in Salesforce,
  so a client must poll;
* `successfulResults/` (`sf__Id`, `sf__Created`, the uploaded columns) and `failedResults/`
  (`sf__Id` — the record's Id for an update or delete, v53.0+, empty for an insert or upsert —,
  `sf__Error` as `CODE:message`, the uploaded columns) come back **in an order unlike the
  upload's** (reversed here), so a client must join on a key column of its own;
  `unprocessedrecords/` (the uploaded columns only) holds the rows an abort left unprocessed.

A header column that names no field of the object fails the whole job before any row is
processed: state `Failed`, `errorMessage` `InvalidBatch : Field name not found : <column>` (the
job info of a real Failed upsert job, amp-labs/connectors PR #118; the same text in Bulk 1.0
batches, ForceCLI/force#413), not one failure per row.

Empty CSV cells leave a field unset; `#N/A` sets it to null. Every call counts against the daily
allocation like any REST call.
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .org import ApiFault, RecordFailure, WriteOutcome
from .rest import _json, api
from .schema import SObject
from .state import Sandbox

OPERATIONS = frozenset({"insert", "upsert", "update", "delete"})
#: Rows a job processes before letting other requests through.
CHUNK_ROWS = 500


@dataclass
class Job:
    id: str
    sobject: str
    operation: str
    external_id: str | None
    state: str = "Open"
    data: str = ""
    #: The processing run, started by `UploadComplete` (kept so it is not collected).
    task: asyncio.Task[None] | None = None
    successes: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failures: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    error_message: str | None = None

    def info(self, version: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "externalIdFieldName": self.external_id,
            "state": self.state,
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            "contentUrl": f"services/data/{version}/jobs/ingest/{self.id}/batches",
            "numberRecordsProcessed": len(self.successes) + len(self.failures)
            if self.state == "JobComplete"
            else 0,
            "numberRecordsFailed": len(self.failures) if self.state == "JobComplete" else 0,
            **({"errorMessage": self.error_message} if self.error_message else {}),
        }


def _job(sandbox: Sandbox, request: Request) -> Job:
    job = sandbox.bulk_jobs.get(request.path_params["job_id"])
    if not isinstance(job, Job):
        raise ApiFault(404, "NOT_FOUND", "The requested resource does not exist")
    return job


async def create_job(request: Request, sandbox: Sandbox, user: str) -> Response:
    body = await _json(request)
    operation = str(body.get("operation", ""))
    if operation not in OPERATIONS:
        raise ApiFault(400, "INVALIDJOB", f"Invalid operation: {operation}")
    sobject = sandbox.org.sobject(str(body.get("object", "")))
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        spec = sobject.field(str(external or ""))
        if spec is None or not spec.external_id:
            raise ApiFault(400, "INVALIDJOB", f"Invalid external id field: {external}")
    job = Job("750" + secrets.token_hex(6)[:12] + "AAA", sobject.name, operation, external)
    sandbox.bulk_jobs[job.id] = job
    return JSONResponse(job.info(request.path_params["version"]))


async def upload(request: Request, sandbox: Sandbox, user: str) -> Response:
    job = _job(sandbox, request)
    if job.state != "Open":
        raise ApiFault(409, "INVALIDJOBSTATE", f"Job is in state {job.state}")
    if job.data:
        # One upload a job (the wording as users report it; the status code is unverified).
        raise ApiFault(
            400,
            "INVALIDJOBSTATE",
            f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' "
            "the current Job then create a new Job and make sure you only do 'PUT' once on a "
            "given Job.",
        )
    job.data = (await request.body()).decode("utf-8")
    return Response(status_code=201)


async def job_state(request: Request, sandbox: Sandbox, user: str) -> Response:
    job = _job(sandbox, request)
    version = request.path_params["version"]
    if request.method == "DELETE":
        del sandbox.bulk_jobs[job.id]
        return Response(status_code=204)
    if request.method == "PATCH":
        wanted = (await _json(request)).get("state")
        if wanted == "Aborted":
            job.state = "Aborted"
        elif wanted == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
            job.task = asyncio.create_task(_process(sandbox, job, user))
        else:
            raise ApiFault(400, "INVALIDJOBSTATE", f"cannot move {job.state} to {wanted}")
        return JSONResponse(job.info(version))
    return JSONResponse(job.info(version))


def _cells(sobject: SObject, row: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, cell in row.items():
        if cell == "":
            continue  # an empty cell leaves the field as it is
        if cell == "#N/A":
            values[name] = None
            continue
        spec = sobject.field(name)
        values[name] = (
            cell.lower() == "true" if spec is not None and spec.type == "boolean" else cell
        )
    return values


async def _process(sandbox: Sandbox, job: Job, user: str) -> None:
    """The job's rows, `CHUNK_ROWS` at a time under the org's lock: other requests (and polls,
    which see `InProgress`) go through between chunks, as Salesforce runs jobs in the
    background instead of holding the API up."""
    await asyncio.sleep(0)  # the close is answered first
    org = sandbox.org
    sobject = org.sobject(job.sobject)
    reader = csv.DictReader(io.StringIO(job.data))
    job.columns = list(reader.fieldnames or [])
    rows = list(reader)
    unknown = [c for c in job.columns if "." not in c and sobject.field(c) is None]
    if unknown:
        job.error_message = f"InvalidBatch : Field name not found : {unknown[0]}"
        job.unprocessed = rows
        job.state = "Failed"
        return
    job.state = "InProgress"
    for start in range(0, len(rows), CHUNK_ROWS):
        if job.state == "Aborted":
            job.unprocessed = rows[start:]
            return
        async with sandbox.lock:
            for row in rows[start : start + CHUNK_ROWS]:
                values = _cells(sobject, row)
                try:
                    outcome = _apply(sandbox, sobject, job, values, user)
                except RecordFailure as failure:
                    job.failures.append((f"{failure.code}:{failure.message}", row))
                except ApiFault as fault:
                    job.failures.append((f"{fault.code}:{fault.message}", row))
                else:
                    job.successes.append((outcome.id, outcome.created, row))
        await asyncio.sleep(0)
    job.state = "JobComplete"


def _apply(
    sandbox: Sandbox, sobject: SObject, job: Job, values: dict[str, Any], user: str
) -> WriteOutcome:
    org = sandbox.org
    if job.operation == "insert":
        return org.create(sobject, values, user)
    if job.operation == "delete":
        return WriteOutcome(org.delete(sobject.name, str(values.get("Id", ""))), False)
    if job.operation == "update":
        record_id = str(values.pop("Id", ""))
        return org.update(sobject, record_id, values, user)
    assert job.external_id is not None
    value = values.get(job.external_id)
    if value in (None, ""):
        raise RecordFailure("MISSING_ARGUMENT", f"{job.external_id} not specified")
    matches = org.find_by(sobject, job.external_id, value)
    if len(matches) > 1:
        raise RecordFailure("DUPLICATE_EXTERNAL_ID", "more than one record found")
    if matches:
        return org.update(sobject, matches[0]["Id"], values, user)
    return org.create(sobject, values, user)


def _csv(header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv")


async def successful(request: Request, sandbox: Sandbox, user: str) -> Response:
    job = _job(sandbox, request)
    rows = [
        [record_id, "true" if created else "false", *(row.get(c, "") for c in job.columns)]
        for record_id, created, row in reversed(job.successes)
    ]
    return _csv(["sf__Id", "sf__Created", *job.columns], rows)


async def failed(request: Request, sandbox: Sandbox, user: str) -> Response:
    job = _job(sandbox, request)
    by_id = job.operation in ("update", "delete")
    rows = [
        [row.get("Id", "") if by_id else "", error, *(row.get(c, "") for c in job.columns)]
        for error, row in reversed(job.failures)
    ]
    return _csv(["sf__Id", "sf__Error", *job.columns], rows)


async def unprocessed(request: Request, sandbox: Sandbox, user: str) -> Response:
    """Bulk API 2.0 "Get Job Unprocessed Record Results": the uploaded columns of the rows the
    job never reached (an aborted job's rest; none once `JobComplete`)."""
    job = _job(sandbox, request)
    if job.task is None and job.data:  # aborted before processing began: every row
        reader = csv.DictReader(io.StringIO(job.data))
        return _csv(list(reader.fieldnames or []), [list(row.values()) for row in reader])
    rows = [[row.get(c, "") for c in job.columns] for row in job.unprocessed]
    return _csv(job.columns, rows)


def routes(data: str) -> list[Route]:
    base = data + "/jobs/ingest"
    return [
        Route(base, api(create_job, min_version=41), methods=["POST"]),
        Route(
            base + "/{job_id}", api(job_state, min_version=41), methods=["GET", "PATCH", "DELETE"]
        ),
        Route(base + "/{job_id}/batches", api(upload, min_version=41), methods=["PUT"]),
        Route(
            base + "/{job_id}/successfulResults/", api(successful, min_version=41), methods=["GET"]
        ),
        Route(base + "/{job_id}/failedResults/", api(failed, min_version=41), methods=["GET"]),
        Route(
            base + "/{job_id}/unprocessedrecords/",
            api(unprocessed, min_version=41),
            methods=["GET"],
        ),
    ]
