"""The hot-path statements (`connector.state.hotpath`) store what Core stored, on both databases.

Bindings, cursors and failure resolutions are written and read through the driver, not through
SQLAlchemy's per-row processing: each test reads back both ways — through the store's methods
and through a plain Core query — so a value the raw path encoded differently (a datetime in
another text format on SQLite, JSON null for SQL NULL) shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Text, cast, create_engine, event, inspect, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

from connector.errors import RecordError
from connector.model import Entity
from connector.state import hotpath, schema
from connector.state.bindings import Binding
from connector.state.hotpath import _sqlite_datetime_to_db, hot_path
from connector.state.snapshots import encode_snapshot
from connector.state.store import StateStore, StoreConflict

PARIS = dt.timezone(dt.timedelta(hours=2))
MOMENT = dt.datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=PARIS)
WHOLE_SECOND = dt.datetime(2026, 5, 2, 9, 0, 0, tzinfo=dt.UTC)
SQLITE = create_engine("sqlite://").dialect
SNAPSHOT = {"name": "Zoë «Ünïcode» 北京 \U0001f600", "vat": None, "tags": ["a", None], "n": 3}


def core_row(store: StateStore, key: str, system: str) -> dict[str, object]:
    table = schema.bindings
    with store.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.key == key, table.c.system == system)).one()
    return dict(row._mapping)


def test_a_bind_round_trips_unicode_nulls_and_aware_datetimes(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "id-é'\"1", snapshot=SNAPSHOT, remote_updated_at=MOMENT)
        tx.bind("customer", "k1", "erp", "7")  # ids only: no snapshot, no remote time
        now = tx.now
    binding = store.bindings_for("customer", "crm", ["k1"])["k1"]
    assert binding.external_id == "id-é'\"1" and binding.snapshot == SNAPSHOT
    assert binding.remote_updated_at == MOMENT and binding.remote_updated_at.tzinfo is not None
    assert binding.hash == encode_snapshot(SNAPSHOT).hash
    # Core reads the same row the same way: the same datetime, the same JSON.
    row = core_row(store, "k1", "crm")
    assert row["remote_updated_at"] == MOMENT and row["synced_at"] == now
    assert row["snapshot"] == SNAPSHOT and row["external_id"] == "id-é'\"1"
    bare = store.bindings_for("customer", "erp", ["k1"])["k1"]
    assert bare.snapshot is None and bare.hash is None and bare.remote_updated_at is None
    assert core_row(store, "k1", "erp")["synced_at"] is None
    # SQL NULL, not JSON null: a Core `IS NULL` finds it.
    table = schema.bindings
    with store.engine.connect() as conn:
        nulls = conn.execute(select(table.c.system).where(table.c.snapshot.is_(None))).all()
    assert [row.system for row in nulls] == ["erp"]


def test_datetimes_are_stored_as_core_stores_them(store: StateStore) -> None:
    """A Core comparison with the same moment matches: on SQLite that means the same text."""
    for moment in (MOMENT, WHOLE_SECOND):
        key = f"k{moment.second}"
        with store.transaction() as tx:
            tx.bind("customer", key, "crm", key, remote_updated_at=moment)
            tx.set_cursor("r", key, moment)
        table = schema.bindings
        with store.engine.connect() as conn:
            found = conn.execute(
                select(table.c.key).where(table.c.remote_updated_at == moment)
            ).scalar_one()
            cursors = schema.cursors
            moved = conn.execute(
                select(cursors.c.entity).where(cursors.c.watermark == moment)
            ).scalar_one()
        assert found == key and moved == key
        assert store.cursor("r", key) == moment


def test_a_rebind_updates_only_what_it_carries(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "A"}, remote_updated_at=MOMENT)
        first = tx.now
    store.clock = lambda: first + dt.timedelta(minutes=5)
    with store.transaction() as tx:  # ids only: the snapshot, hash and times stay
        tx.bind("customer", "k1", "crm", "101")
    row = core_row(store, "k1", "crm")
    assert row["external_id"] == "101" and row["snapshot"] == {"name": "A"}
    assert row["remote_updated_at"] == MOMENT and row["synced_at"] == first
    later = MOMENT + dt.timedelta(hours=1)
    with store.transaction() as tx:  # the remote time alone: the snapshot and its time stay
        tx.bind("customer", "k1", "crm", "101", remote_updated_at=later)
    row = core_row(store, "k1", "crm")
    assert row["remote_updated_at"] == later and row["snapshot"] == {"name": "A"}
    assert row["synced_at"] == first
    with store.transaction() as tx:  # a snapshot alone: the remote time stays
        tx.bind("customer", "k1", "crm", "101", snapshot={"name": "B"})
        second = tx.now
    row = core_row(store, "k1", "crm")
    assert row["snapshot"] == {"name": "B"} and row["synced_at"] == second != first
    assert row["remote_updated_at"] == later


def test_the_last_bind_of_a_key_in_one_transaction_wins(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "A"})
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "B"})
        tx.bind("customer", "k2", "crm", "200")  # ids only, then with a snapshot, then ids
        tx.bind("customer", "k2", "crm", "201", snapshot={"name": "C"})
        tx.bind("customer", "k2", "crm", "202")
    bindings = store.bindings_for("customer", "crm", ["k1", "k2"])
    assert bindings["k1"].snapshot == {"name": "B"}
    assert bindings["k2"].external_id == "202" and bindings["k2"].snapshot == {"name": "C"}


def test_a_batch_of_rebinds_keeps_moves_and_creates_bindings(store: StateStore) -> None:
    """Binds that keep their record's id are written by an upsert that leaves the id alone;
    one key bound to another record in the same batch still moves, and new keys are made."""
    with store.transaction() as tx:
        for n in range(5):
            tx.bind("customer", f"k{n}", "crm", f"id{n}", snapshot={"n": n})
    with store.transaction() as tx:
        tx.bind("customer", "k0", "crm", "id0", snapshot={"n": 10})  # kept
        tx.bind("customer", "k1", "crm", "id1-new", snapshot={"n": 11})  # moved
        tx.bind("customer", "k2", "crm", "id2", snapshot={"n": 12})  # kept, after a move
        tx.bind("customer", "k9", "crm", "id9", snapshot={"n": 19})  # new
        tx.bind("customer", "k3", "crm", "id3", snapshot={"n": 13})  # moved, then back
        tx.bind("customer", "k3", "crm", "id3-new", snapshot={"n": 23})
        tx.bind("customer", "k3", "crm", "id3", snapshot={"n": 33})
        now = tx.now
    found = store.bindings_for("customer", "crm", [f"k{n}" for n in range(10)])
    assert {key: (b.external_id, b.snapshot) for key, b in found.items()} == {
        "k0": ("id0", {"n": 10}),
        "k1": ("id1-new", {"n": 11}),
        "k2": ("id2", {"n": 12}),
        "k3": ("id3", {"n": 33}),
        "k4": ("id4", {"n": 4}),
        "k9": ("id9", {"n": 19}),
    }
    assert found["k1"].hash == encode_snapshot({"n": 11}).hash
    assert core_row(store, "k0", "crm")["synced_at"] == now
    assert store.keys_for("customer", "crm", ["id1", "id1-new", "id3-new"]) == {"id1-new": "k1"}


def test_a_kept_id_bound_to_another_key_is_still_a_conflict(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "id1", snapshot={"n": 1})
        tx.bind("customer", "k2", "crm", "id2", snapshot={"n": 2})
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "id1", snapshot={"n": 10})
        tx.bind("customer", "k2", "crm", "id1", snapshot={"n": 20})  # k1's record
    found = store.bindings_for("customer", "crm", ["k1", "k2"])
    assert {key: (b.external_id, b.snapshot) for key, b in found.items()} == {
        "k1": ("id1", {"n": 1}),
        "k2": ("id2", {"n": 2}),
    }


@given(
    moment=st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.timezones(),
    )
)
def test_the_fast_sqlite_datetime_text_is_the_one_core_writes(moment: dt.datetime) -> None:
    """The fast text itself, not whichever `hot_path` chose: the store falls back to Core's
    processor if its samples disagree, which would hide a wrong fast text (and its cost)."""
    core = schema.UtcDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert core is not None
    assert _sqlite_datetime_to_db(moment) == core(moment)
    assert hot_path(SQLITE).datetime_to_db is _sqlite_datetime_to_db


@given(
    moment=st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.timezones(),
    )
)
def test_the_sqlite_datetime_text_reads_back_as_core_reads_it(moment: dt.datetime) -> None:
    impl = schema.UtcDateTime().dialect_impl(SQLITE)
    core = impl.result_processor(SQLITE, None)
    assert core is not None
    text = hot_path(SQLITE).datetime_to_db(moment)
    read = hot_path(SQLITE).datetime_from_db(text)
    # (the moment in UTC: a local time in a DST gap does not compare equal to its UTC value)
    assert read == core(text) == moment.astimezone(dt.UTC)
    assert read is not None and read.tzinfo is dt.UTC


@pytest.mark.parametrize(
    "text", ["2026-12-06", "2026-12-06 06:00:00", "2026-12-06T06:00:00.5", "0999-01-02 03:04:05"]
)
def test_sqlite_datetime_text_of_other_shapes_reads_as_core_reads_it(text: str) -> None:
    """Text the store never writes (a date alone, no microseconds) is still read as SQLAlchemy
    reads it: aware, in UTC — never the naive midnight `fromisoformat` makes of a date."""
    core = schema.UtcDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert core is not None
    read = hot_path(SQLITE).datetime_from_db(text)
    assert read == core(text) and read is not None and read.tzinfo is dt.UTC
    assert hot_path(SQLITE).datetime_from_db(None) is None


def test_a_naive_datetime_is_refused_at_once(store: StateStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"), store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", remote_updated_at=dt.datetime(2026, 1, 1))
    assert store.count_bindings() == 0


def test_a_long_id_list_is_one_parameter(store: StateStore) -> None:
    """More ids than the old chunks of 500 (and than SQLite's 999 variables of old), with
    quotes, commas and brackets that a JSON array or a PostgreSQL array must carry through."""
    odd = ["a'b", 'c"d', "e,f", "[g]", "{h}", "北京", "x\\y"]
    ids = [f"id{n}" for n in range(1200)] + odd
    with store.transaction() as tx:
        for n, external_id in enumerate(ids):
            tx.bind("customer", f"k{n}", "crm", external_id)
    keys = store.keys_for("customer", "crm", [*ids, "absent"])
    assert len(keys) == len(ids) and keys["北京"] == f"k{ids.index('北京')}"
    bindings = store.bindings_for("customer", "crm", [f"k{n}" for n in range(len(ids))])
    assert {binding.external_id for binding in bindings.values()} == set(ids)
    assert store.keys_for("customer", "crm", []) == {}
    assert store.bindings_for("customer", "erp", ["k1"]) == {}


def test_both_sides_read_by_external_id_are_those_read_by_key(store: StateStore) -> None:
    """`both_sides_by_id`: `keys_for`, then `bindings_for` of the keys found in the system and
    in the other one, in one query, value for value: odd ids, a key bound on one side only, a
    binding without a snapshot or a remote time, unknown ids, an id longer than any stored
    (MariaDB's JSON_TABLE cuts the list's strings to 256 characters: a cut one matches none)."""
    odd = ["a'b", 'c"d', "e,f", "北京", "x\\y"]
    long = "L" * 255  # (the longest id the column holds)
    with store.transaction() as tx:
        for n, external_id in enumerate(odd):
            tx.bind("customer", f"k{n}", "crm", external_id, snapshot=SNAPSHOT)
            tx.bind("customer", f"k{n}", "erp", f"e{n}", snapshot={"n": n})
        tx.bind("customer", "k9", "crm", "9", snapshot={"n": 9}, remote_updated_at=MOMENT)
        tx.bind("customer", "k9", "erp", "a'b", remote_updated_at=WHOLE_SECOND)  # no snapshot
        tx.bind("customer", "k8", "crm", long)  # bound in crm alone
        tx.bind("customer", "k7", "erp", "only-erp")  # bound in erp alone
        tx.bind("customer", "k6", "crm", "6", snapshot={"n": 6})
        tx.bind("invoice", "k6", "erp", "e6")  # another entity's binding of the same key
    ids = [*odd, "9", long, "absent", long + "x", "L" * 300, "only-erp", "6"]
    by_id, others = store.both_sides_by_id("customer", "crm", "erp", ids)
    keys = store.keys_for("customer", "crm", ids)
    assert {external_id: b.key for external_id, b in by_id.items()} == keys
    assert {b.key: b for b in by_id.values()} == store.bindings_for(
        "customer", "crm", keys.values()
    )
    assert others == store.bindings_for("customer", "erp", keys.values())
    assert others.keys() == {"k0", "k1", "k2", "k3", "k4", "k9"}  # not k8, nor k6's invoice
    assert by_id["9"].remote_updated_at == MOMENT and by_id["北京"].snapshot == SNAPSHOT
    assert others["k9"] == Binding("customer", "k9", "erp", "a'b", None, None, WHOLE_SECOND)
    assert by_id[long].snapshot is None and by_id[long].remote_updated_at is None
    assert store.both_sides_by_id("customer", "crm", "erp", []) == ({}, {})
    # The other way round: the same id in another system is another binding.
    by_id, others = store.both_sides_by_id("customer", "erp", "crm", ["a'b", "only-erp"])
    assert by_id.keys() == {"a'b", "only-erp"} and by_id["a'b"].key == "k9"
    assert others == {"k9": store.bindings_for("customer", "crm", ["k9"])["k9"]}


def test_resolving_touches_only_the_named_pending_failures(store: StateStore) -> None:
    def fail(route: str, entity: str, external_id: str) -> None:
        with store.transaction() as tx:
            tx.record_failure(
                route, entity, external_id, key=None, stage="push",
                error=RecordError("no"), payload=None, retryable=True,
            )  # fmt: skip

    for external_id in ("1", "2", "3"):
        fail("r", "customer", external_id)
    fail("r", "contact", "1")
    fail("other", "customer", "1")
    with store.transaction() as tx:
        for external_id in ("1", "3", "never-failed"):
            tx.resolve_failure("r", "customer", external_id)
        resolved_at = tx.now
    pending = {(f.route, f.entity, f.external_id) for f in store.failures()}
    assert pending == {("r", "customer", "2"), ("r", "contact", "1"), ("other", "customer", "1")}
    resolved = store.failures(status="resolved")
    assert sorted(f.external_id for f in resolved) == ["1", "3"]
    assert all(f.updated_at == resolved_at for f in resolved)


def statements(store: StateStore) -> list[str]:
    """Every SQL statement the store's engine runs from now on (the list grows as they run)."""
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def file_failure(store: StateStore, route: str, entity: str, external_id: str) -> None:
    with store.transaction() as tx:
        tx.record_failure(
            route, entity, external_id, key=None, stage="push",
            error=RecordError("no"), payload=None, retryable=True,
        )  # fmt: skip


def test_with_no_pending_failure_the_synced_ids_are_not_sent_to_be_resolved(store: StateStore):
    file_failure(store, "r", "contact", "1")
    file_failure(store, "other", "customer", "1")
    file_failure(store, "r", "customer", "1")
    with store.transaction() as tx:
        tx.resolve_failure("r", "customer", "1")
    seen = statements(store)

    with store.transaction() as tx:
        for n in range(1000):
            tx.resolve_failure("r", "customer", str(n))

    assert not [sql for sql in seen if sql.lstrip().upper().startswith("UPDATE FAILURES")]
    pending = {(f.route, f.entity, f.external_id) for f in store.failures()}
    assert pending == {("r", "contact", "1"), ("other", "customer", "1")}

    # One pending failure among them: it is resolved, in the same transaction as the others.
    file_failure(store, "r", "customer", "500")
    with store.transaction() as tx:
        for n in range(1000):
            tx.resolve_failure("r", "customer", str(n))
    assert sorted(f.external_id for f in store.failures(status="resolved")) == ["1", "500"]


def test_a_failure_filed_earlier_in_the_transaction_is_resolved_by_a_later_success(
    store: StateStore,
):
    with store.transaction() as tx:
        tx.record_failure(
            "r", "customer", "7", key=None, stage="push",
            error=RecordError("no"), payload=None, retryable=True,
        )  # fmt: skip
        tx.resolve_failure("r", "customer", "7")
    assert store.failures() == []
    assert [f.external_id for f in store.failures(status="resolved")] == ["7"]


def test_whether_a_route_has_a_pending_failure_is_one_look_in_an_index(store: StateStore):
    indexes = inspect(store.engine).get_indexes("failures")
    assert {"name": "ix_failures_pending", "columns": ["route", "entity", "status"]} in [
        {"name": index["name"], "columns": index["column_names"]} for index in indexes
    ]


@pytest.mark.parametrize(
    "value",
    [
        MOMENT,
        WHOLE_SECOND,
        dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-9, minutes=-30))),
        dt.datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(0))),
        dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
        dt.datetime.now(dt.UTC),
    ],
)
def test_sqlites_fast_datetime_is_the_text_core_stores(value: dt.datetime) -> None:
    dialect = sqlite.dialect()
    core = schema.UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert core is not None
    assert hot_path(dialect).datetime_to_db(value) == core(value)
    assert hot_path(dialect).datetime_to_db(None) is None
    with pytest.raises(ValueError):
        hot_path(dialect).datetime_to_db(value.replace(tzinfo=None))


def test_a_key_that_moves_frees_its_id_for_a_later_bind_of_the_batch(store: StateStore) -> None:
    """Binds are written in the order they were made, each checked as it lands: one statement
    over arrays on PostgreSQL, an executemany elsewhere; the result is the same."""
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "X")
        tx.bind("customer", "k3", "crm", "Z")
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "Y")  # k1's record recreated: X is free ...
        tx.bind("customer", "k2", "crm", "X")  # ... for another key, later in the batch
    assert store.keys_for("customer", "crm", ["X", "Y", "Z"]) == {"X": "k2", "Y": "k1", "Z": "k3"}
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.bind("customer", "k4", "crm", "Z")  # Z is still k3's when this lands ...
        tx.bind("customer", "k3", "crm", "W")  # ... although k3 moves away afterwards
    assert store.keys_for("customer", "crm", ["W", "Z"]) == {"Z": "k3"}


@pytest.mark.parametrize("store_url", ["postgresql", "mariadb"], indirect=True)
def test_a_value_longer_than_its_column_is_refused_not_cut(store: StateStore) -> None:
    """PostgreSQL's arrays of strings are cast without a length: a cast to VARCHAR(n) would
    cut. (Not on SQLite, which does not enforce a VARCHAR's length at all.)"""
    too_long = "k" * (schema.bindings.c.key.type.length + 1)  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError), store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "1", snapshot={"n": 1})
        tx.bind("customer", too_long, "crm", "2", snapshot={"n": 2})
    assert store.count_bindings() == 0


def test_a_batch_of_binds_is_one_statement_on_postgresql(store: StateStore) -> None:
    """psycopg's executemany is a statement per row; a run of binds with no key twice is one
    statement over arrays there. Elsewhere the driver's executemany is one call."""
    calls: list[bool] = []

    def count(_conn: object, _cursor: object, sql: str, _p: object, _c: object, many: bool):
        if sql.startswith("INSERT INTO bindings"):
            calls.append(many)

    event.listen(store.engine, "before_cursor_execute", count)
    with store.transaction() as tx:
        for n in range(300):
            key, bound = f"k{n}", f"id{n}"
            tx.bind("customer", key, "crm", bound, snapshot={"n": n}, remote_updated_at=MOMENT)
    with store.transaction() as tx:  # the same keys again, their ids kept
        for n in range(300):
            tx.bind("customer", f"k{n}", "crm", f"id{n}", snapshot={"n": -n})
    on_postgresql = store.engine.dialect.name == "postgresql"
    assert calls == [not on_postgresql] * 2
    found = store.bindings_for("customer", "crm", ["k0", "k299"])
    assert found["k299"].snapshot == {"n": -299} and found["k299"].remote_updated_at == MOMENT
    assert store.count_bindings() == 300


def test_an_entity_given_as_a_str_enum_reaches_the_driver_as_a_plain_str(
    store: StateStore,
) -> None:
    """The engine binds with `Entity` members (a StrEnum); sqlite3 looks up an adapter for
    every parameter that is not exactly a str, once per row, so the store hands the driver the
    plain text. The stored value is the same either way."""
    entities: list[object] = []

    def spy(_conn: object, _cursor: object, sql: str, params: object, _c: object, many: bool):
        if sql.startswith("INSERT INTO bindings"):
            assert isinstance(params, list | tuple)
            if many:  # rows
                entities.extend(row[0] for row in params)
            elif isinstance(params[0], list):  # one array per column (PostgreSQL)
                entities.extend(params[0])
            else:  # one row
                entities.append(params[0])

    event.listen(store.engine, "before_cursor_execute", spy)
    with store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", "crm", "1", snapshot={"n": 1})
        tx.bind(Entity.CUSTOMER, "k2", "crm", "2")
    assert entities and all(type(entity) is str for entity in entities)
    assert entities[0] == "customer"
    assert set(store.keys_for("customer", "crm", ["1", "2"]).values()) == {"k1", "k2"}
    assert store.bindings_for(Entity.CUSTOMER, "crm", ["k1"])["k1"].snapshot == {"n": 1}


def test_a_snapshot_is_stored_as_the_text_it_was_hashed_from(store: StateStore) -> None:
    """The column holds `encode_snapshot`'s text byte for byte (MariaDB is sent its UTF-8 as a
    hex literal, PostgreSQL an array of it), so the stored hash stays the hash of what is
    stored."""
    snapshot = {**SNAPSHOT, "quotes": 'O\'Brien "Ltd" \\ back\\slash\n', "empty": ""}
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "1", snapshot=snapshot)
        tx.bind("customer", "k2", "crm", "2", snapshot={"n": 2})
    table = schema.bindings
    with store.engine.connect() as conn:
        stored = conn.execute(
            select(cast(table.c.snapshot, Text)).where(table.c.key == "k1")
        ).scalar_one()
    assert stored == encode_snapshot(snapshot).text
    assert store.bindings_for("customer", "crm", ["k1"])["k1"].snapshot == snapshot


def test_sqlites_datetime_text_keeps_each_days_text_and_only_so_many() -> None:
    """The day's part of the text is made once and kept (a page's times fall on few days), the
    days kept bounded; the text is SQLAlchemy's either way."""
    dialect = sqlite.dialect()
    core = schema.UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert core is not None
    to_db = hot_path(dialect).datetime_to_db
    hotpath._DAYS.clear()
    first = dt.datetime(2026, 5, 1, 14, 30, 15, 7, tzinfo=dt.UTC)
    assert to_db(first) == core(first) == "2026-05-01 14:30:15.000007"
    assert to_db(first.replace(hour=2)) == core(first.replace(hour=2))
    assert {first.toordinal(): "2026-05-01 "} == hotpath._DAYS
    for days in range(hotpath._DAYS_KEPT + 10):
        later = first + dt.timedelta(days=days, seconds=days)
        assert to_db(later) == core(later)
    assert 0 < len(hotpath._DAYS) <= hotpath._DAYS_KEPT


def test_a_subclass_of_datetime_is_written_by_its_own_isoformat() -> None:
    class Stamp(dt.datetime):
        def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
            return "1999-01-01 00:00:00.000000+00:00"

    value = Stamp(2026, 5, 1, 14, 30, tzinfo=dt.UTC)
    assert hot_path(sqlite.dialect()).datetime_to_db(value) == "1999-01-01 00:00:00.000000"


def test_a_page_bound_at_once_is_stored_as_bound_one_by_one(store: StateStore) -> None:
    """`bind_all` writes what `bind` writes for each of its rows, in order, whatever their
    shapes (a snapshot, a remote time, both, neither; a later bind of a key wins)."""
    snapshot = encode_snapshot({"name": "Acme", "n": 1})
    later = dt.datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=dt.UTC)
    rows = [
        ("k1", "a1", snapshot, later),
        ("k2", "a2", snapshot, None),
        ("k3", "a3", None, later),
        ("k4", "a4", None, None),
        ("k5", "a5", snapshot, MOMENT),
        ("k1", "a6", encode_snapshot({"name": "Again"}), later),
    ]
    with store.transaction() as tx:
        tx.bind_all(Entity.CUSTOMER, "one", rows)
    with store.transaction() as tx:
        for key, external_id, encoded, remote in rows:
            tx.bind(
                Entity.CUSTOMER,
                key,
                "each",
                external_id,
                snapshot=encoded,
                remote_updated_at=remote,
            )
    keys = [f"k{n}" for n in range(1, 6)]
    at_once = store.bindings_for("customer", "one", keys)
    one_by_one = store.bindings_for("customer", "each", keys)
    assert {k: b._replace(system="") for k, b in at_once.items()} == {
        k: b._replace(system="") for k, b in one_by_one.items()
    }
    assert at_once["k1"].external_id == "a6" and at_once["k4"].snapshot is None
    assert at_once["k5"].remote_updated_at == MOMENT
