"""Bulk API 2.0 ingest: large writes as one CSV job instead of many Collections calls.

Lifecycle (salesforce.md §3.1): create the job, upload the CSV (at most 100 MB raw a job, so
larger loads are split), mark it `UploadComplete`, poll until `JobComplete` / `Failed` /
`Aborted`, then read `successfulResults/` and `failedResults/`. Result rows come back in any
order, so every row carries `Connector_Key__c` and results are joined on it. A 100,000-record
load is five calls (create, upload, close, two result reads) plus polling.

Cells: an empty cell leaves a field unchanged, so a null is sent as `#N/A`; booleans as
`true`/`false`. Bulk jobs always run in parallel on the Salesforce side (no serial mode in 2.0,
§3.4), so lock errors come back per record in `failedResults` (`UNABLE_TO_LOCK_ROW:…`) and are
reported as retryable failures.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.errors import ConfigurationError, RecordError, TransientError
from connector.http import TransportError
from connector.timestamps import MonotonicClock

from .client import SalesforceClient
from .errors import LOCKED, MAX_MESSAGE_CHARS
from .ids import to18

log = logging.getLogger(__name__)
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
#: Operations that may run twice with the same effect as once (a lost answer reruns the job).
SAFE_TWICE = frozenset({"upsert", "update", "delete"})
POLL_FIRST_SECONDS = 0.5
POLL_MAX_SECONDS = 5.0
DONE = frozenset({"JobComplete", "Failed", "Aborted"})


@dataclass(frozen=True)
class BulkOutcome:
    record_id: str | None
    created: bool
    error: RecordError | None


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def csv_parts(rows: Sequence[Mapping[str, Any]], limit: int = MAX_UPLOAD_BYTES) -> list[bytes]:
    """The rows as CSV uploads of at most `limit` bytes each, every one with the header."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(columns)
    head = header.getvalue()
    parts: list[bytes] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    size = len(head.encode())
    chunk: list[str] = []
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(row[c]) if c in row else "" for c in columns])
        line = buffer.getvalue()
        encoded = len(line.encode())
        if chunk and size + encoded > limit:
            parts.append((head + "".join(chunk)).encode())
            chunk, size = [], len(head.encode())
        chunk.append(line)
        size += encoded
    if chunk:
        parts.append((head + "".join(chunk)).encode())
    return parts


def _error(text: str) -> RecordError:
    code, _, message = text.partition(":")
    code = code.strip() or "BULK_ERROR"
    return RecordError(f"{code}: {message.strip()}"[:MAX_MESSAGE_CHARS], code=code,
                       retryable=code == LOCKED)  # fmt: skip


async def run_job(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    key_column: str,
    external_id: str | None = None,
    sleep: Callable[[float], Awaitable[None]],
    clock: MonotonicClock,
    timeout_seconds: float = 3600.0,
) -> dict[str, BulkOutcome]:
    """Runs one ingest job per upload part; outcomes by the value of `key_column`.

    A part whose job creation or upload lost its answer runs again as a new job (the old one,
    if it exists, is aborted before it was ever closed, so it never processes anything): an
    upsert by external id or an update by Id is safe to run twice, the CSV is still here.
    """
    outcomes: dict[str, BulkOutcome] = {}
    for part in csv_parts(rows):
        for attempt in range(2):
            try:
                outcomes.update(
                    await _one_job(
                        client, sobject, operation, part, key_column, external_id, sleep,
                        clock, timeout_seconds,
                    )
                )  # fmt: skip
                break
            except TransportError as lost:
                if not lost.sent or attempt == 1 or operation not in SAFE_TWICE:
                    raise
                log.warning("Salesforce Bulk: answer lost before the job was closed; new job")
    return outcomes


async def _one_job(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    data: bytes,
    key_column: str,
    external_id: str | None,
    sleep: Callable[[float], Awaitable[None]],
    clock: MonotonicClock,
    timeout_seconds: float,
) -> dict[str, BulkOutcome]:
    spec: dict[str, Any] = {
        "object": sobject,
        "operation": operation,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if external_id is not None:
        spec["externalIdFieldName"] = external_id
    job = await client.call("POST", "/jobs/ingest", json=spec)
    job_path = f"/jobs/ingest/{job['id']}"
    try:
        # Not repeated on a lost answer: a job takes one upload (a second PUT is refused).
        await client.api.request(
            "PUT",
            f"{client.data}{job_path}/batches",
            content=data,
            headers={**client.headers, "Content-Type": "text/csv"},
            idempotent=False,
        )
    except TransportError as lost:
        if lost.sent:
            await _abort(client, job_path)
        raise
    await _close(client, job_path)
    await poll_job(client, job_path, f"Bulk job {job['id']}", sleep, clock, timeout_seconds)
    outcomes: dict[str, BulkOutcome] = {}
    for row in await _results(client, f"{job_path}/successfulResults/"):
        outcomes[row[key_column]] = BulkOutcome(
            to18(row["sf__Id"]), row.get("sf__Created") == "true", None
        )
    for row in await _results(client, f"{job_path}/failedResults/"):
        outcomes[row[key_column]] = BulkOutcome(None, False, _error(row.get("sf__Error", "")))
    return outcomes


async def poll_job(
    client: SalesforceClient,
    job_path: str,
    what: str,
    sleep: Callable[[float], Awaitable[None]],
    clock: MonotonicClock,
    timeout_seconds: float,
) -> None:
    """Wait, backing off, until an ingest or query job is done; raise unless it completed."""
    wait, deadline = POLL_FIRST_SECONDS, clock() + timeout_seconds
    while True:
        state = await client.call("GET", job_path)
        if state.get("state") in DONE:
            break
        if clock() > deadline:
            raise TransientError(f"{what} still {state.get('state')}; try later")
        await sleep(wait)
        wait = min(wait * 2, POLL_MAX_SECONDS)
    if state["state"] != "JobComplete":
        raise job_failure(what, state)


def job_failure(what: str, state: Mapping[str, Any]) -> ConfigurationError | TransientError:
    """A job that ended `Failed` or `Aborted`. `InvalidBatch : …` is Salesforce refusing the
    job's shape (`InvalidBatch : Field name not found : X`, amp-labs/connectors PR #118): running
    it again fails again, so it stops the route naming the field; anything else is repeated
    (an upsert by external id or an update by Id is safe to run twice)."""
    message = str(state.get("errorMessage") or state.get("state"))[:MAX_MESSAGE_CHARS]
    text = f"{what} ended {state.get('state')}: {message}"
    if message.startswith("InvalidBatch"):
        return ConfigurationError(f"{text}; fix the mapping or the org's fields")
    return TransientError(text)


async def _close(client: SalesforceClient, job_path: str) -> None:
    """`UploadComplete`, once: after a lost answer the job's state says whether it took."""
    try:
        await client.call("PATCH", job_path, json={"state": "UploadComplete"}, idempotent=False)
    except TransportError as lost:
        if not lost.sent:
            raise
        state = await client.call("GET", job_path)
        if state.get("state") == "Open":
            await client.call("PATCH", job_path, json={"state": "UploadComplete"})


async def _abort(client: SalesforceClient, job_path: str) -> None:
    try:
        await client.call("PATCH", job_path, json={"state": "Aborted"}, idempotent=False)
    except (TransientError, RecordError) as exc:
        log.warning("Salesforce Bulk: could not abort %s (%s)", job_path, type(exc).__name__)


async def _results(client: SalesforceClient, path: str) -> list[dict[str, str]]:
    response = await client.api.request(
        "GET", f"{client.data}{path}", headers={**client.headers, "Accept": "text/csv"}
    )
    return list(csv.DictReader(io.StringIO(response.text)))
