"""Group commit: answers per request, duplicates within a batch, failures reach every waiter."""

from __future__ import annotations

import asyncio
import threading

import pytest

from connector.daemon.ingest import GroupCommitter


def row(event_id: str) -> dict[str, str]:
    return {"source": "erp", "event_id": event_id, "entity": "customer", "external_id": "1"}


class SlowStore:
    """Remembers ids like the inbox does; the first write blocks until released."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.batches: list[int] = []
        self.release = threading.Event()

    def write(self, rows):
        if not self.batches:
            self.release.wait(5)
        self.batches.append(len(rows))
        new = {(r["source"], r["event_id"]) for r in rows} - self.seen
        self.seen |= new
        return set(new)


async def test_requests_waiting_during_a_write_share_the_next_one() -> None:
    store = SlowStore()
    committer = GroupCommitter(store.write)
    first = asyncio.create_task(committer.submit([row("a")]))
    await asyncio.sleep(0.05)  # the first write is now blocked in its thread
    waiting = [
        asyncio.create_task(committer.submit([row("b"), row("c")])),
        asyncio.create_task(committer.submit([row("b")])),  # same event, same batch
        asyncio.create_task(committer.submit([row("a")])),  # redelivery of a stored event
    ]
    await asyncio.sleep(0)
    store.release.set()
    assert await first == 1
    assert [await task for task in waiting] == [2, 0, 0]
    assert store.batches == [1, 4]


async def test_batches_respect_the_row_cap() -> None:
    store = SlowStore()
    store.release.set()
    committer = GroupCommitter(store.write, max_rows=3)
    results = await asyncio.gather(*(committer.submit([row(str(n))]) for n in range(7)))
    assert results == [1] * 7
    assert max(store.batches) <= 3 and sum(store.batches) == 7


async def test_a_failed_write_fails_every_request_in_it() -> None:
    def broken(rows):
        raise ConnectionError("gone")

    committer = GroupCommitter(broken)
    results = await asyncio.gather(
        committer.submit([row("a")]), committer.submit([row("b")]), return_exceptions=True
    )
    assert all(isinstance(result, ConnectionError) for result in results)
    with pytest.raises(ConnectionError):
        await committer.submit([row("c")])
