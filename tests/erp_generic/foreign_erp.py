"""A foreign ERP schema written for these tests, unlike the sample ERP in every way that matters.

German-style names; customers and suppliers in one table (`kundenart`); the change date of a
customer kept as text `dd.mm.yyyy hh:mm` (which does not sort); a contact's change time as
ISO text that may be NULL; e-mail and phone in a communication table, addresses in their own
table; order numbers the ERP assigned; order positions with no timestamp at all; NOT NULL
columns with defaults; product codes in an article table the positions point at by number.
Nothing here is shaped like the connector's canonical model or its sample ERP.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

METADATA = sa.MetaData()

KUNDE = sa.Table(
    "kunde",
    METADATA,
    sa.Column("kdnr", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kundennummer", sa.String(20), nullable=False, unique=True),
    sa.Column("firma", sa.String(80), nullable=False),
    sa.Column("kundenart", sa.String(1), nullable=False, server_default="K"),
    sa.Column("aktiv", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("land", sa.String(2), nullable=False, server_default="DE"),
    sa.Column("geaendert_am", sa.String(16)),  # '31.01.2024 09:15'
)
KOMMUNIKATION = sa.Table(
    "kommunikation",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kdnr", sa.ForeignKey("kunde.kdnr"), nullable=False),
    sa.Column("art", sa.String(10), nullable=False),  # 'email', 'telefon', 'web'
    sa.Column("wert", sa.String(120), nullable=False),
    sa.Column("reihenfolge", sa.Integer, nullable=False, server_default="10"),
)
ANSCHRIFT = sa.Table(
    "anschrift",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kdnr", sa.ForeignKey("kunde.kdnr"), nullable=False),
    sa.Column("rechnung", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("strasse", sa.String(80)),
    sa.Column("ort", sa.String(80)),
)
ANSPRECHPARTNER = sa.Table(
    "ansprechpartner",
    METADATA,
    sa.Column("apnr", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kdnr", sa.ForeignKey("kunde.kdnr"), nullable=False),
    sa.Column("vorname", sa.String(40)),
    sa.Column("nachname", sa.String(40), nullable=False),
    sa.Column("geaendert", sa.String(19)),  # ISO text '2024-01-31T09:15:00', NULL for drafts
)
BEZIEHUNG = sa.Table(  # who works for whom (Tryton's party_relation, in German)
    "beziehung",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("apnr", sa.ForeignKey("ansprechpartner.apnr"), nullable=False),
    sa.Column("kdnr", sa.ForeignKey("kunde.kdnr"), nullable=False),
    sa.Column("typ", sa.String(20), nullable=False),
)
ARTIKEL = sa.Table(
    "artikel",
    METADATA,
    sa.Column("artnr", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("artikelcode", sa.String(20), nullable=False),
)
AUFTRAG = sa.Table(
    "auftrag",
    METADATA,
    sa.Column("auftragsnr", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("belegnr", sa.String(20), nullable=False),  # assigned by the ERP
    sa.Column("kdnr", sa.ForeignKey("kunde.kdnr"), nullable=False),
    sa.Column("datum", sa.Date, nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="offen"),
)
AUFTRAGSPOS = sa.Table(
    "auftragspos",
    METADATA,
    sa.Column("posid", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("auftragsnr", sa.ForeignKey("auftrag.auftragsnr"), nullable=False),
    sa.Column("posnr", sa.Integer, nullable=False),
    sa.Column("artnr", sa.ForeignKey("artikel.artnr"), nullable=False),
    sa.Column("menge", sa.Numeric(12, 3), nullable=False),
    sa.Column("preis", sa.Numeric(12, 2), nullable=False),
)

CUSTOMERS = 6  # kdnr 1..6; 5 is a supplier, 6 is inactive


def fill(connection: sa.Connection) -> None:
    """A handful of rows per table; every row is written here, by hand."""
    kunden: list[dict[str, Any]] = []
    for n in range(1, CUSTOMERS + 1):
        row: dict[str, Any] = {
            "kdnr": n,
            "kundennummer": f"K-{10000 + n}",
            "firma": f"Firma {n} GmbH",
            "geaendert_am": f"{n:02d}.0{n % 9 + 1}.2024 0{n}:30",
        }
        if n == 5:
            row["kundenart"] = "L"
        if n == 6:
            row["aktiv"] = False
        kunden.append(row)
    for row in kunden:  # one by one: rows 1-4 leave the defaulted columns to the database
        connection.execute(sa.insert(KUNDE), row)
    connection.execute(
        sa.insert(KOMMUNIKATION),
        [
            {"id": 1, "kdnr": 1, "art": "telefon", "wert": "+49 30 1111", "reihenfolge": 10},
            {"id": 2, "kdnr": 1, "art": "email", "wert": "zweite@firma1.de", "reihenfolge": 20},
            {"id": 3, "kdnr": 1, "art": "email", "wert": "info@firma1.de", "reihenfolge": 5},
            {"id": 4, "kdnr": 2, "art": "web", "wert": "https://firma2.de", "reihenfolge": 1},
            {"id": 5, "kdnr": 2, "art": "email", "wert": "kontakt@firma2.de", "reihenfolge": 1},
        ],
    )
    connection.execute(
        sa.insert(ANSCHRIFT),
        [
            {"id": 1, "kdnr": 1, "rechnung": False, "strasse": "Lagerweg 1", "ort": "Hamburg"},
            {"id": 2, "kdnr": 1, "rechnung": True, "strasse": "Hauptstr. 5", "ort": "Berlin"},
            {"id": 3, "kdnr": 2, "rechnung": True, "strasse": "Ring 9", "ort": "Köln"},
        ],
    )
    connection.execute(
        sa.insert(ANSPRECHPARTNER),
        [
            {"apnr": 1, "kdnr": 1, "vorname": "Anna", "nachname": "Albers",
             "geaendert": "2024-03-01T10:00:00"},
            {"apnr": 2, "kdnr": 1, "vorname": "Bernd", "nachname": "Bauer", "geaendert": None},
            {"apnr": 3, "kdnr": 2, "vorname": "Cora", "nachname": "Claus",
             "geaendert": "2024-02-01T08:00:00"},
            {"apnr": 4, "kdnr": 6, "vorname": "Dora", "nachname": "Dietz",
             "geaendert": "2024-04-01T12:00:00"},
        ],
    )  # fmt: skip
    connection.execute(
        sa.insert(BEZIEHUNG),
        [
            {"id": 1, "apnr": 1, "kdnr": 2, "typ": "kunde_von"},
            {"id": 2, "apnr": 1, "kdnr": 1, "typ": "arbeitgeber"},
            {"id": 3, "apnr": 3, "kdnr": 4, "typ": "arbeitgeber"},
        ],
    )
    connection.execute(
        sa.insert(ARTIKEL), [{"artnr": n, "artikelcode": f"P-{n:04d}"} for n in (17, 18, 19)]
    )
    connection.execute(
        sa.insert(AUFTRAG),
        [
            {"auftragsnr": 100 + n, "belegnr": f"AB-2024-{n:03d}", "kdnr": 1 + n % 2,
             "datum": dt.date(2024, 1, n)}
            for n in range(1, 5)
        ],
    )  # fmt: skip
    connection.execute(
        sa.insert(AUFTRAGSPOS),
        [
            {"posid": 1000 + 10 * n + p, "auftragsnr": 100 + n, "posnr": p, "artnr": 16 + p,
             "menge": Decimal(p), "preis": Decimal("9.50")}
            for n in range(1, 5)
            for p in (1, 2)
        ],
    )  # fmt: skip


def create(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        METADATA.create_all(engine)
        with engine.begin() as connection:
            fill(connection)
    finally:
        engine.dispose()


def schema_snapshot(url: str) -> dict[str, Any]:
    """Everything DDL could change: tables, views, columns (type, null, default), indexes,
    foreign keys and, on SQLite, every schema object including triggers."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables = sorted(inspector.get_table_names())
            shot: dict[str, Any] = {"tables": tables, "views": inspector.get_view_names()}
            for table in tables:
                shot[table] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in inspector.get_columns(table)
                    ],
                    "indexes": inspector.get_indexes(table),
                    "foreign_keys": inspector.get_foreign_keys(table),
                }
            if connection.dialect.name == "sqlite":
                shot["objects"] = connection.exec_driver_sql(
                    "SELECT type, name, sql FROM sqlite_master ORDER BY name"
                ).all()
            elif connection.dialect.name == "postgresql":
                # Only this test's schema: other tests share the database.
                shot["triggers"] = connection.exec_driver_sql(
                    "SELECT t.tgname, c.relname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
                ).all()
            else:
                shot["triggers"] = connection.execute(
                    sa.text(
                        "SELECT trigger_name FROM information_schema.triggers "
                        "WHERE event_object_schema = DATABASE() AND event_object_table IN :t"
                    ).bindparams(sa.bindparam("t", tables, expanding=True))
                ).all()
    finally:
        engine.dispose()
    return shot


#: The `entities` block an integrator would write for this ERP (customers, contacts, sales).
ENTITIES: dict[str, Any] = {
    "customer": {
        "table": "kunde",
        "primary_key": "kdnr",
        "read": {
            "filter": "kundenart = 'K'",
            "deleted_when": "aktiv = false",
            "change": {"column": "geaendert_am", "type": "text", "format": "%d.%m.%Y %H:%M"},
            "related": {
                "email": {
                    "table": "kommunikation",
                    "match": {"kdnr": "kdnr"},
                    "where": {"art": "email"},
                    "order_by": ["reihenfolge"],
                    "column": "wert",
                },
                "telefon": {
                    "table": "kommunikation",
                    "match": {"kdnr": "kdnr"},
                    "where": {"art": "telefon"},
                    "column": "wert",
                },
                "rechnung_strasse": {
                    "table": "anschrift",
                    "match": {"kdnr": "kdnr"},
                    "where": {"rechnung": True},
                    "column": "strasse",
                },
                "rechnung_ort": {
                    "table": "anschrift",
                    "match": {"kdnr": "kdnr"},
                    "where": {"rechnung": True},
                    "column": "ort",
                },
            },
            "history": {
                "query": (
                    "SELECT a.kdnr AS customer_id, SUM(p.menge * p.preis) AS umsatz, "
                    "MAX(a.datum) AS letzter_auftrag, COUNT(DISTINCT a.auftragsnr) AS auftraege "
                    "FROM auftrag a JOIN auftragspos p ON p.auftragsnr = a.auftragsnr "
                    "WHERE a.kdnr IN :ids GROUP BY a.kdnr"
                )
            },
        },
    },
    "contact": {
        "table": "ansprechpartner",
        "primary_key": "apnr",
        "read": {
            # Only contacts of active customers, with their company's name: a join.
            "query": (
                "SELECT a.apnr, a.kdnr, a.vorname, a.nachname, k.firma, a.geaendert "
                "FROM ansprechpartner a JOIN kunde k ON k.kdnr = a.kdnr "
                "WHERE k.aktiv = true AND k.kundenart = 'K'"
            ),
            "change": {"column": "geaendert", "type": "text", "format": "%Y-%m-%dT%H:%M:%S"},
            # The employer's name through the relation table: two hops.
            "related": {
                "arbeitgeber": {
                    "table": "beziehung",
                    "match": {"apnr": "apnr"},
                    "where": {"typ": "arbeitgeber"},
                    "then": {"table": "kunde", "match": {"kdnr": "kdnr"}, "column": "firma"},
                }
            },
        },
    },
    "sale": {
        "table": "auftrag",
        "primary_key": "auftragsnr",
        "lines": {"table": "auftragspos", "primary_key": "posid", "foreign_key": "auftragsnr",
                  "order_by": "posnr"},
        "read": {
            "checksum": {},
            "line_related": {
                "artikelcode": {"table": "artikel", "match": {"artnr": "artnr"},
                                "column": "artikelcode"}
            },
        },
    },
}  # fmt: skip
