"""Group commit for the webhook receiver: many requests' events in one inbox transaction.

Each request hands its verified events to `GroupCommitter.submit` and waits; one writer task
takes everything waiting, writes it in a single transaction off the event loop, and answers
every request with how many of *its* events were new. A request is answered only after the
transaction that holds its events has committed, so "stored before 202" still holds; what is
shared is the cost of a commit (and, on SQLite, the single writer lock) across requests.

Sharing a transaction must not mean sharing a fate. When the store refuses a batch because of
the values in it (`UnstorableError`: a NUL character PostgreSQL cannot hold, say), one request's
bad event would otherwise fail every request that happened to be committed with it; the batch is
then written again one request at a time, so only the request that holds the bad value fails.
Any other failure (the store is down) fails the whole batch at once: retrying it request by
request would only multiply the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connector.errors import UnstorableError

EventKey = tuple[str, str]
WriteBatch = Callable[[Sequence[Mapping[str, Any]]], set[EventKey]]

#: SQLite binds at most 32,766 parameters per statement; ten columns per row stays well below.
MAX_BATCH_ROWS = 500


class GroupCommitter:
    """Up to `writers` writes at a time; requests arriving while all are busy form the next batch.

    One writer suits SQLite, which has one write lock anyway. On PostgreSQL a commit costs a few
    round trips to the server, and with one writer every request waits for the batch before its
    own; a few writers in parallel keep the round trips overlapping. Rows are written in key
    order, so two batches holding the same redelivered events lock them in the same order and
    cannot deadlock.
    """

    def __init__(self, write: WriteBatch, max_rows: int = MAX_BATCH_ROWS, writers: int = 1) -> None:
        self._write = write
        self._max_rows = max_rows
        self._max_writers = max(1, writers)
        self._waiting: list[tuple[Sequence[Mapping[str, Any]], asyncio.Future[int]]] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store `rows`; how many were new. Raises what the write raised."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Served from a new event loop (a test client's portal): start afresh on it.
            self._loop, self._writers, self._waiting = loop, set(), []
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append((rows, future))
        if len(self._writers) < self._max_writers:
            writer = asyncio.create_task(self._drain())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        # A request whose client went away still has its events written: shielding keeps the
        # batch's bookkeeping intact when the request's task is cancelled.
        return await asyncio.shield(future)

    def _take(self) -> list[tuple[Sequence[Mapping[str, Any]], asyncio.Future[int]]]:
        taken: list[tuple[Sequence[Mapping[str, Any]], asyncio.Future[int]]] = []
        size = 0
        while self._waiting and (not taken or size + len(self._waiting[0][0]) <= self._max_rows):
            item = self._waiting.pop(0)
            taken.append(item)
            size += len(item[0])
        return taken

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._take()
            rows = sorted(
                (row for request_rows, _ in batch for row in request_rows),
                key=lambda row: (row["source"], row["event_id"]),
            )
            try:
                new = await asyncio.to_thread(self._write, rows)
            except UnstorableError as error:
                if len(batch) == 1:
                    _settle(batch[0][1], error)
                else:
                    outcomes = await asyncio.to_thread(self._write_alone, batch)
                    for (_, future), outcome in zip(batch, outcomes, strict=True):
                        _settle(future, outcome)
                continue
            except Exception as error:
                for _, future in batch:
                    _settle(future, error)
                continue
            for request_rows, future in batch:
                _settle(future, _claim(request_rows, new))

    def _write_alone(
        self, batch: Sequence[tuple[Sequence[Mapping[str, Any]], asyncio.Future[int]]]
    ) -> list[int | Exception]:
        """Each request's rows in a transaction of its own: how many were new, or its error."""
        outcomes: list[int | Exception] = []
        for request_rows, _ in batch:
            try:
                outcomes.append(_claim(request_rows, self._write(request_rows)))
            except Exception as error:
                outcomes.append(error)
        return outcomes


def _claim(request_rows: Sequence[Mapping[str, Any]], new: set[EventKey]) -> int:
    """How many of a request's rows are in `new`; each claimed key is removed, so a repeat
    later in the batch counts as a duplicate."""
    count = 0
    for row in request_rows:
        key = (row["source"], row["event_id"])
        if key in new:
            new.discard(key)
            count += 1
    return count


def _settle(future: asyncio.Future[int], outcome: int | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
