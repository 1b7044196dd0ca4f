"""SQL mode reads on SQLite, PostgreSQL and MariaDB: keyset pages, ties, deletes, lines, lookups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.sample import sample_metadata
from connector.adapter import NativeRecord
from connector.model import Entity
from tests.erp_generic.conftest import SMALL, build_adapter


async def collect(
    adapter: ErpGenericAdapter, entity: Entity, since: dt.datetime | None
) -> list[list[NativeRecord]]:
    return [list(page.records) for page in [p async for p in adapter.read_changes(entity, since)]]


def order_key(record: NativeRecord) -> tuple[dt.datetime, int]:
    return record.updated_at, int(record.id)


async def test_full_read_returns_every_row_once_in_keyset_order(erp: ErpGenericAdapter) -> None:
    pages = await collect(erp, Entity.CONTACT, None)
    records = [r for page in pages for r in page]
    assert len(records) == SMALL["contacts"]
    assert len({r.id for r in records}) == len(records)
    assert records == sorted(records, key=order_key)
    assert all(len(page) <= 7 for page in pages) and len(pages) >= SMALL["contacts"] // 7
    first = records[0]
    assert first.updated_at.tzinfo is dt.UTC
    assert first.fields["id"] == int(first.id)
    assert {"first_name", "customer_id", "sync_key", "updated_at"} <= set(first.fields)
    # Booleans are booleans on every database (MySQL stores them as TINYINT(1)).
    assert {type(r.fields["is_primary"]) for r in records} == {bool}
    assert {r.fields["is_primary"] for r in records} == {True, False}


async def test_since_is_inclusive_and_filters(erp: ErpGenericAdapter) -> None:
    everything = [r for page in await collect(erp, Entity.CUSTOMER, None) for r in page]
    middle = everything[len(everything) // 2]
    later = [r for page in await collect(erp, Entity.CUSTOMER, middle.updated_at) for r in page]
    assert middle.id in {r.id for r in later}
    assert {r.id for r in later} == {r.id for r in everything if r.updated_at >= middle.updated_at}


async def test_ties_on_updated_at_across_page_boundaries(sample_url: str, tmp_path: Path) -> None:
    tie = dt.datetime(2031, 5, 5, 12, 0, 0)
    engine = sa.create_engine(sample_url)
    customers = sample_metadata().tables["customers"]
    with engine.begin() as connection:
        # 23 rows share one timestamp: with pages of 7 the tie spans four pages.
        connection.execute(sa.update(customers).where(customers.c.id <= 23).values(updated_at=tie))
    engine.dispose()
    adapter = build_adapter(sample_url, tmp_path, page_size=7)
    await adapter.open()
    try:
        pages = await collect(adapter, Entity.CUSTOMER, tie.replace(tzinfo=dt.UTC))
        tied = [r for page in pages for r in page]
        assert [int(r.id) for r in tied] == list(range(1, 24))
        assert [len(page) for page in pages] == [7, 7, 7, 2]
        everything = [r for page in await collect(adapter, Entity.CUSTOMER, None) for r in page]
        assert len(everything) == SMALL["customers"]
        assert len({r.id for r in everything}) == SMALL["customers"]
    finally:
        await adapter.close()


async def test_soft_deleted_rows_come_as_deletions(sample_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(sample_url)
    customers = sample_metadata().tables["customers"]
    when = dt.datetime(2032, 1, 1)
    with engine.begin() as connection:
        connection.execute(
            sa.update(customers).where(customers.c.id == 5).values(deleted_at=when, updated_at=when)
        )
    engine.dispose()
    adapter = build_adapter(sample_url, tmp_path)
    await adapter.open()
    try:
        pages = await collect(adapter, Entity.CUSTOMER, when.replace(tzinfo=dt.UTC))
        assert [(r.id, r.deleted) for page in pages for r in page] == [("5", True)]
    finally:
        await adapter.close()


async def test_sales_carry_their_lines(erp: ErpGenericAdapter) -> None:
    sales = [r for page in await collect(erp, Entity.SALE, None) for r in page]
    assert len(sales) == SMALL["orders"]
    for sale in sales:
        lines = sale.fields["lines"]
        assert 1 <= len(lines) <= 5
        assert [line["line_no"] for line in lines] == list(range(1, len(lines) + 1))
        assert "order_id" not in lines[0] and "id" not in lines[0]
        total = sum((Decimal(line["line_total"]) for line in lines), Decimal(0))
        assert total == Decimal(sale.fields["total_amount"])


async def test_read_and_lookup(erp: ErpGenericAdapter) -> None:
    records = await erp.read(Entity.CUSTOMER, ["3", "1", "999999", "not-a-number"])
    assert [r.id for r in records] == ["1", "3"]
    numbers = [records[0].fields["customer_no"], "C-unknown"]
    found = await erp.lookup(Entity.CUSTOMER, "customer_no", numbers)
    assert list(found) == [records[0].fields["customer_no"]]
    assert found[numbers[0]].id == "1"
    sale = (await erp.read(Entity.SALE, ["2"]))[0]
    assert sale.fields["lines"]
    # Values come as strings; an integer column gets integers, and impossible values no SQL.
    by_customer = await erp.lookup(Entity.CONTACT, "customer_id", ["1", "not-a-number"])
    assert list(by_customer) == ["1"] and by_customer["1"].fields["customer_id"] == 1


async def test_native_fields_are_the_reflected_columns(erp: ErpGenericAdapter) -> None:
    customer_fields = erp.native_fields(Entity.CUSTOMER)
    assert customer_fields is not None
    assert {"customer_no", "billing_country", "lifetime_revenue"} <= customer_fields
    assert "lines" not in customer_fields
    sale_fields = erp.native_fields(Entity.SALE)
    assert sale_fields is not None and "lines" in sale_fields
    assert erp.capabilities.upsert_matches[Entity.SALE] == "sync_key"
    assert erp.capabilities.deletes


async def test_change_log_deletes_merge_into_the_feed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    items = sa.Table(
        "items",
        metadata,
        sa.Column("item_id", sa.Integer, primary_key=True),
        sa.Column("changed", sa.DateTime, nullable=False),
    )
    log = sa.Table(
        "deletions",
        metadata,
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("table_name", sa.String(20)),
        sa.Column("row_key", sa.String(20)),
        sa.Column("deleted_on", sa.DateTime),
    )
    metadata.create_all(engine)
    base = dt.datetime(2030, 1, 1)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(items),
            [{"item_id": i, "changed": base + dt.timedelta(minutes=2 * i)} for i in range(1, 6)],
        )
        connection.execute(
            sa.insert(log),
            [
                {
                    "table_name": "items",
                    "row_key": "9",
                    "deleted_on": base + dt.timedelta(minutes=3),
                },
                {"table_name": "other", "row_key": "8", "deleted_on": base},
            ],
        )
    engine.dispose()
    block = {
        "url": url,
        "page_size": 2,
        "entities": {
            "customer": {
                "table": "items",
                "primary_key": "item_id",
                "updated_at": "changed",
                "change_log": {
                    "table": "deletions",
                    "key_column": "row_key",
                    "changed_at": "deleted_on",
                    "entity_column": "table_name",
                    "entity_value": "items",
                },
            }
        },
    }
    from adapters.erp_generic.settings import ErpGenericSettings
    from connector.adapter import AdapterContext

    adapter = ErpGenericAdapter.from_settings(
        "erp", ErpGenericSettings.model_validate(block), AdapterContext(tmp_path)
    )
    await adapter.open()
    try:
        records = [r for page in await collect(adapter, Entity.CUSTOMER, None) for r in page]
        assert [(r.id, r.deleted) for r in records] == [
            ("1", False),
            ("9", True),
            ("2", False),
            ("3", False),
            ("4", False),
            ("5", False),
        ]
    finally:
        await adapter.close()


async def test_a_reader_that_stops_early_leaves_nothing_behind(erp: ErpGenericAdapter) -> None:
    pages = erp.read_changes(Entity.CUSTOMER, None)
    first = await anext(aiter(pages))
    assert len(first.records) == 7
    await pages.aclose()  # type: ignore[attr-defined]
    # The page fetched ahead is finished and its connection returned: writes go through.
    from connector.adapter import NativeWrite

    write = NativeWrite("after-early-stop", None, {"customer_no": "ES-1", "name": "Early"})
    [result] = await erp.upsert(Entity.CUSTOMER, [write])
    assert result.ok
