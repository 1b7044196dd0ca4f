"""A keyset read executes the statement an earlier opening compiled, and ends with its last page.

`keyset.py`: each opening of the adapter on one schema runs the very statement objects the
first built (with the page's values bound), so SQLAlchemy neither re-keys nor re-adapts them;
`ahead.py`: a read whose last page is short asks no thread for the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.erp_generic import adapter as adapter_module
from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.ahead import PageTaker
from connector.adapter import NativeRecord
from connector.model import Entity
from tests.erp_generic.conftest import SMALL, build_adapter
from tests.erp_generic.test_erp_warm import _engine


async def read_all(adapter: ErpGenericAdapter, since: dt.datetime | None) -> list[NativeRecord]:
    return [r async for page in adapter.read_changes(Entity.CONTACT, since) for r in page.records]


async def test_openings_run_the_statements_the_first_compiled(
    sample_url: str, tmp_path: Path
) -> None:
    executed: list[Any] = []
    reads: list[list[NativeRecord]] = []
    for since in (None, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), None):
        adapter = build_adapter(sample_url, tmp_path, page_size=7)
        await adapter.open()
        engine = _engine(adapter)

        def seen(conn: Any, clause: Any, *_args: Any) -> None:
            if isinstance(clause, sa.Select):
                executed.append(clause)

        event.listen(engine, "before_execute", seen)
        try:
            reads.append(await read_all(adapter, since))
        finally:
            event.remove(engine, "before_execute", seen)
            await adapter.close()
    # Every page read, on every opening, is one of the three kept statements.
    assert len(executed) >= 3 * (SMALL["contacts"] // 7)
    assert len({id(statement) for statement in executed}) <= 3
    # …and reads what the pages read: every contact once, in keyset order, each time.
    for records in reads:
        assert len(records) == len({r.id for r in records}) == SMALL["contacts"]
    assert [r.id for r in reads[0]] == [r.id for r in reads[1]] == [r.id for r in reads[2]]


async def test_a_read_of_one_short_page_takes_one_thread_call(
    erp: ErpGenericAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = asyncio.to_thread

    async def counted(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        calls.append(function)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(adapter_module.asyncio, "to_thread", counted)
    everything = await read_all(erp, None)
    calls.clear()
    newest = max(record.updated_at for record in everything)
    records = await read_all(erp, newest)
    assert 0 < len(records) < 7
    assert len(calls) == 1
    calls.clear()
    # Full pages still read one ahead: ceil(60 / 7) = 9 pages, the last short: 9 calls.
    assert len(await read_all(erp, None)) == SMALL["contacts"]
    assert len(calls) == -(-SMALL["contacts"] // 7)


def page(size: int) -> list[NativeRecord]:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    return [NativeRecord(str(i), now, {}) for i in range(size)]


def test_a_short_page_comes_with_the_end() -> None:
    asked: list[int] = []

    def pages() -> Iterator[list[NativeRecord]]:
        for size in (3, 3, 1):
            asked.append(size)
            yield page(size)

    taker = PageTaker(pages(), 3)
    assert len(taker.take() or []) == 3 and not taker.ended
    assert len(taker.take() or []) == 3 and not taker.ended
    assert len(taker.take() or []) == 1 and taker.ended
    assert taker.take() is None and taker.ended
    assert asked == [3, 3, 1]


def test_a_page_after_a_short_one_is_held_not_lost() -> None:
    taker = PageTaker(iter([page(1), page(2)]), 3)
    assert len(taker.take() or []) == 1 and not taker.ended
    assert len(taker.take() or []) == 2 and taker.ended
    assert taker.take() is None
