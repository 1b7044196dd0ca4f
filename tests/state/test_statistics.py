"""A PostgreSQL store analyses `bindings` itself once it grew a lot (`connector.state.statistics`).

Observed through what the planner is given: `pg_class.reltuples` (-1 until the table is first
analysed) and the plan of the store's own page read, which without statistics filters the keys
out of every binding of the system instead of looking each one up in the key's index.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from connector.state.hotpath import hot_path
from connector.state.statistics import BindingStatistics
from connector.state.store import StateStore, open_store


@pytest.fixture
def pg_store(pg_schema_url: str, tmp_path: Path) -> Iterator[StateStore]:
    store = open_store(pg_schema_url, tmp_path)
    yield store
    store.close()


def _planner_count(store: StateStore) -> float:
    with store.engine.connect() as conn:
        return float(
            conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('bindings')")
            ).scalar_one()
        )


def _bind(store: StateStore, first: int, count: int) -> None:
    with store.transaction() as tx:
        for n in range(first, first + count):
            tx.bind("customer", f"k{n:06d}", "crm", f"c{n}", snapshot={"n": n})
            tx.bind("customer", f"k{n:06d}", "erp", f"e{n}", snapshot={"n": n})


def _page_plan(store: StateStore, keys: list[str]) -> str:
    """EXPLAIN of the store's page read (`HotPath.bindings_by_key`) for `keys`."""
    statement = hot_path(store.engine.dialect).bindings_by_key
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN " + statement.sql, ("customer", "crm", keys)).scalars()
        return "\n".join(rows)


def test_a_table_grown_from_nothing_is_analysed(pg_store: StateStore) -> None:
    _bind(pg_store, 0, 100)  # 200 rows: under the floor, nothing looked at
    assert _planner_count(pg_store) == -1
    _bind(pg_store, 100, 5_000)
    assert _planner_count(pg_store) == 10_200
    keys = [f"k{n:06d}" for n in range(2_000, 2_020)]
    plan = _page_plan(pg_store, keys)
    assert "uq_bindings_key" in plan and "Filter" not in plan, plan


def test_without_it_the_page_read_filters_every_binding(pg_store: StateStore) -> None:
    """What the analysis is for (and that the test above can fail): the same page read on the
    same rows, the rows written past the store (so it never looks), is planned as a filter."""
    pg_store.statistics.wrote = lambda rows: None  # type: ignore[method-assign]
    _bind(pg_store, 0, 5_100)
    assert _planner_count(pg_store) == -1
    plan = _page_plan(pg_store, [f"k{n:06d}" for n in range(2_000, 2_020)])
    assert "Filter" in plan, plan


def test_it_is_analysed_again_when_it_doubled_not_on_every_write(pg_store: StateStore) -> None:
    _bind(pg_store, 0, 1_000)
    assert _planner_count(pg_store) == 2_000
    _bind(pg_store, 1_000, 900)  # 1,800 more: fewer than the planner counted
    assert _planner_count(pg_store) == 2_000
    _bind(pg_store, 1_900, 100)  # 2,000 written since: the table may have doubled
    assert _planner_count(pg_store) == 4_000
    for start in range(2_000, 3_000, 100):  # updates count too: 2,000 more, never 4,000
        _bind(pg_store, start - 2_000, 100)
    assert _planner_count(pg_store) == 4_000


def test_a_fenced_view_counts_with_its_store(pg_store: StateStore) -> None:
    class Unfenced:
        lease = None

        def check(self) -> None:
            pass

    view = pg_store.fenced(Unfenced())  # type: ignore[arg-type]
    assert view.statistics is pg_store.statistics


def test_a_busy_table_is_not_waited_for(pg_store: StateStore, pg_schema_url: str) -> None:
    """Another session analysing (or vacuuming) the table holds the lock ANALYZE needs: the
    store gives up at once, and looks again after more writes, not after every transaction."""
    with pg_store.engine.connect() as other:
        other.execute(text("LOCK TABLE bindings IN SHARE UPDATE EXCLUSIVE MODE"))
        _bind(pg_store, 0, 1_000)  # committed, though the analysis could not run
        assert pg_store.count_bindings() == 2_000
        other.rollback()
    assert _planner_count(pg_store) == -1
    _bind(pg_store, 1_000, 10)
    assert _planner_count(pg_store) == -1
    _bind(pg_store, 1_010, BindingStatistics.FLOOR // 2)
    assert _planner_count(pg_store) == 3_020
