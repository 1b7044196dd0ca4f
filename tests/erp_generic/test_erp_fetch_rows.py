"""`reader.fetch_dicts` gives every value exactly as SQLAlchemy's own rows give it.

The reader takes rows from the driver's cursor and converts only the columns whose type has a
result processor; this holds it to SQLAlchemy's result, column type by column type, on
SQLite, PostgreSQL and MariaDB, for the tables as the adapter reflects them (SQLite's lenient
numbers, MariaDB's `TINYINT(1)` booleans) and for the ERP's own declared tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql

from adapters.erp_generic.coerce import naive_timestamp_columns
from adapters.erp_generic.reader import Converters, fetch_dicts
from adapters.erp_generic.sample import populate, sample_metadata
from adapters.erp_generic.schema import _reflected_column
from connector.timestamps import as_utc
from tests.erp_generic.conftest import SMALL

STAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

#: Every column type the sample ERP and the erp_generic tests store.
KINDS = sa.Table(
    "kinds",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("big", sa.BigInteger),
    sa.Column("code", sa.String(20)),
    sa.Column("currency", sa.CHAR(3)),
    sa.Column("note", sa.Text),
    sa.Column("money", sa.Numeric(14, 2)),
    sa.Column("quantity", sa.Numeric(14, 3)),
    sa.Column("ratio", sa.Float),
    sa.Column("day", sa.Date),
    sa.Column("at", STAMP),
    sa.Column("flag", sa.Boolean),
)

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "big": 2**40 + 1,
        "code": "C-1",
        "currency": "EUR",
        "note": "ünïcode ✓",
        "money": Decimal("1234.50"),
        "quantity": Decimal("0.125"),
        "ratio": 0.1,
        "day": dt.date(2024, 2, 29),
        "at": dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "flag": True,
    },
    {
        "id": 2,
        "big": -1,
        "code": "",
        "currency": "USD",
        "note": "",
        "money": Decimal("0.00"),
        "quantity": Decimal("-3.000"),
        "ratio": -2.5,
        "day": dt.date(1999, 12, 31),
        "at": dt.datetime(2024, 1, 2, 3, 4, 5),
        "flag": False,
    },
    {"id": 3},  # every other column NULL
]


def reflected(connection: sa.Connection, name: str) -> sa.Table:
    """The table as the adapter reflects it (its column hook swaps the quirky types in)."""
    metadata = sa.MetaData()
    event.listen(metadata, "column_reflect", _reflected_column)
    return sa.Table(name, metadata, autoload_with=connection)


def assert_same(connection: sa.Connection, statement: sa.Select[Any]) -> None:
    expected = [dict(row._mapping) for row in connection.execute(statement)]
    got = fetch_dicts(connection, statement)
    assert got == expected
    # Equal is not enough (1 == True == Decimal(1)): each value has SQLAlchemy's type too.
    assert [[type(v) for v in row.values()] for row in got] == [
        [type(v) for v in row.values()] for row in expected
    ]
    assert [list(row) for row in got] == [list(row) for row in expected]
    # A statement run again with its converters kept (keyset.py) reads the same, both times.
    kept: dict[Hashable, Converters] = {}
    for _ in range(2):
        again = fetch_dicts(connection, statement, kept=kept)
        assert again == expected
        assert [[type(v) for v in row.values()] for row in again] == [
            [type(v) for v in row.values()] for row in expected
        ]
    assert len(kept) <= 1


@pytest.fixture
def engine(erp_url: str) -> Iterator[sa.Engine]:
    made = sa.create_engine(erp_url)
    yield made
    made.dispose()


def test_every_column_type_reads_as_sqlalchemy_reads_it(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        KINDS.create(connection)
        connection.execute(KINDS.insert(), [{**dict.fromkeys(KINDS.c.keys()), **r} for r in ROWS])
    with engine.connect() as connection:
        for table in (KINDS, reflected(connection, "kinds")):
            assert_same(connection, sa.select(table).order_by(table.c.id))
            # A subset, labelled and reordered, and a raw (untyped) column.
            statement = sa.select(
                table.c.at.label("moment"),
                sa.type_coerce(table.c.money, sa.types.NullType()).label("raw_money"),
                table.c.id,
            ).order_by(table.c.id)
            assert_same(connection, statement)


def test_the_sample_erps_tables_read_as_sqlalchemy_reads_them(
    engine: sa.Engine, tmp_path: Path
) -> None:
    populate(engine, sample_metadata(), **SMALL)
    with engine.connect() as connection:
        for name in ("customers", "contacts", "products", "sales_orders", "sales_order_lines"):
            table = reflected(connection, name)
            assert_same(connection, sa.select(table).order_by(table.c.id))


def test_naive_timestamps_asked_for_come_back_aware_utc(engine: sa.Engine) -> None:
    """`aware` does in the fetch what the records' naive-to-UTC step did after it."""
    with engine.begin() as connection:
        KINDS.create(connection)
        connection.execute(KINDS.insert(), [{**dict.fromkeys(KINDS.c.keys()), **r} for r in ROWS])
    with engine.connect() as connection:
        table = reflected(connection, "kinds")
        statement = sa.select(table).order_by(table.c.id)
        expected = [dict(row._mapping) for row in connection.execute(statement)]
        for row in expected:
            if row["at"] is not None:
                row["at"] = as_utc(row["at"])
        got = fetch_dicts(connection, statement, naive_timestamp_columns(table))
    assert naive_timestamp_columns(table) == ("at",)
    assert got == expected
    assert got[0]["at"].tzinfo is dt.UTC and got[2]["at"] is None
    assert [row["at"].tzinfo for row in got[:2]] == [dt.UTC] * 2
