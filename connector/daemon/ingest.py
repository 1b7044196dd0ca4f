"""Group commit for the webhook receiver: many requests' events in one inbox transaction.

Each request hands its verified events to `GroupCommitter.submit` and waits; one writer task
takes everything waiting, writes it in a single transaction off the event loop, and answers
every request with how many of *its* events were new. A request is answered only after the
transaction that holds its events has committed, so "stored before 202" still holds; what is
shared is the cost of a commit (and, on SQLite, the single writer lock) across requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

EventKey = tuple[str, str]
WriteBatch = Callable[[Sequence[Mapping[str, Any]]], set[EventKey]]

#: SQLite binds at most 32,766 parameters per statement; ten columns per row stays well below.
MAX_BATCH_ROWS = 500


class GroupCommitter:
    """One writer at a time; requests arriving during a write form the next batch."""

    def __init__(self, write: WriteBatch, max_rows: int = MAX_BATCH_ROWS) -> None:
        self._write = write
        self._max_rows = max_rows
        self._waiting: list[tuple[Sequence[Mapping[str, Any]], asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store `rows`; how many were new. Raises what the write raised."""
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:
            # Served from a new event loop (a test client's portal): start afresh on it.
            self._writer, self._waiting = None, []
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append((rows, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
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
            rows = [row for request_rows, _ in batch for row in request_rows]
            try:
                new = await asyncio.to_thread(self._write, rows)
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for request_rows, future in batch:
                count = 0
                for row in request_rows:
                    key = (row["source"], row["event_id"])
                    if key in new:
                        new.discard(key)  # a repeat later in the batch is a duplicate
                        count += 1
                if not future.done():
                    future.set_result(count)
