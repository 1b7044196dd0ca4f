"""The deletes stage: records deleted in the source, per the entity's policy."""

from __future__ import annotations

import pytest

from connector.config import DeletePolicy
from connector.engine.resolver import BindingResolver
from connector.engine.stages.deletes import Deleter
from connector.engine.summary import EntityCounts
from connector.mapping.contract import DELETED_REFERENCE
from connector.model import Entity
from connector.testing.identity import IdentityMapper
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.engine.stages.conftest import native


def setup(store, route, policy, *, dry_run=False):  # type: ignore[no-untyped-def]
    """e1 is bound in both systems (crm-side record `crm_id`), e2 only in the source, e3 nowhere."""
    options = route.entities[Entity.CUSTOMER].model_copy(update={"deletes": policy})
    route = route.model_copy(update={"entities": {**route.entities, Entity.CUSTOMER: options}})
    target = MemoryAdapter("crm", MemorySettings())
    crm_id = target.put(Entity.CUSTOMER, {"number": "N1", "status": "active"})
    with store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.source, "e1")
        tx.bind(Entity.CUSTOMER, "k1", route.target, crm_id)
        tx.bind(Entity.CUSTOMER, "k2", route.source, "e2")
    refs = BindingResolver(store, route.source), BindingResolver(store, route.target)
    stage = Deleter(
        store,
        route,
        target,
        *refs,
        lambda system, entity: IdentityMapper(entity),
        lambda: None,
        dry_run=dry_run,
    )
    gone = [native(f"e{n}", deleted=True) for n in (1, 2, 3)]
    return stage, target, crm_id, refs, gone


async def test_propagate_deletes_the_target_record_and_unbinds_both_sides(sqlite_store, route):
    stage, target, _, (source_refs, target_refs), gone = setup(
        sqlite_store, route, DeletePolicy.PROPAGATE
    )
    counts = EntityCounts()
    await stage.apply(Entity.CUSTOMER, gone, counts)
    assert (counts.deleted, counts.unchanged) == (1, 2)
    assert [row.id for row in target.records(Entity.CUSTOMER)] == []
    assert sqlite_store.bindings_for(Entity.CUSTOMER, route.target, ["k1"]) == {}
    assert sqlite_store.keys_for(Entity.CUSTOMER, route.source, ["e1"]) == {}
    # References to them are written empty from now on, on both sides.
    assert source_refs.canonical_key(Entity.CUSTOMER, "e1") == DELETED_REFERENCE
    assert target_refs.external_id(Entity.CUSTOMER, "k1") == DELETED_REFERENCE


async def test_deactivate_writes_the_targets_inactive_status_and_keeps_the_bindings(
    sqlite_store, route
):
    stage, target, crm_id, _, gone = setup(sqlite_store, route, DeletePolicy.DEACTIVATE)
    counts = EntityCounts()
    await stage.apply(Entity.CUSTOMER, gone, counts)
    assert counts.deleted == 1
    (row,) = target.records(Entity.CUSTOMER)
    assert (row.id, row.fields["status"]) == (crm_id, "inactive")
    assert list(sqlite_store.bindings_for(Entity.CUSTOMER, route.target, ["k1"])) == ["k1"]


@pytest.mark.parametrize("policy", [DeletePolicy.IGNORE, DeletePolicy.PROPAGATE])
async def test_ignore_and_a_dry_run_leave_the_target_alone(sqlite_store, route, policy):
    dry_run = policy is not DeletePolicy.IGNORE
    stage, target, _, (source_refs, _), gone = setup(sqlite_store, route, policy, dry_run=dry_run)
    counts = EntityCounts()
    await stage.apply(Entity.CUSTOMER, gone, counts)
    assert target.write_calls == 0 and len(target.records(Entity.CUSTOMER)) == 1
    assert (counts.deleted, counts.unchanged) == ((0, 3) if not dry_run else (1, 2))
    assert source_refs.canonical_key(Entity.CUSTOMER, "e2") == DELETED_REFERENCE
