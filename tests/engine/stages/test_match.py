"""The match stage: binding first, then the target's natural keys, then a new key."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from connector.adapter import NativeRecord
from connector.engine.resolver import BindingResolver
from connector.engine.stages.match import Matcher
from connector.errors import TransientError
from connector.model import Customer, Entity
from connector.testing.identity import IdentityMapper
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.helpers import TransactionLog
from tests.engine.stages.conftest import native


class Target(MemoryAdapter):
    def __init__(self) -> None:
        super().__init__("crm", MemorySettings())
        self.lookups: list[tuple[str, list[str]]] = []

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        self.lookups.append((native_field, list(values)))
        return await super().lookup(entity, native_field, values)


def matcher(store, route, target, *, dry_run=False):  # type: ignore[no-untyped-def]
    refs = BindingResolver(store, route.source), BindingResolver(store, route.target)
    for resolver in refs:  # what the wiring does before matching
        resolver.load_external_ids(Entity.CUSTOMER, ["e1", "e2", "e3", "e4"])
    return Matcher(store, route, target, *refs, dry_run=dry_run), refs


def page():  # type: ignore[no-untyped-def]
    return [(native(f"e{n}"), Customer(number=f"N{n}")) for n in range(1, 5)]


async def test_bound_records_keep_their_key_and_the_others_are_matched_or_new(sqlite_store, route):
    target = Target()
    n2 = target.put(Entity.CUSTOMER, {"number": "N2"})
    n3 = target.put(Entity.CUSTOMER, {"number": "N3"})
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.source, "e1")
        tx.bind(Entity.CUSTOMER, "k3", route.target, n3)  # bound, from another source record
    stage, (_, target_refs) = matcher(sqlite_store, route, target)

    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))

    keys = {native.id: key for native, _, key in keyed.records}
    assert keyed.failed == []
    assert keys["e1"] == "k1" and keys["e3"] == "k3"
    assert len({keys["e2"], keys["e4"], "k1", "k3"}) == 4  # new keys, each its own
    assert all(record.key == keys[n.id] for n, record, _ in keyed.records)
    # All but the one bound in the source: matched (k3, e2's) or new (e4's).
    assert keyed.unbound == {keys["e2"], keys["e3"], keys["e4"]}
    assert keyed.fresh == {keys["e4"]}
    # One lookup for the unbound records; the match is bound at once, before any write.
    assert target.lookups == [("number", ["N2", "N3", "N4"])]
    assert sqlite_store.keys_for(Entity.CUSTOMER, route.target, [n2]) == {n2: keys["e2"]}
    assert target_refs.external_id(Entity.CUSTOMER, keys["e2"]) == n2


async def test_a_dry_run_matches_without_binding(sqlite_store, route):
    target = Target()
    n2 = target.put(Entity.CUSTOMER, {"number": "N2"})
    stage, _ = matcher(sqlite_store, route, target, dry_run=True)
    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))
    assert len(keyed.records) == 4
    assert sqlite_store.keys_for(Entity.CUSTOMER, route.target, [n2]) == {}


async def test_no_lookup_where_the_targets_upsert_matches_on_the_field_itself(sqlite_store, route):
    target = Target()
    target.capabilities = dataclasses.replace(
        target.capabilities, upsert_matches={Entity.CUSTOMER: "number"}
    )
    stage, _ = matcher(sqlite_store, route, target)
    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))
    assert target.lookups == [] and len(keyed.records) == 4


async def test_when_the_target_cannot_be_asked_only_the_unbound_records_wait(sqlite_store, route):
    target = Target()
    target.fail_next_calls = 1
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.source, "e1")
    stage, _ = matcher(sqlite_store, route, target)

    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))

    assert [(n.id, key) for n, _, key in keyed.records] == [("e1", "k1")]
    assert [(f.native.id, f.stage, f.retryable) for f in keyed.failed] == [
        ("e2", "match", True),
        ("e3", "match", True),
        ("e4", "match", True),
    ]
    assert all(isinstance(f.error, TransientError) for f in keyed.failed)


async def test_a_pages_matches_are_bound_in_one_transaction_before_any_write(
    sqlite_store, route, monkeypatch
):
    target = Target()
    found = [target.put(Entity.CUSTOMER, {"number": f"N{n}"}) for n in range(1, 4)]
    stage, _ = matcher(sqlite_store, route, target)
    transactions = TransactionLog.watch(monkeypatch)

    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))

    keys = {native.id: key for native, _, key in keyed.records}
    assert transactions.binding(route.target) == [3]
    bound = sqlite_store.keys_for(Entity.CUSTOMER, route.target, found)
    assert bound == {found[n - 1]: keys[f"e{n}"] for n in range(1, 4)}
    assert target.write_calls == 0


async def test_two_records_matching_one_target_record_on_two_paths_share_its_binding(
    sqlite_store, route, monkeypatch
):
    """Matched on the number for one record and on the email for the other (a route matching
    on both): the page binds the target record once, as binding each match at once did."""
    route.entities[Entity.CUSTOMER].match = ["number", "email"]
    target = Target()
    found = target.put(Entity.CUSTOMER, {"number": "N1", "email": "a@example.com"})
    records = [
        (native("e1"), Customer(number="N1")),
        (native("e2"), Customer(number="N9", email="a@example.com")),
    ]
    stage, _ = matcher(sqlite_store, route, target)

    keyed = await stage.assign_keys(Entity.CUSTOMER, records, IdentityMapper(Entity.CUSTOMER))

    keys = {native.id: key for native, _, key in keyed.records}
    assert keys["e1"] == keys["e2"]
    assert sqlite_store.keys_for(Entity.CUSTOMER, route.target, [found]) == {found: keys["e1"]}


async def test_only_keys_made_for_records_found_nowhere_are_fresh(sqlite_store, route):
    """Fresh keys are bound nowhere yet: the plan stage asks the store about the others only."""
    target = Target()
    target.put(Entity.CUSTOMER, {"number": "N2"})
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.source, "e1")
    stage, _ = matcher(sqlite_store, route, target)

    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))

    keys = {native.id: key for native, _, key in keyed.records}
    assert keyed.fresh == {keys["e3"], keys["e4"]}  # e1 was bound, e2 matched (and bound)
    assert keyed.known_keys == [keys["e1"], keys["e2"]]
    assert sqlite_store.bindings_for(Entity.CUSTOMER, route.target, keyed.fresh) == {}


async def test_with_the_source_side_the_keys_come_with_the_source_bindings(sqlite_store, route):
    """For a route whose plan compares with the source's snapshots, the bound records'
    bindings are read with their keys (`Keyed.source`), and the target's of the same keys with
    them; a matched record has none there."""
    target = Target()
    target.put(Entity.CUSTOMER, {"number": "N2"})
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.source, "e1", snapshot={"number": "N1"})
    refs = BindingResolver(sqlite_store, route.source), BindingResolver(sqlite_store, route.target)
    stage = Matcher(sqlite_store, route, target, *refs, dry_run=False, with_source=True)

    keyed = await stage.assign_keys(Entity.CUSTOMER, page(), IdentityMapper(Entity.CUSTOMER))

    keys = {native.id: key for native, _, key in keyed.records}
    assert keys["e1"] == "k1"
    assert keyed.source is not None and keyed.source.keys() == {"k1"}
    assert keyed.source["k1"].snapshot == {"number": "N1"}
    # The target's bindings of the same keys come with them: k1 is not bound there yet.
    assert keyed.source.other == {}
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.target, "t1", snapshot={"number": "N1"})
    again = await stage.assign_keys(Entity.CUSTOMER, page()[:1], IdentityMapper(Entity.CUSTOMER))
    assert again.source is not None and again.source.other.keys() == {"k1"}
    assert again.source.other["k1"].external_id == "t1"
    assert keys["e2"] in keyed.matched
    # Without it, nothing is read but the keys.
    plain = Matcher(sqlite_store, route, target, *refs, dry_run=False)
    assert (
        await plain.assign_keys(Entity.CUSTOMER, page()[:1], IdentityMapper(Entity.CUSTOMER))
    ).source is None
