"""The read stage: a page as data, parents read for their children, records awaiting the target."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from connector.adapter import Adapter, NativeRecord
from connector.engine.stages.read import read_parents, split_page, starting_point
from connector.errors import AwaitingTarget, ConfigurationError, RecordError, TransientError
from connector.model import Entity
from tests.engine.stages.conftest import at, native

MOMENT = at(7)


def test_a_record_read_twice_counts_once_as_its_last_version_and_deleted_ones_go_apart():
    page = split_page(
        [native("a", 1, name="old"), native("b", 2, deleted=True), native("a", 3, name="new")]
    )
    assert [(r.id, r.fields.get("name")) for r in page.records] == [("b", None), ("a", "new")]
    assert [r.id for r in page.live] == ["a"]
    assert [r.id for r in page.deleted] == ["b"]


class Source:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.asked: list[list[str]] = []

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        self.asked.append(list(ids))
        if self.error is not None:
            raise self.error
        return [native(i) for i in ids]


async def test_parents_the_source_cannot_give_now_are_none_and_the_children_go_on():
    source = Source(TransientError("busy"))
    found = await read_parents(source, "r", Entity.CUSTOMER, ["c1"])  # type: ignore[arg-type]
    assert found == [] and source.asked == [["c1"]]
    ok: Adapter = Source()  # type: ignore[assignment]
    assert [r.id for r in await read_parents(ok, "r", Entity.CUSTOMER, ["c1", "c2"])] == [
        "c1",
        "c2",
    ]


async def test_a_parent_read_failing_for_good_stops_the_run():
    source = Source(ConfigurationError("no such entity"))
    with pytest.raises(ConfigurationError):
        await read_parents(source, "r", Entity.CUSTOMER, ["c1"])  # type: ignore[arg-type]


def test_a_run_starts_from_the_cursor_after_the_entitys_failures_with_the_awaiting_code_only(
    sqlite_store,
):
    with sqlite_store.transaction() as tx:
        for external_id, entity, error in [
            ("a", Entity.CUSTOMER, AwaitingTarget("staged")),
            ("b", Entity.CUSTOMER, RecordError("refused", code="REJECTED")),
            ("c", Entity.CONTACT, AwaitingTarget("staged")),
        ]:
            tx.record_failure(
                "r",
                entity,
                external_id,
                key=None,
                stage="push",
                error=error,
                payload={},
                retryable=True,
            )
    with sqlite_store.transaction() as tx:
        tx.set_cursor("r", Entity.CUSTOMER, MOMENT)

    def start(route: str, *, cursor: bool = True, awaiting: bool = True) -> tuple[object, ...]:
        found = starting_point(
            sqlite_store, route, Entity.CUSTOMER, cursor=cursor, awaiting=awaiting
        )
        return found.watermark, found.awaiting

    assert start("r") == (MOMENT, ["a"])
    assert start("other") == (None, [])
    assert start("r", cursor=False) == (None, ["a"]), "a full run starts with no cursor"
    assert start("r", awaiting=False) == (MOMENT, []), "a dry run writes nothing again"
