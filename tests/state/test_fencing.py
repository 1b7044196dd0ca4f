"""Fencing tokens, fenced transactions, run heartbeats and abandoned runs (SQLite, PostgreSQL
and MariaDB).

Two `StateStore`s on one database stand for two processes; a settable clock stands for time
passing while one of them is frozen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, insert, make_url, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from connector.engine.lease import RunLease
from connector.engine.service import ride_out_outages
from connector.errors import LeaseLapsedError, LeaseLostError, StoreUnavailableError
from connector.state import schema
from connector.state.connect import StoreTimeouts, is_outage, outage_reason
from connector.state.leases import Lease, fence
from connector.state.migrate import _config
from connector.state.store import StateStore, database_url, open_store
from connector.testing.clock import FakeClock
from tests.state.stores import Guard, WallClock, two_stores

TTL = dt.timedelta(seconds=20)
START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> WallClock:
    return WallClock(START)


@pytest.fixture
def two_on_postgresql(
    pg_schema_url: str, tmp_path: Path, clock: WallClock
) -> Iterator[tuple[StateStore, StateStore]]:
    """Row locks and backend sessions are PostgreSQL's: these cases have no SQLite twin."""
    yield from two_stores(pg_schema_url, tmp_path, clock)


def test_each_new_holder_gets_a_larger_token_and_renewal_keeps_it(two, clock) -> None:
    first, second = two
    a = first.take_lease("route:r", "a", TTL)
    assert a is not None and a.token == 1
    assert first.take_lease("route:r", "a", TTL) == a  # renewing is not a new token
    assert second.take_lease("route:r", "b", TTL) is None
    first.release_lease("route:r", "a")  # released, not deleted: the token stays
    b = second.take_lease("route:r", "b", TTL)
    assert b is not None and b.token == 2
    clock.advance(21)
    c = first.take_lease("route:r", "c", TTL)
    assert c is not None and c.token == 3
    assert not second.renew_lease(b, TTL), "an expired, taken-over lease cannot be renewed"


def test_a_holder_that_lost_its_lease_commits_nothing(two, clock) -> None:
    first, second = two
    paused = first.take_lease("route:r", "paused", TTL)
    assert paused is not None
    fenced = first.fenced(Guard(paused))
    with fenced.transaction() as tx:
        tx.set_cursor("r", "customer", START)
    clock.advance(45)  # frozen past its lease; another process takes the route
    taker = second.take_lease("route:r", "taker", TTL)
    assert taker is not None and taker.token == paused.token + 1
    with pytest.raises(LeaseLostError), fenced.transaction() as tx:
        tx.bind("customer", "k1", "crm", "1", snapshot={"name": "stale"})
        tx.set_cursor("r", "customer", START + dt.timedelta(hours=1))
    assert first.bindings_for("customer", "crm", ["k1"]) == {}
    assert first.cursor("r", "customer") == START
    with second.fenced(Guard(taker)).transaction() as tx:
        tx.bind("customer", "k1", "crm", "1", snapshot={"name": "fresh"})
    assert first.bindings_for("customer", "crm", ["k1"])["k1"].snapshot == {"name": "fresh"}


def freeze_inside_a_fenced_transaction(store: StateStore) -> tuple[Lease, Connection]:
    """Take route:r's lease and stop inside a fenced transaction: the lease row stays locked
    until the returned connection's transaction ends."""
    paused = store.take_lease("route:r", "paused", TTL)
    assert paused is not None
    frozen = store.engine.connect()
    frozen.begin()
    fence(frozen, paused)
    return paused, frozen


def test_a_taker_ends_a_frozen_holder_that_still_locks_the_lease_row(
    two_on_postgresql, clock
) -> None:
    """A holder frozen inside a fenced transaction keeps the row locked; its lease has run out."""
    first, second = two_on_postgresql
    paused, frozen = freeze_inside_a_fenced_transaction(first)
    clock.advance(45)
    started = time.monotonic()
    taker = second.take_lease("route:r", "taker", TTL)
    assert taker is not None and taker.token == paused.token + 1
    assert time.monotonic() - started < 5, "the taker waited out a timeout instead"
    with pytest.raises(OperationalError):  # its session was ended: nothing it did commits
        frozen.execute(select(schema.leases.c.token))
    frozen.invalidate()
    assert second.take_lease("route:r", "paused", TTL) is None, "the taker holds it now"


def test_a_live_holders_row_lock_is_waited_for_not_ended(two_on_postgresql) -> None:
    first, second = two_on_postgresql
    holder = first.take_lease("route:r", "holder", TTL)
    assert holder is not None
    busy = first.engine.connect()
    busy.begin()
    fence(busy, holder)
    # The live holder commits a moment later, as one finishing its write would.
    finishing = threading.Timer(1.0, busy.commit)
    finishing.start()
    assert second.take_lease("route:r", "other", TTL) is None
    finishing.join()
    busy.execute(select(schema.leases.c.token))  # its session was not ended
    busy.close()


@pytest.fixture
def two_on_mariadb(
    mysql_database_url: str, tmp_path: Path, clock: WallClock
) -> Iterator[tuple[StateStore, StateStore]]:
    """MariaDB's row locks, and its server ending an idle transaction (after 2 s here)."""
    timeouts = StoreTimeouts(connect_seconds=3, statement_seconds=1)
    first = open_store(mysql_database_url, tmp_path, clock=clock, timeouts=timeouts)
    second = open_store(mysql_database_url, tmp_path, clock=clock, timeouts=timeouts)
    yield first, second
    first.close()
    second.close()


def test_a_mariadb_taker_ends_a_frozen_holder_at_once(
    mysql_database_url: str, tmp_path: Path, clock: WallClock
) -> None:
    """Default timeouts: the server would end the frozen holder's transaction only after 60 s.
    The taker's account may see the lock tables (PROCESS) and end its own account's connection:
    once the holder has idled past `FROZEN_IDLE_MS` on an expired lease, the taker ends it."""
    first, second = (open_store(mysql_database_url, tmp_path, clock=clock) for _ in range(2))
    try:
        paused, frozen = freeze_inside_a_fenced_transaction(first)
        clock.advance(45)
        started = time.monotonic()
        taker = second.take_lease("route:r", "taker", TTL)
        took = time.monotonic() - started
        assert taker is not None and taker.token == paused.token + 1
        assert took < 10, f"the taker waited {took:.1f} s: it waited for the server instead"
        with pytest.raises(OperationalError):  # its session was ended: nothing it did commits
            frozen.execute(select(schema.leases.c.token))
        frozen.invalidate()
        with pytest.raises(LeaseLostError), first.fenced(Guard(paused)).transaction() as tx:
            tx.set_cursor("r", "customer", START)
        assert second.cursor("r", "customer") is None
    finally:
        first.close()
        second.close()


def test_a_mariadb_holder_busy_in_a_statement_is_waited_for_though_its_lease_expired(
    two_on_mariadb, clock
) -> None:
    """Expired, but its session is running a statement (a slow write, not a frozen process):
    the taker waits for its commit instead of ending it, and then finds the lease renewed."""
    first, second = two_on_mariadb
    holder = first.take_lease("route:r", "holder", TTL)
    assert holder is not None
    busy = first.engine.connect()
    busy.begin()
    fence(busy, holder)
    clock.advance(45)

    def slow_write_then_renew() -> None:
        for _ in range(2):  # busy for 1.8 s, each statement within its 1 s limit
            busy.execute(text("SELECT SLEEP(0.9)"))
        busy.execute(
            update(schema.leases)
            .where(schema.leases.c.name == "route:r")
            .values(expires_at=clock() + TTL)
        )
        busy.commit()

    writing = threading.Thread(target=slow_write_then_renew)
    writing.start()
    assert second.take_lease("route:r", "other", TTL) is None
    writing.join()
    busy.execute(select(schema.leases.c.token))  # its session was not ended
    busy.close()


@pytest.mark.parametrize("lacks", ["process", "connection-admin"])
def test_a_mariadb_taker_without_the_privileges_waits_for_the_server(
    two_on_mariadb, mysql_database_url: str, tmp_path: Path, clock: WallClock, lacks: str, caplog
) -> None:
    """An account that may not see the lock tables (no PROCESS), or that sees them but may not
    end the other account's connection (no CONNECTION ADMIN), waits for the server to end the
    frozen holder's idle transaction (`idle_transaction_timeout`, 2 s here), as it did before."""
    first, _ = two_on_mariadb
    database = make_url(mysql_database_url).database
    account = f"taker_{uuid.uuid4().hex[:8]}"
    admin = create_engine(mysql_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE USER '{account}'@'%' IDENTIFIED BY 'pw'"))
        conn.execute(text(f"GRANT ALL ON `{database}`.* TO '{account}'@'%'"))
        if lacks == "connection-admin":
            conn.execute(text(f"GRANT PROCESS ON *.* TO '{account}'@'%'"))
    url = make_url(mysql_database_url).set(username=account, password="pw")
    timeouts = StoreTimeouts(connect_seconds=3, statement_seconds=1)
    second = open_store(
        url.render_as_string(hide_password=False), tmp_path, clock=clock, timeouts=timeouts
    )
    try:
        paused, frozen = freeze_inside_a_fenced_transaction(first)
        clock.advance(45)
        with caplog.at_level(logging.WARNING, logger="connector.state.leases"):
            taker = second.take_lease("route:r", "taker", TTL)
        assert taker is not None and taker.token == paused.token + 1
        reasons = [getattr(record, "reason", "") for record in caplog.records]
        expected = "PROCESS" if lacks == "process" else "CONNECTION ADMIN"
        assert any(expected in reason for reason in reasons), reasons
        with pytest.raises(OperationalError):  # the server ended its idle transaction
            frozen.execute(select(schema.leases.c.token))
        frozen.invalidate()
    finally:
        second.close()
        with admin.connect() as conn:
            conn.execute(text(f"DROP USER '{account}'@'%'"))
        admin.dispose()


def test_mariadb_waits_for_a_live_holders_row_lock(two_on_mariadb) -> None:
    first, second = two_on_mariadb
    holder = first.take_lease("route:r", "holder", TTL)
    assert holder is not None
    busy = first.engine.connect()
    busy.begin()
    fence(busy, holder)
    # The live holder writes and commits a moment later, as one finishing its batch would:
    # idle in its transaction for longer than `FROZEN_IDLE_MS`, but its lease is live, so the
    # taker must not end it (and the server's 2 s idle limit has not come yet).
    finishing = threading.Timer(1.6, lambda: (_set_cursor(busy), busy.commit()))
    finishing.start()
    assert second.take_lease("route:r", "other", TTL) is None
    finishing.join()
    assert second.cursor("r", "customer") == START  # the live holder's write went through
    busy.execute(select(schema.leases.c.token))  # its session was not ended
    busy.close()


def _set_cursor(conn) -> None:
    conn.execute(
        insert(schema.cursors).values(
            route="r", entity="customer", watermark=START, updated_at=START
        )
    )


def test_a_late_holder_whose_lease_nobody_took_still_commits(two, clock) -> None:
    first, _ = two
    lease = first.take_lease("route:r", "slow", TTL)
    assert lease is not None
    clock.advance(60)
    with first.fenced(Guard(lease)).transaction() as tx:
        tx.set_cursor("r", "customer", START)
    assert first.cursor("r", "customer") == START
    assert first.renew_lease(lease, TTL)


def test_renewal_is_the_runs_heartbeat_and_a_dead_run_is_marked_abandoned(two, clock) -> None:
    first, second = two
    lease = first.take_lease("route:r", "host:1:aa", TTL)
    assert lease is not None
    run_id = first.start_run("r", "schedule", "host:1:aa")
    clock.advance(10)
    assert first.renew_lease(lease, TTL, run_id=run_id)
    seen = clock.now
    clock.advance(30)  # the process died: no renewal, no finish
    assert second.take_lease("route:r", "host:2:bb", TTL) is not None
    abandoned = second.abandon_runs("r")
    assert [run.id for run in abandoned] == [run_id]
    run = second.last_runs(1, route="r")[0]
    assert run.status == "abandoned"
    assert run.heartbeat_at == seen
    assert run.finished_at == clock.now
    assert "host:1:aa" in (run.error or "") and seen.isoformat(timespec="seconds") in run.error
    assert second.abandon_runs("r") == []


def test_migration_0003_keeps_existing_leases_and_runs(store_url: str, tmp_path: Path) -> None:
    url = store_url
    engine = create_engine(database_url(url, tmp_path))
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0002")
        conn.exec_driver_sql(
            "INSERT INTO leases (name, holder, acquired_at, expires_at) "
            "VALUES ('route:r', 'old', '2026-01-01 00:00:00', '2026-01-01 00:01:00')"
        )
        trigger = conn.dialect.identifier_preparer.quote("trigger")  # reserved on MariaDB
        conn.exec_driver_sql(
            f"INSERT INTO runs (route, {trigger}, status, started_at) "
            "VALUES ('r', 'cli', 'running', '2026-01-01 00:00:00')"
        )
    engine.dispose()
    store = open_store(url, tmp_path)  # upgrades to the newest revision
    try:
        assert store.migrations_current()
        lease = store.take_lease("route:r", "new", TTL)
        assert lease is not None and lease.token == 1
        assert [run.status for run in store.abandon_runs("r")] == ["running"]
        assert store.last_runs(1)[0].status == "abandoned"
        with store.engine.begin() as conn:
            conn.execute(
                insert(schema.leases).values(
                    name="x", holder="h", acquired_at=START, expires_at=START
                )
            )
            assert (
                conn.execute(
                    select(schema.leases.c.token).where(schema.leases.c.name == "x")
                ).scalar_one()
                == 0
            )
    finally:
        store.close()


async def test_the_local_check_stops_a_run_whose_lease_ran_out(two, clock) -> None:
    first, second = two
    lease = first.take_lease("route:r", "a", TTL)
    assert lease is not None
    ticks = FakeClock()
    guard = RunLease(first, lease, TTL, monotonic=ticks)
    guard.check()
    ticks.now += 25  # frozen for longer than the lease
    with pytest.raises(LeaseLostError, match="ran out"):
        guard.check()
    # The fenced store refuses before touching the database.
    with pytest.raises(LeaseLostError), first.fenced(guard).transaction():
        pass
    # Nobody took it: a renewal that goes through makes it good again.
    assert await guard.renew()
    guard.check()
    clock.advance(25)
    assert second.take_lease("route:r", "b", TTL) is not None
    assert not await guard.renew()
    with pytest.raises(LeaseLostError, match="took over"):
        guard.check()


async def test_a_lapse_while_the_store_is_away_is_an_outage_not_a_lost_lease(two) -> None:
    first, _ = two
    lease = first.take_lease("route:r", "a", TTL)
    assert lease is not None
    ticks = FakeClock()
    guard = RunLease(first, lease, TTL, monotonic=ticks)
    first.engine.dispose()
    first.renew_lease = _unreachable  # type: ignore[method-assign]
    assert not await guard.renew()
    ticks.now += 25
    with pytest.raises(StoreUnavailableError):
        guard.check()


def _unreachable(*_args, **_kwargs) -> bool:
    raise ConnectionError("no route to the store")


async def test_the_keeper_cancels_the_run_once_its_lease_is_taken(two, clock) -> None:
    first, second = two
    lease = first.take_lease("route:r", "a", dt.timedelta(seconds=0.6))
    assert lease is not None
    guard = RunLease(first, lease, dt.timedelta(seconds=0.6))
    clock.advance(5)
    assert second.take_lease("route:r", "b", TTL) is not None
    run = asyncio.create_task(asyncio.sleep(30))
    keeper = asyncio.create_task(guard.keep(run))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 5)
    await keeper
    assert guard.cancelled_owner and guard.taken_over


def test_every_connection_carries_the_configured_timeouts(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, tmp_path, timeouts=StoreTimeouts(3, 7))
    try:
        with store.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                shown = {
                    name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in ("statement_timeout", "idle_in_transaction_session_timeout")
                }
                assert shown == {
                    "statement_timeout": "7s",
                    "idle_in_transaction_session_timeout": "14s",
                }
                raw = conn.connection.dbapi_connection
                assert getattr(raw, "reply_seconds", None) == 9  # 7 s + 2 s of slack
            elif conn.dialect.name in ("mysql", "mariadb"):
                names = (
                    "max_statement_time",
                    "innodb_lock_wait_timeout",
                    "idle_transaction_timeout",
                    "net_read_timeout",
                    "tx_isolation",
                )
                shown = conn.exec_driver_sql(
                    "SELECT " + ", ".join(f"@@SESSION.{name}" for name in names)
                ).one()
                assert dict(zip(names, shown, strict=True)) == {
                    "max_statement_time": 7,
                    "innodb_lock_wait_timeout": 7,
                    "idle_transaction_timeout": 14,
                    "net_read_timeout": 14,
                    "tx_isolation": "READ-COMMITTED",
                }
                assert "STRICT_ALL_TABLES" in conn.exec_driver_sql("SELECT @@sql_mode").scalar()
                raw = conn.connection.dbapi_connection
                assert getattr(raw, "_read_timeout", None) == 9  # 7 s + 2 s of slack
            else:
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    finally:
        store.close()


def test_what_counts_as_the_store_being_away() -> None:
    lost = OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    assert is_outage(lost)
    assert is_outage(PoolTimeout("QueuePool limit reached"))
    assert not is_outage(IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not is_outage(ValueError("a bug"))
    assert outage_reason(lost) == "server closed the connection"


def lapsing(store: StateStore) -> tuple[RunLease, FakeClock]:
    """A run's lease on route "r" in `store`, and the clock that makes it lapse when moved."""
    lease = store.take_lease("route:r", "a", TTL)
    assert lease is not None
    ticks = FakeClock()
    return RunLease(store, lease, TTL, monotonic=ticks), ticks


async def test_a_lapse_nobody_caused_is_asked_of_the_store_and_the_run_goes_on(two) -> None:
    """The loop that renews the lease was held past it (a store call that hung on it, a
    starved process): the run stops writing, asks the store, and goes on when it is still ours
    — not a lost lease (a silent store reported as one made `connector sync` exit 1, not 3)."""
    guard, ticks = lapsing(two[0])
    attempts: list[int] = []

    async def work() -> None:
        if not attempts:
            ticks.now += 25  # held past the lease: no renewal could run meanwhile
        attempts.append(len(attempts))
        guard.check()  # what every push and every fenced transaction does first

    await ride_out_outages(guard, work, route="r", outage_seconds=60)
    assert attempts == [0, 1]  # written again only once the store said the lease is ours
    assert not guard.taken_over and not guard.lapsed()


async def test_a_lapse_while_another_took_the_lease_ends_the_run_as_lost(two, clock) -> None:
    guard, ticks = lapsing(two[0])
    attempts: list[int] = []

    async def work() -> None:
        attempts.append(len(attempts))
        ticks.now += 25
        clock.advance(25)
        assert two[1].take_lease("route:r", "b", TTL) is not None
        guard.check()

    with pytest.raises(LeaseLostError, match="took over") as lost:
        await ride_out_outages(guard, work, route="r", outage_seconds=60)
    assert not isinstance(lost.value, LeaseLapsedError)
    assert attempts == [0]  # never run again without the lease
