"""A binding is unique in both directions on every store, MariaDB's ON DUPLICATE KEY UPDATE too.

MariaDB's upsert updates the row of whichever unique key the new row collides with; `bindings`
has two, so a bind that collides on (entity, system, external id) must fail there as it does on
SQLite and PostgreSQL, and never update another key's row (`connector.state.upserts`). Each
test runs on the three stores; the snapshots checked after a refusal are what would have
changed had the other key's row been updated in place.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from connector.state import schema
from connector.state.store import StateStore, StoreConflict
from connector.state.upserts import _other_unique_keys

AT = dt.datetime(2026, 4, 1, 9, 30, 0, 250_000, tzinfo=dt.UTC)
# SQLite names the columns, PostgreSQL and MariaDB the constraint.
REFUSED = pytest.raises(StoreConflict, match=r"external_id|uq_bindings_external")


def _snapshot(store: StateStore, key: str) -> dict[str, object] | None:
    return store.bindings_for("customer", "crm", [key])[key].snapshot


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"snapshot": {"name": "second"}},
        {"remote_updated_at": AT},
        {"snapshot": {"name": "second"}, "remote_updated_at": AT},
    ],
    ids=["ids", "snapshot", "remote", "both"],
)
def test_a_second_key_for_a_bound_external_id_is_refused_in_every_shape(
    store: StateStore, extra: dict[str, object]
) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "first"})
    with REFUSED, store.transaction() as tx:
        tx.bind("customer", "k2", "crm", "100", **extra)  # type: ignore[arg-type]
    assert store.keys_for("customer", "crm", ["100"]) == {"100": "k1"}
    binding = store.bindings_for("customer", "crm", ["k1"])["k1"]
    assert binding.snapshot == {"name": "first"} and binding.remote_updated_at is None
    assert store.bindings_for("customer", "crm", ["k2"]) == {}


def test_moving_a_key_onto_another_keys_external_id_is_refused(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
        tx.bind("customer", "k3", "crm", "300", snapshot={"name": "three"})
    with REFUSED, store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "300", snapshot={"name": "moved"})
    assert store.keys_for("customer", "crm", ["100", "300"]) == {"100": "k1", "300": "k3"}
    assert _snapshot(store, "k1") == {"name": "one"}
    assert _snapshot(store, "k3") == {"name": "three"}


def test_a_key_may_move_to_a_free_external_id(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
    with store.transaction() as tx:  # the CRM record was recreated under a new id
        tx.bind("customer", "k1", "crm", "101", snapshot={"name": "again"})
    assert store.keys_for("customer", "crm", ["100", "101"]) == {"101": "k1"}
    assert _snapshot(store, "k1") == {"name": "again"}
    assert store.count_bindings("customer", "crm") == 1


def test_one_refused_bind_refuses_its_whole_batch(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
    with REFUSED, store.transaction() as tx:
        for n in range(2, 50):  # one executemany: the refusal is in the middle of it
            tx.bind("customer", f"k{n}", "crm", str(100 + n), snapshot={"n": n})
        tx.bind("customer", "k99", "crm", "100", snapshot={"name": "thief"})
        for n in range(50, 60):
            tx.bind("customer", f"k{n}", "crm", str(100 + n), snapshot={"n": n})
        tx.set_cursor("r", "customer", AT)
    assert store.count_bindings() == 1
    assert store.cursor("r", "customer") is None
    assert _snapshot(store, "k1") == {"name": "one"}


def test_two_new_keys_for_one_new_external_id_in_one_batch_are_refused(
    store: StateStore,
) -> None:
    with REFUSED, store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
        tx.bind("customer", "k2", "crm", "100", snapshot={"name": "two"})
    assert store.count_bindings() == 0


def test_the_same_external_id_in_another_system_or_entity_is_no_conflict(
    store: StateStore,
) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100")
        tx.bind("customer", "k2", "erp", "100")
        tx.bind("contact", "k3", "crm", "100")
        tx.bind("customer", "k1", "erp", "200")  # one key, bound in two systems
    assert store.count_bindings() == 4
    assert store.keys_for("customer", "erp", ["100", "200"]) == {"100": "k2", "200": "k1"}


def test_ids_differing_in_case_or_trailing_spaces_are_different_ids(store: StateStore) -> None:
    """PostgreSQL and SQLite compare text byte for byte; MariaDB's default collation ignores
    case and pads with spaces, so its tables use a binary collation that does not pad."""
    ids = ["ab", "AB", "ab ", "äb", "Äb", "a\U0001f600"]
    with store.transaction() as tx:
        for n, external_id in enumerate(ids):
            tx.bind("customer", f"k{n}", "crm", external_id)
    assert store.count_bindings() == len(ids)
    found = store.keys_for("customer", "crm", [*ids, "Ab", "ab  "])
    assert found == {external_id: f"k{n}" for n, external_id in enumerate(ids)}
    assert store.bindings_for("customer", "crm", ["K0", "k0"]).keys() == {"k0"}


def test_only_the_bindings_upsert_needs_the_guard() -> None:
    """Which tables have a unique key besides the one an upsert names (MariaDB's upsert would
    update a row found through it); an auto-increment id the INSERT leaves out is none."""
    assert _other_unique_keys(schema.bindings, ("entity", "key", "system")) == (
        "uq_bindings_external",
    )
    assert _other_unique_keys(schema.cursors, ("route", "entity")) == ()
    assert _other_unique_keys(schema.failures, ("route", "entity", "external_id")) == ()
    assert _other_unique_keys(schema.row_checksums, ("system", "entity", "row_key")) == ()


def test_an_id_longer_than_any_stored_one_matches_none(store: StateStore) -> None:
    """MariaDB's JSON_TABLE cuts a string to its column's length instead of failing."""
    longest = "x" * 255
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", longest)
    assert store.keys_for("customer", "crm", [longest + "y", longest + "yz"]) == {}
    assert store.keys_for("customer", "crm", [longest]) == {longest: "k1"}


@pytest.mark.parametrize(
    "extra",
    [
        {"snapshot": {"name": "moved"}},
        {"remote_updated_at": AT},
        {"snapshot": {"name": "moved"}, "remote_updated_at": AT},
    ],
    ids=["snapshot", "remote", "both"],
)
@pytest.mark.parametrize("second", ["new", "bound"])
def test_an_external_id_freed_earlier_in_a_transaction_may_be_taken(
    store: StateStore, extra: dict[str, object], second: str
) -> None:
    """Binds in one transaction behave as one statement each, in order: k1 moves off "100",
    then k2 takes it. (The conditional first pass of SQLite and PostgreSQL, which leaves a key
    that moves where it was, used to refuse this.)"""
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
        if second == "bound":
            tx.bind("customer", "k2", "crm", "200", snapshot={"name": "two"})
    with store.transaction() as tx:
        for n in range(3, 20):  # a page around it: these keep nothing and move nothing
            tx.bind("customer", f"k{n}", "crm", str(300 + n), **extra)  # type: ignore[arg-type]
        tx.bind("customer", "k1", "crm", "101", **extra)  # type: ignore[arg-type]
        tx.bind("customer", "k2", "crm", "100", **extra)  # type: ignore[arg-type]
    found = store.keys_for("customer", "crm", ["100", "101", "200"])
    assert found == {"100": "k2", "101": "k1"}
    expected = extra.get("snapshot", {"name": "one"})
    assert _snapshot(store, "k1") == expected
    assert store.bindings_for("customer", "crm", ["k2"])["k2"].remote_updated_at == (
        extra.get("remote_updated_at")
    )
    assert store.count_bindings("customer", "crm") == 19


def test_a_swap_of_external_ids_through_a_free_one_in_one_transaction(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
        tx.bind("customer", "k2", "crm", "200", snapshot={"name": "two"})
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "999", snapshot={"name": "one"})
        tx.bind("customer", "k2", "crm", "100", snapshot={"name": "two"})
        tx.bind("customer", "k1", "crm", "200", snapshot={"name": "one"})
    assert store.keys_for("customer", "crm", ["100", "200", "999"]) == {"100": "k2", "200": "k1"}


def test_a_refused_bind_after_a_move_still_refuses_the_whole_transaction(
    store: StateStore,
) -> None:
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
        tx.bind("customer", "k3", "crm", "300", snapshot={"name": "three"})
    with REFUSED, store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "101", snapshot={"name": "moved"})
        tx.bind("customer", "k2", "crm", "100", snapshot={"name": "two"})
        tx.bind("customer", "k4", "crm", "300", snapshot={"name": "thief"})
    assert store.keys_for("customer", "crm", ["100", "101", "300"]) == {"100": "k1", "300": "k3"}
    assert _snapshot(store, "k1") == {"name": "one"}
    assert store.count_bindings() == 2


def test_the_first_pass_savepoint_commits_nothing_of_its_own(store: StateStore) -> None:
    """The binds written first in a transaction that then fails are rolled back with it. (On
    SQLite a SAVEPOINT before any write would start a transaction of its own, committed by its
    RELEASE: `connector.state.base.savepoint` begins the store's first.)"""
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
        tx.flush()
        raise RuntimeError("after the binds")
    assert store.count_bindings() == 0


def test_a_key_bound_twice_in_a_run_ends_as_its_binds_one_by_one(store: StateStore) -> None:
    """k1 moves to "200" and back to "100", then k9 takes "200": fine one bind at a time. The
    first pass leaves the move alone, keeps the move back and inserts k9 with "200"; a second
    pass over that would find "200" taken when k1 moves there. So a run that binds a key twice
    keeps the savepoint that undoes the first pass on SQLite too (`_needs_savepoint`)."""
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "one"})
    with store.transaction() as tx:
        tx.bind("customer", "k1", "crm", "200", snapshot={"name": "away"})
        tx.bind("customer", "k1", "crm", "100", snapshot={"name": "back"})
        tx.bind("customer", "k9", "crm", "200", snapshot={"name": "nine"})
    assert store.keys_for("customer", "crm", ["100", "200"]) == {"100": "k1", "200": "k9"}
    assert _snapshot(store, "k1") == {"name": "back"}
    assert _snapshot(store, "k9") == {"name": "nine"}


def test_a_page_of_updates_is_flushed_without_a_savepoint_on_sqlite(store: StateStore) -> None:
    """A run of binds with no key and no id twice (the engine's: one a record) needs no
    savepoint on SQLite, whose statement journal would copy every page the run changes
    (`_needs_savepoint`); PostgreSQL keeps its one (a failed statement aborts its transaction),
    MariaDB has no first pass. Each row still ends as bound."""
    keys = [f"k{n}" for n in range(20)]
    with store.transaction() as tx:
        for key in keys:
            tx.bind("customer", key, "crm", f"c-{key}", snapshot={"name": key})
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        with store.transaction() as tx:
            for key in keys:
                tx.bind("customer", key, "crm", f"c-{key}", snapshot={"name": key + "!"})
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    savepoints = [s for s in statements if s.upper().startswith("SAVEPOINT")]
    expected = {"sqlite": 0, "postgresql": 1}.get(store.engine.dialect.name, 0)
    assert len(savepoints) == expected
    bound = store.bindings_for("customer", "crm", keys)
    assert {key: b.snapshot for key, b in bound.items()} == {k: {"name": k + "!"} for k in keys}
