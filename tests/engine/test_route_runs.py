"""The engine's guarantees, end to end between two in-memory systems, on both stores."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest

from connector.engine.resolver import BindingResolver
from connector.engine.route_run import RunOptions
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import StateStore
from connector.testing.memory import MemoryAdapter, MemorySettings, RejectRule
from tests.engine.helpers import TWO_WAY, config_for


def memory(name: str, **settings: object) -> MemoryAdapter:
    return MemoryAdapter(name, MemorySettings(batch_size=10, page_size=25, **settings))


def seed_erp(erp: MemoryAdapter, customers: int = 30) -> None:
    for n in range(customers):
        customer = erp.put(
            Entity.CUSTOMER,
            {"number": f"C{n:03d}", "name": f"Customer {n}", "credit_limit": "1000.00"},
        )
        erp.put(
            Entity.CONTACT, {"email": f"p{n}@example.com", "last_name": "P", "customer": customer}
        )


@pytest.fixture
def systems() -> tuple[MemoryAdapter, MemoryAdapter]:
    erp, crm = memory("erp"), memory("crm")
    seed_erp(erp)
    return erp, crm


async def run(
    tmp_path: Path, store: StateStore, erp: MemoryAdapter, crm: MemoryAdapter, route: str
):
    config = config_for(tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        return await SyncService(runtime).run_route(route)


async def test_first_run_creates_everything_and_second_run_writes_nothing(tmp_path, store, systems):
    erp, crm = systems
    first = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert first.counts[Entity.CUSTOMER].created == 30
    assert first.counts[Entity.CONTACT].created == 30
    assert len(crm.records(Entity.CUSTOMER)) == 30
    calls_before = crm.write_calls

    second = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert crm.write_calls == calls_before
    assert second.writes == 0
    assert second.counts[Entity.CUSTOMER].unchanged == 30


async def test_contacts_reference_their_customer_in_the_target(tmp_path, store, systems):
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    crm_customers = {row.id: row.fields["number"] for row in crm.records(Entity.CUSTOMER)}
    erp_customers = {row.id: row.fields["number"] for row in erp.records(Entity.CUSTOMER)}
    for erp_contact in erp.records(Entity.CONTACT):
        crm_contact = next(
            row
            for row in crm.records(Entity.CONTACT)
            if row.fields["email"] == erp_contact.fields["email"]
        )
        assert (
            crm_customers[crm_contact.fields["customer"]]
            == erp_customers[erp_contact.fields["customer"]]
        )


async def test_two_way_echo_is_recognised(tmp_path, store, systems):
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    erp_calls = erp.write_calls
    back = await run(tmp_path, store, erp, crm, "crm-to-erp")
    assert back.writes == 0, "our own writes came back as changes"
    assert erp.write_calls == erp_calls
    again = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert again.writes == 0


async def test_a_change_in_the_crm_flows_back_and_only_changed_fields_are_written(
    tmp_path, store, systems
):
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    row = crm.records(Entity.CUSTOMER)[0]
    crm.put(Entity.CUSTOMER, {"industry": "Machinery"}, record_id=row.id)
    back = await run(tmp_path, store, erp, crm, "crm-to-erp")
    assert back.counts[Entity.CUSTOMER].updated == 1
    erp_row = next(
        r for r in erp.records(Entity.CUSTOMER) if r.fields["number"] == row.fields["number"]
    )
    assert erp_row.fields["industry"] == "Machinery"
    forth = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert forth.writes == 0


async def test_existing_target_record_is_bound_not_duplicated(tmp_path, store, systems):
    erp, crm = systems
    existing = crm.put(Entity.CUSTOMER, {"number": "C005", "name": "Already here"})
    summary = await run(tmp_path, store, erp, crm, "erp-to-crm")
    numbers = [row.fields["number"] for row in crm.records(Entity.CUSTOMER)]
    assert numbers.count("C005") == 1
    assert len(numbers) == 30
    assert summary.counts[Entity.CUSTOMER].created == 29
    assert crm.data.entities[Entity.CUSTOMER][existing].fields["name"] == "Customer 5"


async def test_rejected_record_fails_alone_and_retry_succeeds_after_the_fix(
    tmp_path, store, systems
):
    erp, _ = systems
    crm = memory(
        "crm", reject=[{"field": "name", "value": "Customer 7", "message": "name is blocked"}]
    )
    summary = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert summary.counts[Entity.CUSTOMER].failed == 1
    assert summary.counts[Entity.CUSTOMER].created == 29
    [failure] = [f for f in store.failures() if f.entity == "customer"]
    assert failure.message == "name is blocked" and failure.code == "REJECTED"
    assert failure.entity == "customer"

    crm.settings.reject.clear()
    config = config_for(tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        replays = await SyncService(runtime).retry_failures(store.failures())
    assert [
        r.counts.get(Entity.CUSTOMER) and r.counts[Entity.CUSTOMER].created for r in replays
    ] == [1, None]
    assert replays[1].counts[Entity.CONTACT].created == 1
    assert store.failures() == []
    assert len(crm.records(Entity.CUSTOMER)) == 30


async def test_an_update_the_target_refused_is_written_when_retried(tmp_path, store, systems):
    """On a two-way route the source's binding keeps what was last synced with the source:
    a refused write must not count there as synced, or its retry would find no change (and
    resolve the failure writing nothing)."""
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    row = next(r for r in erp.records(Entity.CUSTOMER) if r.fields["number"] == "C007")
    erp.put(Entity.CUSTOMER, {"name": "Renamed 7"}, record_id=row.id)
    crm.settings.reject.append(RejectRule(field="name", value="Renamed 7", message="blocked"))
    summary = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert summary.counts[Entity.CUSTOMER].failed == 1

    crm.settings.reject.clear()
    config = config_for(tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        (replay,) = await SyncService(runtime).retry_failures(store.failures())
    assert replay.counts[Entity.CUSTOMER].updated == 1
    names = [r.fields["name"] for r in crm.records(Entity.CUSTOMER) if r.fields["number"] == "C007"]
    assert names == ["Renamed 7"]
    assert store.failures() == []


async def test_contact_whose_customer_failed_waits_in_failures(tmp_path, store, systems):
    erp, _ = systems
    crm = memory("crm", reject=[{"field": "name", "value": "Customer 3", "message": "no"}])
    summary = await run(tmp_path, store, erp, crm, "erp-to-crm")
    contact_failures = [f for f in store.failures() if f.entity == "contact"]
    assert len(contact_failures) == 1
    assert contact_failures[0].retryable
    assert contact_failures[0].code == "UNRESOLVED_REFERENCE"
    assert summary.counts[Entity.CONTACT].created == 29
    assert all(row.fields.get("customer") for row in crm.records(Entity.CONTACT))


async def test_change_during_a_run_is_picked_up_by_the_next(tmp_path, store, systems):
    erp, crm = systems
    config = config_for(tmp_path)
    changed = {}

    def edit_midway(entity, counts):
        if entity is Entity.CUSTOMER and counts.total >= 10 and not changed:
            first = erp.records(Entity.CUSTOMER)[0]
            changed["id"] = first.id
            erp.put(Entity.CUSTOMER, {"name": "Renamed mid-run"}, record_id=first.id)

    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        await SyncService(runtime).run_route("erp-to-crm", progress=edit_midway)
        assert changed
        again = await SyncService(runtime).run_route("erp-to-crm")
    assert again.counts[Entity.CUSTOMER].updated == 1
    assert any(row.fields["name"] == "Renamed mid-run" for row in crm.records(Entity.CUSTOMER))


async def test_dry_run_writes_nowhere(tmp_path, store, systems):
    erp, crm = systems
    config = config_for(tmp_path)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        summary = await SyncService(runtime).run_route(
            "erp-to-crm", options=RunOptions(dry_run=True)
        )
    assert summary.counts[Entity.CUSTOMER].created == 30
    assert len(summary.planned) == 60
    assert crm.records(Entity.CUSTOMER) == []
    assert store.count_bindings() == 0
    assert store.cursor("erp-to-crm", "customer") is None


async def test_cursor_moves_and_full_run_rereads(tmp_path, store, systems):
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    watermark = store.cursor("erp-to-crm", "customer")
    newest = max(row.updated_at for row in erp.records(Entity.CUSTOMER))
    assert watermark == newest


async def test_decimal_values_compare_by_value_not_by_text(tmp_path, store, systems):
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    row = erp.records(Entity.CUSTOMER)[0]
    erp.put(Entity.CUSTOMER, {"credit_limit": Decimal("1000")}, record_id=row.id)
    again = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert again.writes == 0


def propagating_customer_deletes() -> dict[str, object]:
    data = copy.deepcopy(TWO_WAY)
    data["routes"][0]["entities"]["customer"]["deletes"] = "propagate"
    return data


async def test_a_reference_to_a_customer_deleted_in_the_same_run_is_emptied(
    tmp_path, store, systems
):
    erp, crm = systems
    config = config_for(tmp_path, propagating_customer_deletes())
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        await SyncService(runtime).run_route("erp-to-crm")
        customer = erp.records(Entity.CUSTOMER)[0]
        [contact] = [c for c in erp.records(Entity.CONTACT) if c.fields["customer"] == customer.id]
        erp.remove(Entity.CUSTOMER, customer.id)
        erp.put(Entity.CONTACT, {"job_title": "Buyer"}, record_id=contact.id)
        summary = await SyncService(runtime).run_route("erp-to-crm")

    assert summary.counts[Entity.CUSTOMER].deleted == 1
    assert summary.counts[Entity.CONTACT].updated == 1
    assert store.failures() == []
    [moved] = [c for c in crm.records(Entity.CONTACT) if c.fields.get("job_title") == "Buyer"]
    assert moved.fields["customer"] is None, "the contact must not point at a deleted company"


async def test_a_new_record_whose_parent_was_deleted_before_syncing_is_created_unlinked(
    tmp_path, store, systems
):
    erp, crm = systems
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    gone = erp.put(Entity.CUSTOMER, {"number": "C999", "name": "Short-lived"})
    erp.remove(Entity.CUSTOMER, gone)
    erp.put(Entity.CONTACT, {"email": "late@example.com", "last_name": "L", "customer": gone})
    summary = await run(tmp_path, store, erp, crm, "erp-to-crm")

    assert summary.counts[Entity.CONTACT].created == 1
    assert store.failures() == []
    [late] = [c for c in crm.records(Entity.CONTACT) if c.fields["email"] == "late@example.com"]
    assert late.fields["customer"] is None


async def test_a_reference_to_a_missing_parent_still_waits_in_failures(tmp_path, store, systems):
    """Only a parent seen deleted empties a reference; one that cannot be found is retried."""
    erp, crm = systems
    erp.put(Entity.CONTACT, {"email": "orphan@example.com", "last_name": "O", "customer": "nope"})
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    [failure] = store.failures()
    assert (failure.entity, failure.code, failure.retryable) == (
        "contact",
        "UNRESOLVED_REFERENCE",
        True,
    )


async def test_a_field_the_target_could_not_take_is_not_claimed_and_never_clears_the_source(
    tmp_path, store
):
    """The CRM (master of the owner) has no user for an ERP rep: the customer is saved without
    one and the owner reported unwritten. The reverse run must not read that absence as "the
    owner was cleared" and erase the ERP's value."""
    erp = memory("erp")
    seed_erp(erp, customers=3)
    first = erp.records(Entity.CUSTOMER)[0]
    erp.put(Entity.CUSTOMER, {"owner": "dave@example.com"}, record_id=first.id)
    crm = memory(
        "crm",
        owns={Entity.CUSTOMER: ["owner"]},
        unwritten=[{"field": "owner", "value": "dave@example.com", "message": "no such user"}],
    )
    pushed = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert pushed.counts[Entity.CUSTOMER].created == 3
    [in_crm] = [r for r in crm.records(Entity.CUSTOMER) if r.fields["number"] == "C000"]
    assert "owner" not in in_crm.fields
    key = store.keys_for("customer", "crm", [in_crm.id])[in_crm.id]
    assert "owner" not in store.bindings_for("customer", "crm", [key])[key].snapshot

    # The CRM edits something else on that customer; the reverse run writes only that.
    crm.put(Entity.CUSTOMER, {"name": "Renamed", "owner": None}, record_id=in_crm.id)
    erp_calls = erp.write_calls
    back = await run(tmp_path, store, erp, crm, "crm-to-erp")
    assert back.counts[Entity.CUSTOMER].updated == 1
    [row] = [r for r in erp.records(Entity.CUSTOMER) if r.id == first.id]
    assert row.fields["name"] == "Renamed" and row.fields["owner"] == "dave@example.com"
    assert erp.write_calls == erp_calls + 1
    # Nothing echoes: the refused owner is remembered, so the forward run that re-reads the
    # ERP row our reverse write touched does not offer it again.
    assert (await run(tmp_path, store, erp, crm, "crm-to-erp")).writes == 0
    assert (await run(tmp_path, store, erp, crm, "erp-to-crm")).writes == 0
    crm_row = next(r for r in crm.records(Entity.CUSTOMER) if r.id == in_crm.id)
    assert crm_row.fields.get("owner") is None
    assert (await run(tmp_path, store, erp, crm, "crm-to-erp")).writes == 0
    assert next(r for r in erp.records(Entity.CUSTOMER) if r.id == first.id).fields["owner"] == (
        "dave@example.com"
    )


async def test_a_missing_value_can_fail_the_record_instead_of_warning(tmp_path, store):
    erp = memory("erp")
    seed_erp(erp, customers=2)
    crm = memory("crm")
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    # A customer bound by match in the CRM side that never held a phone: the ERP's stays.
    erp_row = erp.records(Entity.CUSTOMER)[0]
    erp.put(Entity.CUSTOMER, {"phone": "+49 1"}, record_id=erp_row.id)
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    crm_row = next(
        r for r in crm.records(Entity.CUSTOMER) if r.fields["number"] == erp_row.fields["number"]
    )
    # The CRM "loses" the value without the product having cleared it (a foreign write path).
    crm.put(Entity.CUSTOMER, {"phone": None, "name": "X"}, record_id=crm_row.id)
    key = store.keys_for("customer", "crm", [crm_row.id])[crm_row.id]
    with store.transaction() as tx:  # as if the CRM had never been known to hold a phone
        snapshot = dict(store.bindings_for("customer", "crm", [key])[key].snapshot or {})
        snapshot.pop("phone", None)
        tx.bind("customer", key, "crm", crm_row.id, snapshot=snapshot)
    data = copy.deepcopy(TWO_WAY)
    data["routes"][1]["entities"]["customer"] = {"missing_values": "fail"}
    config = config_for(tmp_path, data)
    async with Runtime.open(config, store=store, erp=erp, crm=crm) as runtime:
        summary = await SyncService(runtime).run_route("crm-to-erp")
    assert summary.counts[Entity.CUSTOMER].failed == 1
    [failure] = [f for f in store.failures() if f.entity == "customer"]
    assert failure.code == "MISSING_VALUE" and "phone" in failure.message
    assert (
        next(r for r in erp.records(Entity.CUSTOMER) if r.id == erp_row.id).fields["phone"]
        == "+49 1"
    )


async def test_a_field_unwritten_only_for_now_is_offered_again(tmp_path, store):
    erp = memory("erp")
    seed_erp(erp, customers=1)
    row = erp.records(Entity.CUSTOMER)[0]
    erp.put(Entity.CUSTOMER, {"owner": "dave@example.com"}, record_id=row.id)
    rule = {"field": "owner", "value": "dave@example.com", "message": "list down", "for_now": True}
    crm = memory("crm", unwritten=[rule])
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert "owner" not in crm.records(Entity.CUSTOMER)[0].fields
    crm.settings.unwritten.clear()  # the list can be read again
    erp.put(Entity.CUSTOMER, {"name": "Touched"}, record_id=row.id)
    await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert crm.records(Entity.CUSTOMER)[0].fields["owner"] == "dave@example.com"


async def test_a_first_run_learns_its_new_bindings_a_page_at_a_time(
    tmp_path, store, systems, monkeypatch
):
    """Both sides' new bindings are learnt in one call a page (`learn_all`), never a record at
    a time, and what the resolvers hold then is what the store holds."""
    one_by_one: list[tuple[object, ...]] = []
    learn = BindingResolver.learn

    def counted(self: BindingResolver, *args: object) -> None:
        one_by_one.append(args)
        learn(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(BindingResolver, "learn", counted)
    erp, crm = systems
    first = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert first.counts[Entity.CUSTOMER].created == 30
    assert first.counts[Entity.CONTACT].created == 30
    assert one_by_one == []
    second = await run(tmp_path, store, erp, crm, "erp-to-crm")
    assert second.writes == 0 and second.counts[Entity.CONTACT].unchanged == 30
