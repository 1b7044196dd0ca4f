"""A write batch reads the rows it updates in one query (current_rows.py), and writes exactly
what record-by-record lookups wrote: a record twice in a batch sees its own first write, a
`sync_key` written twice makes one row, a row reached two ways is looked up at each turn. On
SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.sample import sample_config
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeWrite
from connector.model import Entity
from tests.erp_generic.conftest import StepClock
from tests.erp_generic.test_erp_sql_writes import TABLES, engine_of, new_customer, rows

CUSTOMERS = TABLES["customers"]


@contextmanager
def selects_of(adapter: ErpGenericAdapter, table: str = "customers") -> Iterator[list[str]]:
    """The SELECTs the adapter sends to `table` while the block runs."""
    seen: list[str] = []
    engine = engine_of(adapter)

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        text = " ".join(statement.split()).lower()
        if text.startswith("select") and f"from {table} " in f"{text} ":
            seen.append(text)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_batch_of_updates_reads_its_rows_in_one_query(erp: ErpGenericAdapter) -> None:
    before = {r["id"]: r for r in rows(erp, "customers", CUSTOMERS.c.id <= 20)}
    writes = [
        NativeWrite(
            f"k{n}", str(n), {"industry": f"Industry {n}" if n % 2 else before[n]["industry"]}
        )
        for n in range(1, 21)
    ]
    with selects_of(erp) as selects:
        results = await erp.upsert(Entity.CUSTOMER, writes)
    assert [r.ok for r in results] == [True] * 20
    assert len(selects) == 1 and " in " in selects[0]
    after = {r["id"]: r for r in rows(erp, "customers", CUSTOMERS.c.id <= 20)}
    for n in range(1, 21):
        if n % 2:  # changed: written, stamped
            assert after[n]["industry"] == f"Industry {n}"
            assert after[n]["updated_at"] > before[n]["updated_at"]
        else:  # nothing to change: untouched, its sync key and stamp included
            assert after[n] == before[n]


async def test_creates_by_sync_key_read_in_one_query(erp: ErpGenericAdapter) -> None:
    writes = [NativeWrite(f"new-{n}", None, new_customer(f"N-{n}")) for n in range(10)]
    with selects_of(erp) as selects:
        first = await erp.upsert(Entity.CUSTOMER, writes)
    assert all(r.ok and r.created for r in first)
    lookups = [s for s in selects if "sync_key" in s.split(" where ")[-1]]
    assert len(lookups) == 1, selects
    again = await erp.upsert(Entity.CUSTOMER, writes)  # found by sync key, nothing to change
    assert [(r.external_id, r.created) for r in again] == [(r.external_id, False) for r in first]
    assert len(rows(erp, "customers", CUSTOMERS.c.sync_key.like("new-%"))) == 10


async def test_a_row_twice_in_a_batch_sees_its_first_write(erp: ErpGenericAdapter) -> None:
    """The second write asks for the name the row had before the first: it must be written
    back (a row read ahead of both would say it is already there)."""
    [before] = rows(erp, "customers", CUSTOMERS.c.id == 5)
    writes = [
        NativeWrite("k5", "5", {"name": "Renamed", "industry": "Mining"}),
        NativeWrite("k5", "5", {"name": before["name"], "industry": "Mining"}),
    ]
    results = await erp.upsert(Entity.CUSTOMER, writes)
    assert all(r.ok for r in results)
    [after] = rows(erp, "customers", CUSTOMERS.c.id == 5)
    assert after["name"] == before["name"] and after["industry"] == "Mining"


async def test_a_new_record_twice_in_a_batch_makes_one_row(erp: ErpGenericAdapter) -> None:
    writes = [
        NativeWrite("twice", None, new_customer("T-1", industry="Retail")),
        NativeWrite("twice", None, new_customer("T-1", industry="Mining")),
    ]
    first, second = await erp.upsert(Entity.CUSTOMER, writes)
    assert first.ok and first.created and second.ok and not second.created
    assert second.external_id == first.external_id
    [row] = rows(erp, "customers", CUSTOMERS.c.sync_key == "twice")
    assert row["industry"] == "Mining"


async def test_a_row_reached_by_id_and_by_sync_key_is_looked_up_at_each_turn(
    erp: ErpGenericAdapter,
) -> None:
    """Row 6 holds sync key "six"; the batch updates it by id for record "other" (which moves
    its sync key to "other"), then writes record "six" unbound: at its turn no row holds "six"
    any more, so it is created, as record-by-record lookups decided."""
    with engine_of(erp).begin() as connection:
        connection.execute(sa.update(CUSTOMERS).where(CUSTOMERS.c.id == 6).values(sync_key="six"))
    writes = [
        NativeWrite("other", "6", {"industry": "Mining"}),
        NativeWrite("six", None, new_customer("S-6")),
    ]
    by_id, by_key = await erp.upsert(Entity.CUSTOMER, writes)
    assert by_id.ok and by_id.external_id == "6"
    assert by_key.ok and by_key.created and by_key.external_id != "6"
    [six] = rows(erp, "customers", CUSTOMERS.c.id == 6)
    assert six["sync_key"] == "other" and six["industry"] == "Mining"


async def test_a_row_an_insert_found_and_updated_is_read_afresh(
    sample_url: str, tmp_path: Path
) -> None:
    """With natural keys (`required:`), a new record whose customer number row 7 already holds
    updates row 7 instead of inserting (inserts.py); a later write of row 7 in the same batch
    must compare with that update, not with the row as it was read ahead."""
    block = sample_config(sample_url)
    block["entities"]["customer"]["required"] = ["customer_no"]
    settings = ErpGenericSettings.model_validate(block)
    erp = ErpGenericAdapter("erp", settings.root, AdapterContext(tmp_path), clock=StepClock())
    await erp.open()
    try:
        [before] = rows(erp, "customers", CUSTOMERS.c.id == 7)
        writes = [
            NativeWrite("k7", "7", {"industry": "Mining"}),  # read ahead with the batch
            NativeWrite("dup", None, new_customer(before["customer_no"], name="Interim")),
            NativeWrite("k7", "7", {"name": before["name"]}),
        ]
        results = await erp.upsert(Entity.CUSTOMER, writes)
        assert all(r.ok for r in results) and results[1].external_id == "7"
        [after] = rows(erp, "customers", CUSTOMERS.c.id == 7)
        assert after["name"] == before["name"] and after["industry"] == "Mining"
    finally:
        await erp.close()
