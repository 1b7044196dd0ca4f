"""CRM → Tryton through Tryton's own API, with the shipped preset (examples/tryton/), on
Tryton's PostgreSQL and SQLite backends (its SQLite keeps decimals as BLOBs): a won deal
becomes a Tryton sale, quoted and confirmed by Tryton, numbered by Tryton, its number back on
the deal; Tryton's refusals are record failures with Tryton's message; existing sales, their
lines, stock moves and invoices stay exactly as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from adapters.erp_generic.api.tryton import TrytonWriter
from adapters.erp_generic.settings import ApiSettings
from connector.adapter import NativeWrite
from connector.config import load_config
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.store import open_store
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.tryton.conftest import Tryton

pytestmark = [pytest.mark.tryton, pytest.mark.postgres]

PRESET = Path(__file__).parents[2] / "examples" / "tryton"


def preset_config(tryton: Tryton, directory: Path) -> Path:
    """The shipped preset, with the in-memory CRM and the state kept in `directory`."""
    config = yaml.safe_load((PRESET / "config.yaml").read_text())
    config["mappings"] = str(PRESET / "mappings")
    config["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    config["systems"]["crm"] = {"adapter": "memory", "settings": {}}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def environment(tryton: Tryton) -> dict[str, str]:
    return {
        "TRYTON_DATABASE_URL": tryton.database_url,
        "TRYTON_URL": tryton.url,
        "TRYTON_DATABASE": tryton.database,
        "TRYTON_USER": "admin",
        "TRYTON_PASSWORD": "admin",
    }


def snapshot(url: str, sales: list[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to `sales`: the sales, their lines, the stock moves and invoice
    lines Tryton made from those lines, and those invoices."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    try:
        with engine.connect() as connection:
            names = ["sale_sale", "sale_line", "stock_move", "account_invoice"]
            names.append("account_invoice_line")
            table = {name: sa.Table(name, meta, autoload_with=connection) for name in names}

            def rows(name: str, condition: Any) -> list[tuple[Any, ...]]:
                # `*`, not the typed columns: the stored values as they are (Tryton's SQLite
                # backend keeps decimals as BLOBs), compared byte for byte.
                star = sa.select(sa.text("*")).select_from(table[name])
                query = star.where(condition).order_by(table[name].c.id)
                return [tuple(row) for row in connection.execute(query)]

            taken = {
                "sale_sale": rows("sale_sale", table["sale_sale"].c.id.in_(sales)),
                "sale_line": rows("sale_line", table["sale_line"].c.sale.in_(sales)),
            }
            origins = [f"sale.line,{row[0]}" for row in taken["sale_line"]]
            taken["stock_move"] = rows("stock_move", table["stock_move"].c.origin.in_(origins))
            lines = table["account_invoice_line"]
            taken["account_invoice_line"] = rows(
                "account_invoice_line", lines.c.origin.in_(origins)
            )
            invoices = sa.select(lines.c.invoice).where(lines.c.origin.in_(origins))
            taken["account_invoice"] = rows(
                "account_invoice", table["account_invoice"].c.id.in_(invoices)
            )
            return taken
    finally:
        engine.dispose()


async def test_a_won_deal_becomes_a_confirmed_tryton_sale_numbered_by_tryton(
    tryton: Tryton, tmp_path: Path
) -> None:
    existing = [tryton.made["sales"]["confirmed"], tryton.made["sales"]["draft"]]
    before = snapshot(tryton.database_url, existing)
    assert before["stock_move"] and before["account_invoice_line"]  # Tryton processed sale 1
    config = load_config(preset_config(tryton, tmp_path), environment(tryton))
    crm = MemoryAdapter("crm", MemorySettings())

    async def run(route: str) -> Any:
        async with Runtime.open(config, crm=crm) as runtime:
            return await SyncService(runtime).run_route(route)

    await run("tryton-to-crm")
    # Only customers became companies (not the company's own party), with e-mail and address
    # from Tryton's other tables; the draft sale, never edited, was read too.
    companies = {row.fields["name"]: row.fields for row in crm.records(Entity.CUSTOMER)}
    assert set(companies) == {"Kunde Eins", "Kunde Zwei"}
    assert companies["Kunde Eins"]["email"] == "kunde1@example.de"
    assert companies["Kunde Zwei"]["billing_address.city"] == "Wien"
    deals = crm.records(Entity.SALE)
    assert len(deals) == 2
    assert {line["sku"] for deal in deals for line in deal.fields.get("lines") or []} == {
        "P-0001",
        "P-0002",
    }
    [(company, _)] = [
        (row.id, row.fields)
        for row in crm.records(Entity.CUSTOMER)
        if row.fields["name"] == "Kunde Eins"
    ]
    lines = [{"sku": "P-0002", "quantity": "2", "unit_price": "95.00", "description": "Rabatt"}]
    won = crm.put(
        Entity.SALE, {"title": "CRM-Deal", "stage": "won", "customer": company, "lines": lines}
    )
    crm.put(Entity.SALE, {"title": "Offen", "stage": "open", "customer": company})
    unknown = [{"sku": "P-9999", "quantity": "1", "unit_price": "1"}]
    refused = crm.put(
        Entity.SALE, {"title": "Falsch", "stage": "won", "customer": company, "lines": unknown}
    )

    summary = await run("crm-to-tryton")
    assert (summary.counts[Entity.SALE].created, summary.counts[Entity.SALE].failed) == (1, 1)
    engine = sa.create_engine(tryton.database_url)
    try:
        with engine.connect() as connection:
            sales = connection.execute(
                sa.text(
                    "SELECT id, number, state, reference, description FROM sale_sale ORDER BY id"
                )
            ).all()
            [new] = [row for row in sales if row.id not in existing]
            # Tryton numbered it from its sequence and its workflow moved it on.
            assert new.number and new.number != tryton.made["confirmed_number"]
            assert new.state == "processing" and new.description == "CRM-Deal"
            [line] = connection.execute(
                sa.text("SELECT id, product, unit FROM sale_line WHERE sale = :s"),
                {"s": new.id},
            ).all()
            assert line.product == tryton.made["products"]["P-0002"] and line.unit is not None
            # Confirming made Tryton plan the shipment: a stock move for the line.
            moves = connection.execute(
                sa.text("SELECT count(*) FROM stock_move WHERE origin = :o"),
                {"o": f"sale.line,{line.id}"},
            ).scalar_one()
            assert moves == 1
    finally:
        engine.dispose()
    store = open_store(config.state.url, config.base_dir)
    try:
        [failure] = store.failures()
        assert failure.external_id == refused and "P-9999" in failure.message
    finally:
        store.close()

    await run("tryton-to-crm")
    deal = next(row for row in crm.records(Entity.SALE) if row.id == won)
    assert deal.fields["number"] == new.number
    # A deal that came from a confirmed Tryton sale is edited in the CRM, with new lines: the
    # reverse route leaves the sale as it is and says why.
    [from_tryton] = [row.id for row in crm.records(Entity.SALE) if row.fields.get("number") == "1"]
    crm.put(Entity.SALE, {"title": "Umbenannt", "lines": lines}, from_tryton)
    summary = await run("crm-to-tryton")
    assert summary.counts[Entity.SALE].updated == 0
    assert snapshot(tryton.database_url, existing) == before
    store = open_store(config.state.url, config.base_dir)
    try:
        codes = {f.external_id: f.code for f in store.failures()}
        assert codes == {from_tryton: "ERP_OWNS_RECORD", refused: "UNKNOWN_PRODUCT"}
    finally:
        store.close()


async def test_tryton_refusals_are_record_failures_with_its_message(tryton: Tryton) -> None:
    settings = ApiSettings(
        plugin="tryton", url=tryton.url, database=tryton.database, user="admin", password="admin"
    )
    writer = TrytonWriter(settings)
    await writer.open()
    try:
        # A party that does not exist: Tryton's own error, for this record only.
        bad = NativeWrite("k1", None, {"party": "999999", "description": "x"})
        party = str(tryton.made["customers"][1])
        good = NativeWrite("k2", None, {"party": party, "description": "ohne Zeilen"})
        results = await writer.upsert(Entity.SALE, [bad, good], {"workflow": []})
        assert results[0].error is not None and results[0].external_id is None
        assert results[1].ok and results[1].created and results[1].external_id
        # Without lines Tryton refuses to quote: its message, and no half-made draft is left.
        empty = NativeWrite("k3", None, {"party": party, "description": "leer"})
        [refused] = await writer.upsert(Entity.SALE, [empty], {})
        assert refused.error is not None and refused.error.code == "UserError"
        assert "the ERP refused it" in str(refused.error)
        # A party with its e-mail and address, created in one call.
        fields = {"name": "Neu GmbH", "email": "neu@example.de", "street": "Ring 1", "city": "Graz"}
        [party_result] = await writer.upsert(Entity.CUSTOMER, [NativeWrite("k4", None, fields)], {})
        assert party_result.ok and party_result.external_id
    finally:
        await writer.close()
    engine = sa.create_engine(tryton.database_url)
    try:
        with engine.connect() as connection:
            drafts = connection.execute(
                sa.text("SELECT count(*) FROM sale_sale WHERE description = 'leer'")
            ).scalar_one()
            assert drafts == 0
            party_id = int(party_result.external_id)
            mechanisms = connection.execute(
                sa.text("SELECT type, value FROM party_contact_mechanism WHERE party = :p"),
                {"p": party_id},
            ).all()
            assert [tuple(m) for m in mechanisms] == [("email", "neu@example.de")]
            cities = (
                connection.execute(
                    sa.text("SELECT city FROM party_address WHERE party = :p"), {"p": party_id}
                )
                .scalars()
                .all()
            )
            assert cities == ["Graz"]
    finally:
        engine.dispose()
