"""The adapter contract suite: the promises of `connector.adapter`, as pytest tests.

Every adapter, built-in or third-party, runs the same suite against itself (its sandbox, a local
database, …). To use it, import the tests into a test module and provide a `harness` fixture
that yields a `ContractHarness` around an opened adapter:

    from connector.testing.contract import *  # noqa: F403

    @pytest.fixture
    async def harness():
        adapter = MyAdapter(...)
        await adapter.open()
        yield ContractHarness(adapter, new_fields=lambda n: {"name": f"Co {n}"},
                              lookup_field="name")
        await adapter.close()

The suite writes through the adapter only, so it also proves that what the adapter writes, it
can read back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.adapter import Adapter, NativeRecord, NativeWrite
from connector.model import Entity

__all__ = [
    "ContractHarness",
    "test_contract_changes_are_ordered_and_complete",
    "test_contract_delete_hides_or_marks_the_record",
    "test_contract_lookup_finds_by_native_field",
    "test_contract_read_returns_only_existing_ids",
    "test_contract_upsert_answers_every_write_and_is_idempotent",
    "test_contract_upsert_isolates_a_bad_record",
]


@dataclass
class ContractHarness:
    """An opened adapter and how to make valid (and invalid) native records for it."""

    adapter: Adapter
    #: Valid native fields for a new record number `n` (distinct n, distinct records).
    new_fields: Callable[[int], Mapping[str, Any]]
    #: A native field whose value `new_fields` makes unique, for `lookup`.
    lookup_field: str
    entity: Entity = Entity.CUSTOMER
    #: Native fields the system refuses for one record; None if the system refuses nothing.
    bad_fields: Mapping[str, Any] | None = None
    #: A change to apply to an existing record (must change what `read` returns).
    changed_fields: Callable[[int], Mapping[str, Any]] | None = None

    async def create(self, numbers: range, prefix: str = "k") -> dict[int, str]:
        writes = [NativeWrite(f"{prefix}{n}", None, dict(self.new_fields(n))) for n in numbers]
        results = await self.adapter.upsert(self.entity, writes)
        by_key = {result.key: result for result in results}
        created = {}
        for n in numbers:
            result = by_key[f"{prefix}{n}"]
            assert result.ok, f"writing record {n} failed: {result.error}"
            assert result.external_id, "a successful write must name the record's id"
            created[n] = result.external_id
        return created

    async def changes(self, since: dt.datetime | None = None) -> list[NativeRecord]:
        records: list[NativeRecord] = []
        async for page in self.adapter.read_changes(self.entity, since):
            records.extend(page.records)
        return records


async def test_contract_upsert_answers_every_write_and_is_idempotent(
    harness: ContractHarness,
) -> None:
    created = await harness.create(range(1, 6))
    assert len(set(created.values())) == 5, "five writes, five distinct records"
    again = await harness.adapter.upsert(
        harness.entity,
        [NativeWrite(f"k{n}", None, dict(harness.new_fields(n))) for n in range(1, 6)],
    )
    assert sorted(result.key for result in again) == [f"k{n}" for n in range(1, 6)]
    assert {result.key: result.external_id for result in again} == {
        f"k{n}": external for n, external in created.items()
    }, "replaying a create (same key) must update the same record, not add one"
    live = [record for record in await harness.changes() if not record.deleted]
    assert len([r for r in live if r.id in created.values()]) == 5


async def test_contract_upsert_isolates_a_bad_record(harness: ContractHarness) -> None:
    if harness.bad_fields is None:
        return  # this system refuses nothing; there is no bad record to isolate
    writes = [NativeWrite(f"ok{n}", None, dict(harness.new_fields(100 + n))) for n in range(4)]
    writes.insert(2, NativeWrite("bad", None, dict(harness.bad_fields)))
    results = {
        result.key: result for result in await harness.adapter.upsert(harness.entity, writes)
    }
    assert set(results) == {write.key for write in writes}
    assert results["bad"].error is not None and str(results["bad"].error)
    assert all(results[f"ok{n}"].ok for n in range(4)), "neighbours of a bad record must succeed"


async def test_contract_changes_are_ordered_and_complete(harness: ContractHarness) -> None:
    created = await harness.create(range(200, 212))
    records = await harness.changes()
    order = [(record.updated_at, record.id) for record in records]
    assert order == sorted(order), "changes must come in (updated_at, id) order"
    assert set(created.values()) <= {record.id for record in records}
    for record in records:
        assert record.updated_at.tzinfo is not None, "updated_at must be timezone-aware"
    middle = sorted(records, key=lambda r: (r.updated_at, r.id))[len(records) // 2]
    since = [record.id for record in await harness.changes(middle.updated_at)]
    expected = {r.id for r in records if r.updated_at >= middle.updated_at}
    assert expected <= set(since), "every record changed at or after `since` must be included"


async def test_contract_read_returns_only_existing_ids(harness: ContractHarness) -> None:
    created = await harness.create(range(300, 303))
    wanted = [*created.values(), "999999999"]
    found = await harness.adapter.read(harness.entity, wanted)
    assert {record.id for record in found} == set(created.values())


async def test_contract_lookup_finds_by_native_field(harness: ContractHarness) -> None:
    await harness.create(range(400, 403))
    values = [str(harness.new_fields(n)[harness.lookup_field]) for n in range(400, 403)]
    found = await harness.adapter.lookup(harness.entity, harness.lookup_field, [*values, "nope"])
    assert set(found) == set(values)


async def test_contract_delete_hides_or_marks_the_record(harness: ContractHarness) -> None:
    if not harness.adapter.capabilities.deletes:
        return  # the adapter declares it cannot delete
    created = await harness.create(range(500, 502))
    doomed = created[500]
    results = await harness.adapter.delete(harness.entity, [doomed])
    assert len(results) == 1 and results[0].ok
    remaining = await harness.adapter.read(harness.entity, [doomed, created[501]])
    by_id = {record.id: record for record in remaining}
    assert doomed not in by_id or by_id[doomed].deleted
    assert created[501] in by_id and not by_id[created[501]].deleted
