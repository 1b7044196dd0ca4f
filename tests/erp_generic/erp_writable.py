"""A foreign ERP schema for the write tests, written here and never altered by the product.

German-style names; NOT NULL columns with defaults the mapping never fills; a customer number
(`kdnr`, NOT NULL, UNIQUE, no default) the ERP assigns; order numbers only the ERP's import job
assigns; an order import table (`auftrag_import`) that job processes. `run_import_job` plays the
ERP's job: it turns new staging rows into orders, or refuses them with its own error text.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

METADATA = sa.MetaData()
KUNDE = sa.Table(
    "kunde",
    METADATA,
    sa.Column("kd_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kdnr", sa.String(20), nullable=False, unique=True),
    sa.Column("name1", sa.String(80), nullable=False),
    sa.Column("kundengruppe", sa.String(10), nullable=False, server_default="STD"),
    sa.Column("waehrung", sa.String(3), nullable=False, server_default="EUR"),
    sa.Column("email", sa.String(120), unique=True),
    sa.Column("crm_ref", sa.String(64)),
    sa.Column("geaendert", sa.DateTime, nullable=False),
)
AUFTRAG = sa.Table(
    "auftrag",
    METADATA,
    sa.Column("auf_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("aufnr", sa.String(20), nullable=False, unique=True),
    sa.Column("kd_id", sa.ForeignKey(KUNDE.c.kd_id), nullable=False),
    sa.Column("betrag", sa.Numeric(12, 2), nullable=False),
    sa.Column("geaendert", sa.DateTime, nullable=False),
)
AUFTRAG_IMPORT = sa.Table(
    "auftrag_import",
    METADATA,
    sa.Column("imp_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schluessel", sa.String(64), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="NEU"),
    sa.Column("kd_id", sa.Integer),
    sa.Column("summe", sa.Numeric(12, 2)),
    sa.Column("auf_id", sa.Integer),
    sa.Column("fehler", sa.String(200)),
)

#: The `settings.entities` block: customers written into the table (number from an SQL
#: expression, the CRM's id kept in `crm_ref`), orders only through the import table.
ENTITIES: dict[str, Any] = {
    "customer": {
        "table": "kunde",
        "primary_key": "kd_id",
        "updated_at": "geaendert",
        "write": "table",
        # Portable on SQLite, PostgreSQL and MariaDB; the real ERP would use its own counter.
        "assign": {
            "column": "kdnr",
            "expression": "SELECT COALESCE(MAX(kd_id), 0) + 10001 FROM kunde",
        },
        "reference": {"column": "crm_ref", "value": "source_id"},
    },
    "sale": {
        "table": "auftrag",
        "primary_key": "auf_id",
        "updated_at": "geaendert",
        "write": "staging",
        "staging": {
            "table": "auftrag_import",
            "primary_key": "imp_id",
            "key_column": "schluessel",
            "status_column": "status",
            "new_status": None,
            "done_statuses": ["OK"],
            "failed_statuses": ["FEHLER"],
            "result_id_column": "auf_id",
            "error_column": "fehler",
            "columns": {"betrag": "summe"},
        },
    },
}

MAPPINGS = {
    "customer": {
        "entity": "customer",
        "fields": [
            {
                "canonical": "number",
                "native": "kdnr",
                "transform": "string",
                "owner": "erp_generic",
            },
            {"canonical": "name", "native": "name1", "required": True},
            {"canonical": "email", "native": "email"},
            {"canonical": "currency", "native": "waehrung"},
        ],
    },
    "sale": {
        "entity": "sale",
        "fields": [
            {"canonical": "number", "native": "aufnr", "owner": "erp_generic"},
            {
                "canonical": "customer",
                "native": "kd_id",
                "transform": "string",
                "ref": "customer",
                "required": True,
            },
            {
                "canonical": "amount",
                "native": "betrag",
                "transform": {"decimal": {"output": "decimal"}},
            },
        ],
    },
}


def create_foreign_erp(url: str) -> None:
    engine = sa.create_engine(url)
    METADATA.create_all(engine)
    stamp = dt.datetime(2024, 5, 1, 8, 0)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(KUNDE),
            [
                {
                    "kdnr": "10001",
                    "name1": "Altkunde GmbH",
                    "email": "alt@example.de",
                    "geaendert": stamp,
                },
            ],
        )
    engine.dispose()


def write_setup(
    directory: Path, url: str, routes: list[dict[str, Any]], entities: dict[str, Any] = ENTITIES
) -> Path:
    """config.yaml and the erp_generic mapping files for the foreign ERP, in `directory`."""
    folder = directory / "mappings" / "erp_generic"
    folder.mkdir(parents=True, exist_ok=True)
    for entity, mapping in MAPPINGS.items():
        (folder / f"{entity}.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    config = {
        "version": 1,
        "state": {"url": f"sqlite:///{directory / 'state.db'}"},
        "mappings": "mappings",
        "systems": {
            "erp": {"adapter": "erp_generic", "settings": {"url": url, "entities": entities}},
            "crm": {"adapter": "memory", "settings": {}},
        },
        "routes": routes,
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_import_job(url: str) -> int:
    """The ERP's own import job: new staging rows become orders, numbered by the ERP; a row
    without a positive amount is refused with the job's error text. Returns rows processed."""
    engine = sa.create_engine(url)
    done = 0
    try:
        with engine.begin() as connection:
            rows = (
                connection.execute(
                    sa.select(AUFTRAG_IMPORT).where(AUFTRAG_IMPORT.c.status == "NEU")
                )
                .mappings()
                .all()
            )
            for row in rows:
                done += 1
                where = AUFTRAG_IMPORT.c.imp_id == row["imp_id"]
                if row["summe"] is None or Decimal(row["summe"]) <= 0:
                    connection.execute(
                        sa.update(AUFTRAG_IMPORT)
                        .where(where)
                        .values(status="FEHLER", fehler="Auftragssumme muss positiv sein")
                    )
                    continue
                count = connection.execute(
                    sa.select(sa.func.count()).select_from(AUFTRAG)
                ).scalar_one()
                order = connection.execute(
                    sa.insert(AUFTRAG).values(
                        aufnr=f"A-{count + 1:05d}",
                        kd_id=row["kd_id"],
                        betrag=row["summe"],
                        geaendert=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    )
                ).inserted_primary_key
                assert order is not None
                connection.execute(
                    sa.update(AUFTRAG_IMPORT).where(where).values(status="OK", auf_id=order[0])
                )
    finally:
        engine.dispose()
    return done


def rows(url: str, table: sa.Table) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            return [dict(row) for row in found.mappings()]
    finally:
        engine.dispose()
