"""A user's own ERP schema, configured only through settings: odd names (upper case, a space,
reserved words), a boolean soft-delete flag, a timezone-aware timestamp (MySQL's `TIMESTAMP`,
stored as UTC and shown in the session's time zone), a text primary key."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeWrite
from connector.model import Entity

METADATA = sa.MetaData()
ORDERS = sa.Table(
    "AUFTRAG",
    METADATA,
    sa.Column("Auftrag Nr", sa.String(20), primary_key=True),
    sa.Column("KUNDE", sa.String(40), nullable=False),
    sa.Column("order", sa.String(40)),  # a reserved word as a column name
    sa.Column(
        "GEAENDERT_AM",
        sa.DateTime(timezone=True).with_variant(mysql.TIMESTAMP(fsp=6), "mysql", "mariadb"),
        nullable=False,
    ),
    sa.Column("GELOESCHT", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("SYNC_SCHLUESSEL", sa.String(64), unique=True),
)
POSITIONS = sa.Table(
    "AUFTRAG_POS",
    METADATA,
    sa.Column("POS_ID", sa.Integer, primary_key=True),
    sa.Column("Auftrag Nr", sa.ForeignKey(ORDERS.c["Auftrag Nr"]), nullable=False),
    sa.Column("POS", sa.Integer, nullable=False),
    sa.Column("ARTIKEL", sa.String(40)),
    sa.Column("MENGE", sa.Numeric(10, 2), nullable=False),
)
SETTINGS: dict[str, Any] = {
    "page_size": 2,
    "entities": {
        "sale": {
            "table": "AUFTRAG",
            "primary_key": "Auftrag Nr",
            "updated_at": "GEAENDERT_AM",
            "soft_delete": "GELOESCHT",
            "sync_key": "SYNC_SCHLUESSEL",
            "write": "table",
            "lines": {
                "table": "AUFTRAG_POS",
                "primary_key": "POS_ID",
                "foreign_key": "Auftrag Nr",
                "order_by": "POS",
            },
        }
    },
}


@pytest.fixture
async def own_erp(erp_url: str, tmp_path: Path) -> AsyncIterator[ErpGenericAdapter]:
    engine = sa.create_engine(erp_url)
    METADATA.create_all(engine)
    stamp = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(ORDERS),
            [
                {"Auftrag Nr": f"A-{n}", "KUNDE": "K-1", "order": f"o{n}", "GEAENDERT_AM": stamp}
                for n in range(1, 6)
            ],
        )
    engine.dispose()
    settings = ErpGenericSettings.model_validate({"url": erp_url, **SETTINGS})
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(tmp_path))
    await adapter.open()
    yield adapter
    await adapter.close()


async def test_reads_writes_and_deletes_on_a_foreign_schema(own_erp: ErpGenericAdapter) -> None:
    records = [r async for p in own_erp.read_changes(Entity.SALE, None) for r in p.records]
    # Five rows share one timestamp; text keys order as the database orders them.
    assert [r.id for r in records] == ["A-1", "A-2", "A-3", "A-4", "A-5"]
    assert records[0].fields["order"] == "o1" and records[0].fields["lines"] == []
    lines = [{"ARTIKEL": "X", "MENGE": "2"}, {"ARTIKEL": "Y", "MENGE": 1}]
    new = {"Auftrag Nr": "A-9", "KUNDE": "K-2", "order": "new", "lines": lines}
    [created] = await own_erp.upsert(Entity.SALE, [NativeWrite("key-9", None, new)])
    assert created.ok and created.external_id == "A-9" and created.created
    [again] = await own_erp.upsert(Entity.SALE, [NativeWrite("key-9", None, new)])
    assert again.ok and not again.created
    [read] = await own_erp.read(Entity.SALE, ["A-9"])
    assert [(line["POS"], line["ARTIKEL"]) for line in read.fields["lines"]] == [
        (1, "X"),
        (2, "Y"),
    ]
    assert read.updated_at.tzinfo is not None
    [deleted] = await own_erp.delete(Entity.SALE, ["A-2"])
    assert deleted.ok and deleted.updated_at is not None
    feed = [r async for p in own_erp.read_changes(Entity.SALE, deleted.updated_at)
            for r in p.records]  # fmt: skip
    assert [(r.id, r.deleted) for r in feed] == [("A-2", True)]
    found = await own_erp.lookup(Entity.SALE, "SYNC_SCHLUESSEL", ["key-9"])
    assert found["key-9"].id == "A-9"


async def test_a_view_is_read_like_a_table(sample_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(sample_url)
    with engine.begin() as connection:
        # A fixed DDL string written here, not built from configuration.
        connection.exec_driver_sql(
            "CREATE VIEW active_customers AS SELECT id, customer_no, name, updated_at "
            "FROM customers WHERE status = 'active'"
        )
        expected = connection.execute(
            sa.text("SELECT count(*) FROM customers WHERE status = 'active'")
        ).scalar_one()
    engine.dispose()
    block = {"url": sample_url, "entities": {"customer": {"table": "active_customers"}}}
    settings = ErpGenericSettings.model_validate(block)
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(tmp_path))
    await adapter.open()
    try:
        records = [r async for p in adapter.read_changes(Entity.CUSTOMER, None) for r in p.records]
        assert len(records) == expected > 0
        assert set(records[0].fields) == {"id", "customer_no", "name", "updated_at"}
    finally:
        await adapter.close()
