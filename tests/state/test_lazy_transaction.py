"""A store transaction begins (and is fenced) with its first write: one whose writes all turn
out to be nothing begins none (SQLite, PostgreSQL and MariaDB).

The case is a page of unchanged records: it resolves the pending failures of its records, and
most records never failed. Its transaction then wrote nothing but still began, wrote the fence
row, took the write lock and committed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from connector.errors import LeaseLostError, RecordError
from connector.state.store import StateStore
from tests.state.stores import Guard, WallClock

TTL = dt.timedelta(seconds=20)
START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> WallClock:
    return WallClock(START)


class Statements:
    """The statements and commits a store's engine issues while counted."""

    def __init__(self, store: StateStore) -> None:
        self.texts: list[str] = []
        self.commits = 0
        event.listen(store.engine, "before_cursor_execute", self._statement)
        event.listen(store.engine, "commit", self._commit)

    def _statement(self, _conn, _cursor, statement, *_args) -> None:
        self.texts.append(" ".join(statement.split()).lower())

    def _commit(self, _conn) -> None:
        self.commits += 1

    def touching(self, table: str) -> list[str]:
        return [text for text in self.texts if table in text]


def fail(store: StateStore, external_id: str, route: str = "r") -> None:
    with store.transaction() as tx:
        tx.record_failure(
            route, "customer", external_id, key=None, stage="push",
            error=RecordError("no"), payload=None, retryable=True,
        )  # fmt: skip


def test_resolving_failures_no_record_has_begins_no_transaction(two) -> None:
    first, _second = two
    lease = first.take_lease("route:r", "a", TTL)
    assert lease is not None
    fail(first, "1", route="other")  # a pending failure of another route...
    fail(first, "3")  # ...and one of this route's, of another record
    fenced = first.fenced(Guard(lease))
    counted = Statements(first)
    with fenced.transaction() as tx:
        tx.bind_all("customer", "erp", [])
        tx.resolve_failures("r", "customer", ["1", "2"])
    assert counted.touching("leases") == [], "no fence: nothing was written"
    assert counted.commits == 0
    pending = sorted((f.route, f.external_id) for f in first.failures())
    assert pending == [("other", "1"), ("r", "3")]
    # A transaction with nothing at all in it issues nothing.
    with fenced.transaction():
        pass
    assert counted.touching("leases") == [] and counted.commits == 0


def test_a_pending_failure_to_resolve_begins_the_fenced_transaction(two) -> None:
    first, _second = two
    lease = first.take_lease("route:r", "a", TTL)
    assert lease is not None
    fail(first, "1")
    counted = Statements(first)
    with first.fenced(Guard(lease)).transaction() as tx:
        tx.resolve_failures("r", "customer", ["1", "2"])
    fences = counted.touching("leases")
    assert len(fences) == 1 and counted.commits == 1
    # The fence is the transaction's first statement: before the failure is resolved.
    resolving = [i for i, text in enumerate(counted.texts) if text.startswith("update failures")]
    assert resolving and counted.texts.index(fences[0]) < resolving[0]
    assert first.failures() == []


def test_a_lost_lease_resolves_nothing(two, clock) -> None:
    first, second = two
    paused = first.take_lease("route:r", "paused", TTL)
    assert paused is not None
    fail(first, "1")
    clock.advance(45)  # frozen past its lease; another process takes the route
    assert second.take_lease("route:r", "taker", TTL) is not None
    with pytest.raises(LeaseLostError), first.fenced(Guard(paused)).transaction() as tx:
        tx.resolve_failures("r", "customer", ["1"])
    assert [f.external_id for f in first.failures()] == ["1"]
    # Binds begin the transaction as before: fenced, so a lost lease writes none of them.
    with pytest.raises(LeaseLostError), first.fenced(Guard(paused)).transaction() as tx:
        tx.bind("customer", "k1", "crm", "1", snapshot={"name": "stale"})
        tx.resolve_failures("r", "customer", ["1"])
    assert first.bindings_for("customer", "crm", ["k1"]) == {}
    assert [f.external_id for f in first.failures()] == ["1"]
