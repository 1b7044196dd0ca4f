"""The checkpoint stage: the cursor moves past pages in order, only once each is done."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from connector.engine.stages.checkpoint import Cursor
from tests.engine.stages.conftest import at

LATER = at(100)


def cursor(start: dt.datetime | None = None, signpost: dt.datetime = LATER):  # type: ignore[no-untyped-def]
    saved: list[dt.datetime | None] = []
    return Cursor(start, signpost, saved.append), saved


def page() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


async def test_the_cursor_never_passes_a_page_still_running_even_when_later_ones_are_done():
    moving, saved = cursor(at(0))
    first, second, third = page(), page(), page()
    moving.enter([at(1), at(2)], first)
    moving.enter([at(3)], second)
    moving.enter([at(4)], third)
    second.set_result(None)
    third.set_result(None)

    await moving.advance(wait=False)
    assert saved == [] and moving.watermark == at(0) and moving.in_flight == 3

    first.set_result(None)
    await moving.advance(wait=False)
    assert saved == [at(2), at(3), at(4)] and moving.in_flight == 0


async def test_waiting_waits_for_the_oldest_page_only():
    moving, saved = cursor()
    first, second = page(), page()
    moving.enter([at(1)], first)
    moving.enter([at(2)], second)
    asyncio.get_running_loop().call_soon(first.set_result, None)
    await moving.advance(wait=True)
    assert saved == [at(1)] and moving.in_flight == 1
    second.set_result(None)
    await moving.drain()
    assert saved == [at(1), at(2)]


async def test_a_page_that_failed_as_a_whole_stops_the_run_and_the_cursor_before_it():
    moving, saved = cursor(at(0))
    first, second = page(), page()
    moving.enter([at(1)], first)
    moving.enter([at(2)], second)
    second.set_result(None)
    first.set_exception(ConnectionResetError("the target went away"))
    with pytest.raises(ConnectionResetError):
        await moving.drain()
    assert saved == [] and moving.watermark == at(0)
    await moving.cancel()


async def test_the_cursor_never_goes_past_the_runs_start_nor_backwards_and_saves_only_moves():
    moving, saved = cursor(at(5), signpost=at(10))
    for stamps in ([at(3)], [], [at(7), at(30)]):  # an old page, an empty one, a clock ahead
        done = page()
        done.set_result(None)
        moving.enter(stamps, done)
    await moving.drain()
    assert saved == [at(10)], "persisted only when it moved"
    assert moving.watermark == at(10)


async def test_the_pull_starts_an_overlap_before_the_cursor_and_from_the_start_without_one():
    assert cursor(at(10))[0].since(dt.timedelta(minutes=3)) == at(7)
    assert cursor(None)[0].since(dt.timedelta(minutes=3)) is None


async def test_cancel_stops_the_pages_still_running():
    moving, _ = cursor()

    async def forever() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    moving.enter([at(1)], task)
    await moving.cancel()
    assert task.cancelled()
