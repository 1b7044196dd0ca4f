"""`connector erp inspect` on the foreign test ERP: the proposal finds keys, change columns
(text formats guessed from the data), checksum mode where there is none, lines, references and
required columns — and the config and mapping files it writes sync as they are."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
import yaml

from adapters.erp_generic.inspection import choose, inspect_database
from tests.e2e.conftest import counts, run_cli
from tests.erp_generic import foreign_erp


def test_the_proposal_reads_the_schema(erp_url: str) -> None:
    url = erp_url
    foreign_erp.create(url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        chosen = choose(inspect_database(connection))
    engine.dispose()
    assert {e: p.name for e, p in chosen.items()} == {
        "customer": "kunde",
        "contact": "ansprechpartner",
        "sale": "auftrag",
    }
    customer = chosen["customer"]
    assert customer.change == {"column": "geaendert_am", "type": "text", "format": "%d.%m.%Y %H:%M"}
    assert customer.required == ["kundennummer", "firma"]  # land, aktiv have defaults
    assert chosen["contact"].change == {
        "column": "geaendert",
        "type": "text",
        "format": "%Y-%m-%dT%H:%M:%S",
    }
    assert chosen["sale"].change is None  # no change column: checksum mode
    assert ("auftragspos", "auftragsnr") in chosen["sale"].children


def test_what_inspect_writes_syncs_as_it_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    foreign_erp.create(url)
    before = foreign_erp.schema_snapshot(url)
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nsystems: {}\nroutes: []\n")
    run_cli(config, "erp", "inspect", "--url", url, "--out", str(tmp_path))
    proposal = yaml.safe_load((tmp_path / "erp-config.yaml").read_text())
    sale_mapping = (tmp_path / "mappings" / "erp_generic" / "sale.yaml").read_text()
    assert "{canonical: customer, native: kdnr, transform: string, ref: customer}" in sale_mapping
    proposal.update(
        {"version": 1, "state": {"url": "sqlite:///state.db"}, "mappings": "./mappings"}
    )
    proposal["systems"]["crm"] = {"adapter": "memory", "settings": {"path": "crm.json"}}
    entities = {"customer": {}, "contact": {}, "sale": {}}
    proposal["routes"] = [{"name": "in", "from": "erp", "to": "crm", "entities": entities}]
    config.write_text(yaml.safe_dump(proposal))
    run_cli(config, "check")
    out = run_cli(config, "sync", "in")
    assert [counts(out, "in", e)[0] for e in entities] == [6, 4, 4]
    out = run_cli(config, "sync", "in")
    assert [counts(out, "in", e)[:2] for e in entities] == [[0, 0]] * 3
    assert foreign_erp.schema_snapshot(url) == before


def test_a_write_date_that_may_be_null_is_proposed_with_the_creation_time(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'tryton.db'}")
    with engine.begin() as connection:  # the shape of Tryton's tables (party_party, sale_sale)
        connection.exec_driver_sql(
            "CREATE TABLE party_party (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "code VARCHAR, active BOOLEAN DEFAULT 1, create_date TIMESTAMP NOT NULL, "
            "write_date TIMESTAMP)"
        )
        connection.exec_driver_sql(
            "CREATE TABLE stamped (id INTEGER PRIMARY KEY, changed_epoch INTEGER NOT NULL)"
        )
        proposals = {p.name: p for p in inspect_database(connection)}
    engine.dispose()
    party = proposals["party_party"]
    assert party.entity == "customer"
    assert party.change == {"expression": "coalesce(write_date, create_date)"}
    assert party.required == ["name", "create_date"]
    assert proposals["stamped"].change == {"column": "changed_epoch", "type": "epoch"}
