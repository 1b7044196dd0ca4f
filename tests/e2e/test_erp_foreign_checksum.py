"""A foreign ERP with no change columns at all, synced to the in-memory CRM through the real CLI.

Customers and orders of `tests/erp_generic/foreign_erp.py` in checksum mode, configured only by
config and mapping files: a first sync, a second that changes nothing, a position-only change
seen as a change of its order, an address change seen as a change of its customer, a vanished
order deleted in the CRM per the route's delete policy, and the ERP's schema untouched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from connector.model import Entity
from connector.state.store import open_store
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.e2e.conftest import counts, erp_query, run_cli
from tests.erp_generic import foreign_erp

CUSTOMER_MAPPING = """\
entity: customer
fields:
  - {canonical: number, native: kundennummer, transform: strip}
  - {canonical: name, native: firma, required: true}
  - {canonical: email, native: email, transform: [strip, lower]}
  - {canonical: phone, native: telefon}
  - {canonical: billing_address.street, native: rechnung_strasse}
  - {canonical: billing_address.city, native: rechnung_ort}
"""
SALE_MAPPING = """\
entity: sale
fields:
  - {canonical: number, native: belegnr}
  - {canonical: customer, native: kdnr, transform: string, ref: customer, required: true}
  - {canonical: order_date, native: datum, transform: date}
lines:
  native: lines
  fields:
    - {canonical: sku, native: artikelcode}
    - {canonical: quantity, native: menge, transform: {decimal: {output: decimal}}}
    - {canonical: unit_price, native: preis, transform: {decimal: {output: decimal}}}
"""


def write_config(directory: Path) -> tuple[Path, MemorySettings]:
    customer = dict(foreign_erp.ENTITIES["customer"])
    customer["read"] = {
        **{k: v for k, v in customer["read"].items() if k not in ("change", "history")},
        "checksum": {
            "children": [
                {"table": "anschrift", "foreign_key": "kdnr"},
                {"table": "kommunikation", "foreign_key": "kdnr"},
            ]
        },
    }
    maps = directory / "maps" / "erp_generic"
    maps.mkdir(parents=True)
    (maps / "customer.yaml").write_text(CUSTOMER_MAPPING)
    (maps / "sale.yaml").write_text(SALE_MAPPING)
    crm_block = {"path": "crm.json"}
    config: dict[str, Any] = {
        "version": 1,
        "state": {"url": f"sqlite:///{directory / 'state.db'}"},
        "mappings": "./maps",
        "systems": {
            "erp": {
                "adapter": "erp_generic",
                "settings": {
                    "url": f"sqlite:///{directory / 'erp.db'}",
                    "entities": {"customer": customer, "sale": foreign_erp.ENTITIES["sale"]},
                },
            },
            "crm": {"adapter": "memory", "settings": crm_block},
        },
        "routes": [
            {
                "name": "erp-to-crm",
                "from": "erp",
                "to": "crm",
                "entities": {
                    "customer": {"match": ["number"], "deletes": "propagate"},
                    "sale": {"match": ["number"], "deletes": "propagate"},
                },
            }
        ],
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, MemorySettings.model_validate(crm_block)


def crm_records(directory: Path, settings: MemorySettings, entity: Entity) -> dict[str, Any]:
    adapter = MemoryAdapter("crm", settings, directory)
    asyncio.run(adapter.open())
    try:
        return {r.fields.get("number"): r for r in adapter.records(entity) if not r.deleted}
    finally:
        asyncio.run(adapter.close())


def test_checksum_mode_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    foreign_erp.create(url)
    before = foreign_erp.schema_snapshot(url)
    config, crm = write_config(tmp_path)

    out = run_cli(config, "sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[0] == 4  # created; the inactive one is not
    assert counts(out, "erp-to-crm", "sale")[0] == 4
    customers = crm_records(tmp_path, crm, Entity.CUSTOMER)
    assert customers["K-10001"].fields["email"] == "info@firma1.de"
    deals = crm_records(tmp_path, crm, Entity.SALE)
    assert [line["sku"] for line in deals["AB-2024-003"].fields["lines"]] == ["P-0017", "P-0018"]

    out = run_cli(config, "sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "sale")[:2] == [0, 0]
    assert counts(out, "erp-to-crm", "customer")[:2] == [0, 0]

    erp = tmp_path / "erp.db"
    erp_query(erp, "UPDATE auftragspos SET menge = 7 WHERE posid = 1032")
    erp_query(erp, "UPDATE anschrift SET ort = 'Potsdam' WHERE id = 2")
    erp_query(erp, "DELETE FROM auftragspos WHERE auftragsnr = 104")
    erp_query(erp, "DELETE FROM auftrag WHERE auftragsnr = 104")
    out = run_cli(config, "sync", "erp-to-crm")
    created, updated, _, deleted, *_ = counts(out, "erp-to-crm", "sale")
    assert (created, updated, deleted) == (0, 1, 1)
    assert counts(out, "erp-to-crm", "customer")[:2] == [0, 1]
    deals = crm_records(tmp_path, crm, Entity.SALE)
    assert "AB-2024-004" not in deals
    assert [str(x["quantity"]) for x in deals["AB-2024-003"].fields["lines"]] == ["1", "7"]
    customers = crm_records(tmp_path, crm, Entity.CUSTOMER)
    assert customers["K-10001"].fields["billing_address.city"] == "Potsdam"

    out = run_cli(config, "sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "sale")[:2] == [0, 0]
    assert foreign_erp.schema_snapshot(url) == before
    assert erp_query(erp, "SELECT count(*) FROM auftrag") == [(3,)]


def test_a_value_the_reader_cannot_convert_fails_its_record_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    foreign_erp.create(url)
    erp = tmp_path / "erp.db"
    # Decimals as BLOBs (Tryton's SQLite backend does this): read as numbers; bytes that are
    # not a number in one position of order 102: that order fails, naming the column.
    erp_query(erp, "UPDATE auftragspos SET preis = CAST('12.25' AS BLOB)")
    erp_query(erp, "UPDATE auftragspos SET menge = X'FF00' WHERE posid = 1021")
    config, crm = write_config(tmp_path)
    out = run_cli(config, "sync", "erp-to-crm", expect=1)  # 1: some records failed
    created, *_, failed = counts(out, "erp-to-crm", "sale")
    assert (created, failed) == (3, 1)
    deals = crm_records(tmp_path, crm, Entity.SALE)
    assert str(deals["AB-2024-001"].fields["lines"][0]["unit_price"]) == "12.25"
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    try:
        [failure] = store.failures(route="erp-to-crm")
    finally:
        store.close()
    assert (failure.external_id, failure.stage) == ("102", "read")
    assert "line 1: column 'menge'" in failure.message
