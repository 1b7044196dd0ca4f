"""Row ids of bindings: on SQLite a key's bindings get neighbouring ones, and never a taken one.

`connector.state.hotpath._next_to_partner` picks the row id of a new binding on SQLite, so that
an update of a record dirties and reads one table page instead of two. Each choice must be free
whatever the table holds: a row id that is taken would make the INSERT fail, which the store
would report as a conflict that is not one. PostgreSQL and MariaDB keep their sequences; the
same binds must work there too.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from connector.state import schema
from connector.state.store import StateStore


def row_ids(store: StateStore) -> dict[tuple[str, str], int]:
    """(key, system) → row id of every binding."""
    table = schema.bindings
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.key, table.c.system, table.c.id)).all()
    return {(key, system): row_id for key, system, row_id in rows}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_keys_two_bindings_get_neighbouring_row_ids(store: StateStore) -> None:
    """A first sync's pattern: a page of records bound in the source, then (after the write)
    in the target, then the next page; each key's two rows end up next to each other."""
    for page in range(3):
        keys = [f"p{page}k{n}" for n in range(20)]
        with store.transaction() as tx:
            for key in keys:
                tx.bind("customer", key, "erp", f"e-{key}", snapshot={"key": key})
        with store.transaction() as tx:
            for key in keys:
                tx.bind("customer", key, "crm", f"c-{key}", snapshot={"key": key})
    ids = row_ids(store)
    assert len(set(ids.values())) == 120
    for page in range(3):
        for n in range(20):
            key = f"p{page}k{n}"
            assert abs(ids[key, "erp"] - ids[key, "crm"]) == 1, key
    with store.transaction() as tx:  # an update keeps its row id
        tx.bind("customer", "p0k0", "crm", "c-p0k0", snapshot={"key": "again"})
        tx.bind("customer", "p0k1", "crm", "moved", snapshot={"key": "moved"})
    assert row_ids(store) == ids


def test_bindings_in_three_systems_unbound_and_bound_again_never_collide(
    store: StateStore,
) -> None:
    """Keys bound in a third system (whose neighbour is taken), unbound, moved and bound
    again, in random orders: every bind lands, and the store holds what was bound."""
    chance = random.Random(16)
    systems = ("erp", "crm", "shop")
    held: dict[tuple[str, str], str] = {}
    for round_ in range(12):
        with store.transaction() as tx:
            for _ in range(15):
                key, system = f"k{chance.randrange(12)}", chance.choice(systems)
                if chance.random() < 0.2 and (key, system) in held:
                    tx.unbind("customer", key, system)
                    del held[key, system]
                    continue
                # A record id of its own each round: never one another key holds.
                external_id = f"{system}-{key}-{round_}"
                tx.bind("customer", key, system, external_id, snapshot={"r": round_})
                held[key, system] = external_id
    for system in systems:
        keys = [key for key, bound_in in held if bound_in == system]
        found = store.bindings_for("customer", system, keys)
        assert {key: b.external_id for key, b in found.items()} == {
            key: held[key, system] for key in keys
        }
    assert store.count_bindings() == len(held)
    if store.engine.dialect.name == "sqlite":  # (the first two systems of a key side by side)
        ids = row_ids(store)
        assert len(set(ids.values())) == len(ids)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_freed_neighbour_is_taken_again_and_a_taken_one_is_not(store: StateStore) -> None:
    """The cases of the choice, row id by row id: the first binding of an empty table takes
    the database's own (1), its partner the one beside it (0); a third system's binding the
    even one after the largest; a key's first binding the next even one, its partner the odd
    one after; a neighbour freed by an unbind is taken again."""
    with store.transaction() as tx:
        tx.bind("customer", "a", "erp", "a1")
    with store.transaction() as tx:
        tx.bind("customer", "a", "crm", "a2")
        tx.bind("customer", "a", "shop", "a3")  # both neighbours taken
        tx.bind("customer", "b", "erp", "b1")
        tx.bind("customer", "b", "crm", "b2")
    assert row_ids(store) == {
        ("a", "erp"): 1,
        ("a", "crm"): 0,
        ("a", "shop"): 2,
        ("b", "erp"): 4,
        ("b", "crm"): 5,
    }
    with store.transaction() as tx:
        tx.unbind("customer", "b", "erp")
        tx.bind("customer", "c", "erp", "c1")
        tx.bind("customer", "b", "erp", "b1-again")
    ids = row_ids(store)
    assert ids["c", "erp"] == 6 and ids["b", "erp"] == 4
