"""A run's start and end, each one transaction (SQLite, PostgreSQL and MariaDB): taking the
route's lease, marking runs a dead process left `running` abandoned and recording the run commit
together or not at all; recording the outcome and letting go of the lease likewise."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, make_url

from connector.state.leases import Lease
from connector.state.runs import _abandon_in
from connector.state.store import StateStore, open_store
from tests.state.stores import WallClock

TTL = dt.timedelta(seconds=20)
START = dt.datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> WallClock:
    return WallClock(START)


def test_a_run_begins_with_the_lease_and_its_record_and_ends_letting_both_go(two, clock) -> None:
    first, second = two
    begun = first.begin_run("r", "cli", "a", TTL)
    assert begun is not None
    assert begun.lease == Lease("route:r", "a", 1)
    assert begun.abandoned == []
    run = first.last_runs(1)[0]
    assert (run.id, run.route, run.trigger, run.status) == (begun.run_id, "r", "cli", "running")
    assert (run.holder, run.started_at, run.heartbeat_at) == ("a", START, START)
    assert second.begin_run("r", "cli", "b", TTL) is None, "the lease is a's"
    assert [run.id for run in first.last_runs()] == [begun.run_id], "b recorded no run"

    clock.now = START + dt.timedelta(seconds=3)
    first.end_run(
        begun.run_id, "partial", {"customer": {"created": 2, "failed": 1}}, "x", begun.lease
    )
    run = first.last_runs(1)[0]
    assert (run.status, run.finished_at, run.error) == ("partial", clock.now, "x")
    assert run.counts == {"customer": {"created": 2, "failed": 1}}
    assert first.lease_holder("route:r") is None, "released"
    after = second.begin_run("r", "schedule", "b", TTL)
    assert after is not None and after.lease.token == 2 and after.abandoned == []


def test_a_dry_run_takes_the_lease_but_records_no_run(two) -> None:
    first, _ = two
    begun = first.begin_run("r", "cli", "a", TTL, record=False)
    assert begun is not None and begun.run_id is None
    assert first.last_runs() == []
    first.end_run(None, "succeeded", {}, None, begun.lease)
    assert first.lease_holder("route:r") is None


def test_the_next_run_marks_a_dead_runs_record_abandoned_as_it_begins(two, clock) -> None:
    first, second = two
    dead = first.begin_run("r", "cli", "host:1:dead", TTL)
    assert dead is not None
    clock.now = START + TTL  # the dead holder's lease expired
    begun = second.begin_run("r", "cli", "b", TTL)
    assert begun is not None and begun.lease.token == 2
    assert [run.id for run in begun.abandoned] == [dead.run_id]
    runs = {run.id: run for run in second.last_runs()}
    assert runs[dead.run_id].status == "abandoned"
    assert "host:1:dead stopped without finishing the run" in (runs[dead.run_id].error or "")
    assert runs[begun.run_id].status == "running"


def test_what_fails_after_the_lease_is_taken_leaves_the_lease_free(two) -> None:
    first, second = two

    def broken(conn: Connection, lease: Lease) -> None:
        raise RuntimeError("the run could not be recorded")

    with pytest.raises(RuntimeError):
        first.take_lease("route:r", "a", TTL, broken)
    assert first.lease_holder("route:r") is None
    begun = second.begin_run("r", "cli", "b", TTL)
    assert begun is not None
    # The failed take committed nothing (on MariaDB the row was never inserted): b is first.
    assert begun.lease.token == 1


def test_ending_a_run_whose_lease_was_taken_over_records_it_and_leaves_the_lease(
    two, clock
) -> None:
    first, second = two
    begun = first.begin_run("r", "cli", "a", TTL)
    assert begun is not None
    clock.now = START + TTL
    taker = second.begin_run("r", "cli", "b", TTL)
    assert taker is not None
    first.end_run(begun.run_id, "lease lost", {}, "lost", begun.lease)
    assert first.lease_holder("route:r") == "b"
    # (the taker marked it abandoned first: the late outcome is what stays)
    assert {run.id: run.status for run in first.last_runs()}[begun.run_id] == "lease lost"


def test_the_routes_running_runs_are_one_look_in_an_index(store: StateStore) -> None:
    """Every run asks for them; the route alone would walk every run the route ever had."""
    indexes = inspect(store.engine).get_indexes("runs")
    assert {"name": "ix_runs_running", "columns": ["route", "status"]} in [
        {"name": index["name"], "columns": index["column_names"]} for index in indexes
    ]


@pytest.fixture(params=["postgresql", "mariadb"])
def row_locking_url(request: pytest.FixtureRequest) -> str:
    """The stores with row locks (SQLite locks the whole database: nothing to interleave)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_schema_url")
        return url
    server = make_url(request.getfixturevalue("mysql_database_url"))
    return server.set(drivername="mariadb+pymysql").render_as_string(hide_password=False)


def test_a_late_holder_ending_while_another_begins_waits_for_it_without_a_deadlock(
    row_locking_url: str, tmp_path: Path, clock: WallClock
) -> None:
    """A late holder whose clock lags still finds its expired lease its own, so its release
    waits for the lock a taker holds on the lease row. Both lock the lease row before a run's
    row: the taker marks the late run abandoned meanwhile instead of waiting for the late
    holder, which waits for it (a deadlock, the other way round); the late outcome follows."""
    lagging = WallClock(START)
    late = open_store(row_locking_url, tmp_path, clock=lagging)
    taker = open_store(row_locking_url, tmp_path, clock=clock)
    try:
        begun = late.begin_run("r", "cli", "late", TTL)
        assert begun is not None
        clock.now = START + TTL  # the lease ran out ...
        lagging.now = START + TTL - dt.timedelta(seconds=1)  # ... not yet by the late clock
        entered = threading.Event()
        abandoned: list[int] = []
        failed: list[Exception] = []

        def begin_slowly(conn: Connection, lease: Lease) -> None:
            entered.set()
            time.sleep(0.5)  # the late holder's end starts meanwhile
            abandoned.extend(run.id for run in _abandon_in(conn, "r", clock()))

        def take() -> None:
            try:
                taker.take_lease("route:r", "taker", TTL, begin_slowly)
            except Exception as error:  # the deadlock the test looks for, on MariaDB
                failed.append(error)

        thread = threading.Thread(target=take)
        thread.start()
        assert entered.wait(10)
        late.end_run(begun.run_id, "succeeded", {}, None, begun.lease)
        thread.join(10)
        assert failed == [] and abandoned == [begun.run_id], "taken at the first try"
        assert taker.lease_holder("route:r") == "taker"
        assert late.last_runs(1)[0].status == "succeeded"
    finally:
        late.close()
        taker.close()
