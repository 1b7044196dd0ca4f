"""Reading a foreign ERP (tests/erp_generic/foreign_erp.py) configured only through settings,
on SQLite, PostgreSQL and MariaDB: row filter, soft delete as an expression, related fields, a
SELECT source with a join, text change dates, NULL change times, history figures from the
user's SQL, checksum mode with positions and vanished rows — and no DDL on the ERP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeRecord
from connector.model import Entity
from connector.state.store import StateStore, open_store
from tests.erp_generic import foreign_erp
from tests.erp_generic.conftest import StepClock


@pytest.fixture
def foreign_url(erp_url: str) -> str:
    foreign_erp.create(erp_url)
    return erp_url


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    yield store
    store.close()


def adapter_for(
    url: str, tmp_path: Path, store: StateStore | None = None, **entities: Any
) -> ErpGenericAdapter:
    block = {"url": url, "page_size": 2, "entities": entities or foreign_erp.ENTITIES}
    settings = ErpGenericSettings.model_validate(block).root
    context = AdapterContext(tmp_path, row_hashes=store)
    return ErpGenericAdapter("erp", settings, context, clock=StepClock())  # type: ignore[arg-type]


async def read_all(
    adapter: ErpGenericAdapter, entity: Entity, since: dt.datetime | None = None
) -> list[NativeRecord]:
    return [r async for page in adapter.read_changes(entity, since) for r in page.records]


async def test_customers_filtered_related_and_placed_by_text_dates(
    foreign_url: str, tmp_path: Path
) -> None:
    before = foreign_erp.schema_snapshot(foreign_url)
    adapter = adapter_for(foreign_url, tmp_path)
    assert await adapter.check() == []
    try:
        records = await read_all(adapter, Entity.CUSTOMER)
        by_id = {r.id: r for r in records}
        # The supplier (5) is not a customer; the inactive one (6) reads as deleted.
        assert sorted(by_id) == ["1", "2", "3", "4", "6"]
        assert by_id["6"].deleted and not by_id["1"].deleted
        first = by_id["1"].fields
        assert first["email"] == "info@firma1.de"  # the first e-mail by `reihenfolge`
        assert first["telefon"] == "+49 30 1111"
        assert (first["rechnung_strasse"], first["rechnung_ort"]) == ("Hauptstr. 5", "Berlin")
        assert by_id["2"].fields["telefon"] is None and by_id["3"].fields["email"] is None
        # `dd.mm.yyyy` does not sort as text: decoded and ordered here, oldest first.
        stamps = [r.updated_at for r in records]
        assert stamps == sorted(stamps)
        assert by_id["2"].updated_at == dt.datetime(2024, 3, 2, 2, 30, tzinfo=dt.UTC)
        # History from the user's grouped query: (1 x 9.50 + 2 x 9.50) per order, two orders.
        assert Decimal(str(first["umsatz"])) == Decimal("57.00")
        assert first["auftraege"] == 2 and by_id["3"].fields["umsatz"] is None
        later = await read_all(adapter, Entity.CUSTOMER, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
        assert [r.id for r in later] == ["4", "6"]
        assert "email" in (adapter.native_fields(Entity.CUSTOMER) or ())
        # Matching on a related field (the engine's natural-key lookup) goes through it too.
        found = await adapter.lookup(Entity.CUSTOMER, "email", ["kontakt@firma2.de", "x@y.z"])
        assert {value: r.id for value, r in found.items()} == {"kontakt@firma2.de": "2"}
        found = await adapter.lookup(Entity.CUSTOMER, "kundennummer", ["K-10003"])
        assert found["K-10003"].id == "3"
    finally:
        await adapter.close()
    assert foreign_erp.schema_snapshot(foreign_url) == before


async def test_a_select_source_with_a_join_keeps_rows_without_a_change_time(
    foreign_url: str, tmp_path: Path
) -> None:
    adapter = adapter_for(foreign_url, tmp_path)
    await adapter.open()
    try:
        records = await read_all(adapter, Entity.CONTACT)
        # Contact 4 belongs to the inactive customer (the query's join filters it); contact 2
        # has no change time: read first, at the start of the window, and counted.
        assert [r.id for r in records] == ["2", "3", "1"]
        assert records[0].fields["firma"] == "Firma 1 GmbH"
        employers = {r.id: r.fields["arbeitgeber"] for r in records}
        assert employers == {"1": "Firma 1 GmbH", "2": None, "3": "Firma 4 GmbH"}
        assert records[0].updated_at == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        since = dt.datetime(2024, 2, 15, tzinfo=dt.UTC)
        again = await read_all(adapter, Entity.CONTACT, since)
        assert [(r.id, r.updated_at) for r in again] == [
            ("2", since),
            ("1", dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)),
        ]
        assert adapter._backend.readers[Entity.CONTACT].stats.unplaced == 1  # type: ignore[attr-defined]
        [one] = await adapter.read(Entity.CONTACT, ["3"])
        assert one.fields["nachname"] == "Claus"
    finally:
        await adapter.close()


async def test_checksum_mode_sees_position_changes_and_vanished_orders(
    foreign_url: str, tmp_path: Path, state: StateStore
) -> None:
    before = foreign_erp.schema_snapshot(foreign_url)
    adapter = adapter_for(foreign_url, tmp_path, state)
    await adapter.open()
    backend: Any = adapter._backend
    try:
        first = await read_all(adapter, Entity.SALE)
        assert [r.id for r in first] == ["101", "102", "103", "104"]
        lines = first[0].fields["lines"]
        assert [(line["posnr"], line["artikelcode"]) for line in lines] == [
            (1, "P-0017"),
            (2, "P-0018"),
        ]
        report = backend.scanners[Entity.SALE].report
        assert (report.new, report.changed, report.vanished) == (4, 0, 0)
        since = max(r.updated_at for r in first) + dt.timedelta(microseconds=1)
        assert await read_all(adapter, Entity.SALE, since) == []
        report = backend.scanners[Entity.SALE].report
        assert (report.scanned, report.new, report.changed) == (4, 0, 0)

        engine = sa.create_engine(foreign_url)
        with engine.begin() as connection:  # the ERP's own edits, behind our back
            positions, orders = foreign_erp.AUFTRAGSPOS, foreign_erp.AUFTRAG
            connection.execute(
                sa.update(positions).where(positions.c.posid == 1032).values(menge=7)
            )
            connection.execute(sa.delete(positions).where(positions.c.auftragsnr == 104))
            connection.execute(sa.delete(orders).where(orders.c.auftragsnr == 104))
        engine.dispose()
        changes = await read_all(adapter, Entity.SALE, since)
        assert [(r.id, r.deleted) for r in changes] == [("103", False), ("104", True)]
        assert [Decimal(str(x["menge"])) for x in changes[0].fields["lines"]] == [1, 7]
        report = backend.scanners[Entity.SALE].report
        assert (report.changed, report.vanished) == (1, 1)
        # Not handled yet (the cursor did not move): reported again, never lost.
        again = await read_all(adapter, Entity.SALE, since)
        assert [(r.id, r.deleted) for r in again] == [("103", False), ("104", True)]
        handled = max(r.updated_at for r in again) + dt.timedelta(microseconds=1)
        assert await read_all(adapter, Entity.SALE, handled) == []
    finally:
        await adapter.close()
    assert foreign_erp.schema_snapshot(foreign_url) == before


async def test_check_names_what_is_wrong(foreign_url: str, tmp_path: Path) -> None:
    entities = {
        "customer": {
            "table": "kunde",
            "primary_key": "kdnr",
            "read": {
                "change": {"column": "geaendert_am", "type": "timestamp"},
                "related": {
                    "email": {"table": "kommunikation", "match": {"kdnr": "kdnr"},
                              "column": "wertt"}
                },
            },
        },
        "contact": {"table": "ansprechpartner", "primary_key": "apnr",
                    "read": {"query": "SELECT apnr FROM nirgendwo"}},
    }  # fmt: skip
    adapter = adapter_for(foreign_url, tmp_path, **entities)
    problems = {p.location: p.message for p in await adapter.check()}
    assert (
        "column 'wertt' not found in table 'kommunikation'"
        in problems["systems.erp.settings.entities.customer.read.related.email"]
    )
    assert "the query fails" in problems["systems.erp.settings.entities.contact.read.query"]
    fixed = dict(entities["customer"])
    fixed["read"] = {"change": {"column": "geaendert_am", "type": "timestamp"}}
    adapter = adapter_for(foreign_url, tmp_path, customer=fixed)
    problems = {p.location: p.message for p in await adapter.check()}
    assert "not a timestamp" in problems["systems.erp.settings.entities.customer.read.change"]


def _erp_with_an_unreadable_quantity(tmp_path: Path, *statements: str) -> str:
    """The foreign ERP on SQLite, order 102's quantity a blob no number reads from."""
    url = f"sqlite:///{tmp_path / 'blobs.db'}"
    foreign_erp.create(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql("UPDATE auftragspos SET menge = X'FF00' WHERE auftragsnr = 102")
    engine.dispose()
    return url


async def _sales_by_id(url: str, tmp_path: Path, sale: dict[str, Any]) -> dict[str, Any]:
    adapter = adapter_for(url, tmp_path, sale=sale)
    await adapter.open()
    try:
        return {r.id: r for r in await read_all(adapter, Entity.SALE)}
    finally:
        await adapter.close()


async def test_sqlite_decimals_stored_as_blobs(tmp_path: Path) -> None:
    # as Tryton's SQLite backend stores Decimal
    url = _erp_with_an_unreadable_quantity(
        tmp_path, "UPDATE auftragspos SET preis = CAST('12.25' AS BLOB)"
    )
    sale = dict(foreign_erp.ENTITIES["sale"])
    sale["read"] = {"change": {"expression": "'2024-01-01 00:00:00'"}}
    records = await _sales_by_id(url, tmp_path, sale)
    assert records["101"].problem is None
    assert records["101"].fields["lines"][0]["preis"] == Decimal("12.25")
    problem = records["102"].problem
    assert problem is not None and "menge" in str(problem)


async def test_an_unreadable_related_number_fails_its_record_by_name(tmp_path: Path) -> None:
    """A related field of a numeric column can read as unreadable too: only the columns whose
    type can make one are looked at, and a related field's label carries its column's type."""
    url = _erp_with_an_unreadable_quantity(tmp_path)
    sale = dict(foreign_erp.ENTITIES["sale"])
    first_quantity = {
        "table": "auftragspos",
        "match": {"auftragsnr": "auftragsnr"},
        "order_by": ["posnr"],
        "column": "menge",
    }
    sale["read"] = {
        "change": {"expression": "'2024-01-01 00:00:00'"},
        "related": {"erste_menge": first_quantity},
    }
    records = await _sales_by_id(url, tmp_path, sale)
    assert records["101"].problem is None
    assert isinstance(records["101"].fields["erste_menge"], Decimal)
    problem = records["102"].problem
    assert problem is not None and "column 'erste_menge'" in str(problem)
    # Left out of the payload, in the header and in the line alike.
    assert records["102"].fields["erste_menge"] is None
    assert records["102"].fields["lines"][0]["menge"] is None


async def test_the_plain_soft_delete_setting_holds_under_read(
    foreign_url: str, tmp_path: Path
) -> None:
    customer = {
        "table": "kunde",
        "primary_key": "kdnr",
        "soft_delete": "aktiv",  # here: true marks deleted (a flag read as the plain setting)
        "read": {"change": {"column": "geaendert_am", "type": "text", "format": "%d.%m.%Y %H:%M"}},
    }
    adapter = adapter_for(foreign_url, tmp_path, customer=customer)
    await adapter.open()
    try:
        records = {r.id: r.deleted for r in await read_all(adapter, Entity.CUSTOMER)}
    finally:
        await adapter.close()
    assert records == {"1": True, "2": True, "3": True, "4": True, "5": True, "6": False}


async def test_a_change_expression_the_newer_of_header_and_positions(
    erp_url: str, tmp_path: Path
) -> None:
    metadata = sa.MetaData()
    head = sa.Table(
        "kopf",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("geaendert", sa.DateTime, nullable=False),
    )
    line = sa.Table(
        "zeile",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kopf", sa.ForeignKey("kopf.id"), nullable=False),
        sa.Column("geaendert", sa.DateTime, nullable=False),
    )
    day = dt.datetime(2024, 1, 1)
    engine = sa.create_engine(erp_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(head), [{"id": n, "geaendert": day} for n in (1, 2, 3)])
        connection.execute(
            sa.insert(line), [{"id": n, "kopf": n, "geaendert": day} for n in (1, 2)]
        )
        # Only a position of order 2 changed, a month later; its header did not.
        connection.execute(
            sa.update(line).where(line.c.id == 2).values(geaendert=dt.datetime(2024, 2, 1))
        )
    engine.dispose()
    newest = "(SELECT max(z.geaendert) FROM zeile z WHERE z.kopf = kopf.id)"
    expression = f"CASE WHEN {newest} > kopf.geaendert THEN {newest} ELSE kopf.geaendert END"
    sale = {"table": "kopf", "read": {"change": {"expression": expression}}}
    adapter = adapter_for(erp_url, tmp_path, sale=sale)
    await adapter.open()
    try:
        changed = await read_all(adapter, Entity.SALE, dt.datetime(2024, 1, 15, tzinfo=dt.UTC))
        everything = await read_all(adapter, Entity.SALE)
    finally:
        await adapter.close()
    assert [(r.id, r.updated_at) for r in changed] == [
        ("2", dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    ]
    assert [r.id for r in everything] == ["1", "3", "2"]


async def test_checksum_mode_with_text_keys(
    foreign_url: str, tmp_path: Path, state: StateStore
) -> None:
    customer = {
        "table": "kunde",
        "primary_key": "kundennummer",  # text: the scan keeps the keys it saw in a set
        "read": {
            "checksum": {
                "children": [{"table": "anschrift", "foreign_key": "kdnr", "parent_column": "kdnr"}]
            }
        },
    }
    adapter = adapter_for(foreign_url, tmp_path, state, customer=customer)
    await adapter.open()
    try:
        first = await read_all(adapter, Entity.CUSTOMER)
        assert sorted(r.id for r in first) == [f"K-1000{n}" for n in range(1, 7)]
        since = max(r.updated_at for r in first) + dt.timedelta(microseconds=1)
        engine = sa.create_engine(foreign_url)
        with engine.begin() as connection:
            kunde, anschrift = foreign_erp.KUNDE, foreign_erp.ANSCHRIFT
            connection.execute(sa.delete(foreign_erp.KOMMUNIKATION).where(sa.true()))
            connection.execute(sa.delete(foreign_erp.BEZIEHUNG).where(sa.true()))
            connection.execute(sa.delete(foreign_erp.ANSPRECHPARTNER).where(sa.true()))
            connection.execute(sa.delete(kunde).where(kunde.c.kdnr == 6))
            connection.execute(sa.update(anschrift).where(anschrift.c.id == 3).values(ort="Bonn"))
        engine.dispose()
        changes = await read_all(adapter, Entity.CUSTOMER, since)
    finally:
        await adapter.close()
    assert sorted((r.id, r.deleted) for r in changes) == [("K-10002", False), ("K-10006", True)]
