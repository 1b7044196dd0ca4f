"""Checkpoint: the route's cursor for one entity, moved only past pages fully handled.

Pages run as tasks (mapped and written while the next page is read); the cursor enters them in
the order the source gave them and moves past a page only when it and every page before it
are done, each of its records synced, unchanged or filed in `failures`. A page that failed as
a whole stops the run there: the cursor never passes it. The watermark itself follows
`decide.advance_watermark` (never past the time the run started) and `decide.pull_since`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence

from connector.engine.decide import advance_watermark, pull_since


class Cursor:
    def __init__(
        self,
        watermark: dt.datetime | None,
        signpost: dt.datetime,
        commit: Callable[[dt.datetime | None], None],
    ) -> None:
        #: The newest `updated_at` of the pages handled so far (what the store holds).
        self.watermark = watermark
        self.signpost = signpost
        #: Called with the watermark after each handled page that moved it (it persists it).
        self._commit = commit
        self._pending: deque[tuple[Sequence[dt.datetime], asyncio.Future[None]]] = deque()

    def since(self, overlap: dt.timedelta) -> dt.datetime | None:
        """Where the pull starts: the watermark minus the overlap window."""
        return pull_since(self.watermark, overlap)

    @property
    def in_flight(self) -> int:
        """Pages entered and not yet checkpointed."""
        return len(self._pending)

    def enter(self, stamps: Sequence[dt.datetime], page: asyncio.Future[None]) -> None:
        """A page read from the source (its records' `updated_at`) and the task handling it."""
        self._pending.append((stamps, page))

    async def advance(self, *, wait: bool) -> None:
        """Move past the finished pages at the front of the pipeline, in order; with `wait`,
        first wait for the oldest page to finish."""
        pending = self._pending
        if wait and pending:
            await asyncio.wait({pending[0][1]})
        while pending and pending[0][1].done():
            stamps, task = pending.popleft()
            task.result()  # a page that failed as a whole stops the run here
            moved = advance_watermark(self.watermark, stamps, self.signpost)
            # A page that leaves the watermark where it was (a run that found only the
            # overlap window's records again) has nothing to persist: no transaction.
            if moved != self.watermark:
                self.watermark = moved
                self._commit(moved)

    async def drain(self) -> None:
        """Wait for every page entered, checkpointing each in order."""
        while self._pending:
            await self.advance(wait=True)

    async def cancel(self) -> None:
        """Stop the pages still running (the run is ending on an error)."""
        for _, task in self._pending:
            task.cancel()
        await asyncio.gather(*(task for _, task in self._pending), return_exceptions=True)
