"""The write stage: batches to a target with a bounded number in flight, every record answered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from connector.adapter import Capabilities, NativeRecord, NativeWrite, WriteResult
from connector.engine.resolver import BindingResolver
from connector.engine.stages.write import Writer, plan_only
from connector.engine.summary import RunSummary
from connector.errors import ConfigurationError, LeaseLostError, RecordError, TransientError
from connector.model import Customer, Entity
from tests.engine.stages.conftest import outgoing


class Target:
    def __init__(self, max_in_flight: int = 4, error: Exception | None = None) -> None:
        self.capabilities = Capabilities(entities=frozenset(Entity), max_in_flight=max_in_flight)
        self.error = error
        self.calls: list[list[str]] = []
        self.in_flight = self.most_in_flight = 0
        self.gate: asyncio.Event | None = None

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        self.calls.append([write.key for write in writes])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.error is not None:
                raise self.error
            # The target answers out of order and says nothing about "k3".
            return [WriteResult(w.key, f"crm-{w.key}") for w in reversed(writes) if w.key != "k3"]
        finally:
            self.in_flight -= 1


def items():  # type: ignore[no-untyped-def]
    return outgoing(*((f"k{n}", Customer(number=f"N{n}")) for n in range(1, 4)))


async def test_every_record_gets_its_own_answer_and_a_missing_one_is_a_failure():
    target = Target()
    outcomes = await Writer(target, lambda: None).write(Entity.CUSTOMER, items())  # type: ignore[arg-type]
    assert target.calls == [["k1", "k2", "k3"]]
    answers = [(item.key, result.external_id) for item, result in outcomes]
    assert answers == [("k1", "crm-k1"), ("k2", "crm-k2"), ("k3", None)]
    assert outcomes[2][1].error is not None and outcomes[2][1].error.code == "NO_RESULT"


async def test_a_batch_failing_for_now_fails_its_own_records_retryably():
    target = Target(error=TransientError("503 after retries"))
    outcomes = await Writer(target, lambda: None).write(Entity.CUSTOMER, items())  # type: ignore[arg-type]
    errors = [result.error for _, result in outcomes]
    assert all(isinstance(e, RecordError) and e.code == "BATCH_FAILED" for e in errors)
    assert all(e is not None and e.retryable and "503 after retries" in str(e) for e in errors)


async def test_a_batch_failing_for_good_stops_the_run():
    target = Target(error=ConfigurationError("no such object type"))
    with pytest.raises(ConfigurationError):
        await Writer(target, lambda: None).write(Entity.CUSTOMER, items())  # type: ignore[arg-type]


async def test_no_write_once_the_lease_is_lost():
    def lost() -> None:
        raise LeaseLostError("another process holds the route")

    target = Target()
    with pytest.raises(LeaseLostError):
        await Writer(target, lost).write(Entity.CUSTOMER, items())  # type: ignore[arg-type]
    assert target.calls == []


async def test_no_more_than_max_in_flight_batches_at_once():
    target = Target(max_in_flight=2)
    target.gate = asyncio.Event()
    writer = Writer(target, lambda: None)  # type: ignore[arg-type]
    batches = [[item] for item in items()]
    tasks = [asyncio.create_task(writer.write(Entity.CUSTOMER, batch)) for batch in batches]
    for _ in range(10):  # each task gets its turn several times over; the third must wait
        await asyncio.sleep(0)
    assert len(target.calls) == 2 and target.in_flight == 2
    target.gate.set()
    await asyncio.gather(*tasks)
    assert len(target.calls) == 3 and target.most_in_flight == 2


def test_a_dry_run_reports_each_planned_change_and_writes_nothing(sqlite_store):
    summary = RunSummary("erp-to-crm")
    refs = BindingResolver(sqlite_store, "crm")
    plan_only(Entity.CUSTOMER, items(), refs, summary, summary.entity(Entity.CUSTOMER))
    assert [(c.source_id, c.action) for c in summary.planned] == [
        ("e1", "create"),
        ("e2", "create"),
        ("e3", "create"),
    ]
    assert summary.entity(Entity.CUSTOMER).created == 3
    # A child planned later in the same dry run can refer to it.
    assert refs.external_id(Entity.CUSTOMER, "k1") == "(new customer)"


@pytest.mark.parametrize("made_per_record", [NativeRecord, NativeWrite, WriteResult])
def test_what_is_made_per_record_is_a_plain_slots_class(made_per_record: type) -> None:
    """One of each is made per record: a frozen dataclass sets every field through
    `object.__setattr__`, three times the cost of building one (bench/README.md, "updatecpu").
    Still compared by value, and never hashed (each holds a dict)."""
    assert not made_per_record.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "__slots__" in vars(made_per_record)
    assert NativeWrite("k", None, {"a": 1}) == NativeWrite("k", None, {"a": 1})
    assert WriteResult("k", "1") != WriteResult("k", "2")
