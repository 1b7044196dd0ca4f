"""The references stage: which parents a page needs, and syncing the missing ones first."""

from __future__ import annotations

from collections.abc import Sequence

from connector.adapter import NativeRecord
from connector.engine.resolver import BindingResolver
from connector.engine.stages.references import (
    MAX_PARENT_DEPTH,
    Parents,
    source_parents,
    target_parents,
)
from connector.model import Contact, Entity, Sale
from connector.testing.identity import IdentityMapper
from tests.engine.stages.conftest import native


def test_source_parents_are_the_referenced_ids_per_entity():
    records = [
        native("s1", customer="c1", contact="p1"),
        native("s2", customer="c2"),
        native("s3", customer="c1", contact=""),
    ]
    assert source_parents(IdentityMapper(Entity.SALE), records) == {
        Entity.CUSTOMER: {"c1", "c2"},
        Entity.CONTACT: {"p1"},
    }


def test_target_parents_are_the_referenced_keys_per_entity():
    records = [Contact(customer="k1"), Contact(customer=None), Sale(customer="k2", contact="k3")]
    assert target_parents(records) == {Entity.CUSTOMER: {"k1", "k2"}, Entity.CONTACT: {"k3"}}


class Source:
    def __init__(self) -> None:
        self.asked: list[tuple[Entity, list[str]]] = []

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        self.asked.append((entity, sorted(ids)))
        return [native(i) for i in ids]


def parents_for(store, route, handled=frozenset()):  # type: ignore[no-untyped-def]
    synced: list[tuple[Entity, list[str], int]] = []

    async def sync_page(entity: Entity, records: list[NativeRecord], depth: int) -> None:
        synced.append((entity, sorted(r.id for r in records), depth))
        with store.transaction() as tx:  # what syncing them would leave behind
            for record in records:
                tx.bind(entity, f"key-{record.id}", route.source, record.id)
                tx.bind(entity, f"key-{record.id}", route.target, f"crm-{record.id}")

    source = Source()
    refs = BindingResolver(store, route.source), BindingResolver(store, route.target)
    parents = Parents(route, source, *refs, handled, sync_page)  # type: ignore[arg-type]
    return parents, source, synced, refs


async def test_unbound_source_parents_not_handled_yet_are_synced_first_one_level_down(
    sqlite_store, route
):
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "key-c1", route.source, "c1")
    handled = {(Entity.CUSTOMER, "c3")}  # failed earlier in this run: not tried again
    parents, source, synced, (source_refs, _) = parents_for(sqlite_store, route, handled)
    contacts = [
        native("p1", customer="c1"),
        native("p2", customer="c2"),
        native("p3", customer="c3"),
    ]

    await parents.resolve_source(IdentityMapper(Entity.CONTACT), contacts, 1)

    assert source.asked == [(Entity.CUSTOMER, ["c2"])]
    assert synced == [(Entity.CUSTOMER, ["c2"], 2)]
    # Learned after the sync, so the children map.
    assert source_refs.canonical_key(Entity.CUSTOMER, "c2") == "key-c2"
    assert source_refs.canonical_key(Entity.CUSTOMER, "c3") is None


async def test_a_chain_of_parents_stops_at_the_maximum_depth(sqlite_store, route):
    parents, source, synced, _ = parents_for(sqlite_store, route)
    contacts = [native("p1", customer="c1")]
    await parents.resolve_source(IdentityMapper(Entity.CONTACT), contacts, MAX_PARENT_DEPTH)
    await parents.resolve_target([Contact(customer="key-c1")], MAX_PARENT_DEPTH)
    assert source.asked == [] and synced == []


async def test_a_parent_with_a_key_but_no_target_record_is_synced_to_the_target_first(
    sqlite_store, route
):
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "key-c1", route.source, "c1")
        tx.bind(Entity.CUSTOMER, "key-c1", route.target, "crm-c1")
        tx.bind(Entity.CUSTOMER, "key-c2", route.source, "c2")  # never reached the target
    parents, source, synced, (_, target_refs) = parents_for(sqlite_store, route)

    await parents.resolve_target([Contact(customer="key-c1"), Contact(customer="key-c2")], 0)

    assert source.asked == [(Entity.CUSTOMER, ["c2"])]
    assert synced == [(Entity.CUSTOMER, ["c2"], 1)]
    assert target_refs.external_id(Entity.CUSTOMER, "key-c2") == "crm-c2"
