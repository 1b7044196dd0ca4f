"""SQLite values stored in another storage class than their column's, on the plain-table read:
numbers become `Decimal` exactly as their text would, an unreadable one fails its record alone
(named, in the header or in a line), and a row with none is read untouched."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic.quirks import (
    Unreadable,
    any_unreadable,
    made_since,
    to_decimal,
    unreadable_mark,
)
from connector.adapter import NativeRecord
from connector.model import Entity
from tests.erp_generic.conftest import build_adapter, fill_sample
from tests.erp_generic.test_erp_foreign_read import read_all


@pytest.mark.parametrize(
    "stored", [0, 7, -42, 10**30, -(10**30), 2.5, 1e-7, "12.50", " 3 ", b"1500.5", bytearray(b"2")]
)
def test_a_stored_number_reads_as_the_decimal_of_its_text(stored: object):
    text = bytes(stored).decode() if isinstance(stored, bytes | bytearray) else str(stored)
    expected = Decimal(text.strip())
    value = to_decimal(stored)
    assert isinstance(value, Decimal)
    assert value.as_tuple() == expected.as_tuple()  # the same digits and exponent, not just ==


def test_a_number_read_again_has_the_digits_it_had_the_first_time():
    """The kept `Decimal`s: a whole number, a REAL equal to it and a negative zero each keep
    their own digits, read first or after the others."""
    stored: list[object] = [1, 1.0, 0.0, -0.0, 0, 2.5, 10**30, float(10**30), 0.1 + 0.2]
    for value in [*stored, *reversed(stored), *stored]:
        got = to_decimal(value)
        assert isinstance(got, Decimal)
        assert got.as_tuple() == Decimal(str(value)).as_tuple(), value


def test_booleans_and_non_numbers_stay_unreadable():
    assert isinstance(to_decimal(True), Unreadable)
    assert isinstance(to_decimal("abc"), Unreadable)
    assert any_unreadable({"a": 1, "b": Unreadable("x")}, ("a", "b"))
    assert not any_unreadable({"a": 1, "b": None}, ("a", "b", "missing"))


def test_a_mark_tells_whether_a_marker_was_made_since():
    """What lets the SQL reader skip looking at the values of a page without a marker."""
    mark = unreadable_mark()
    assert to_decimal(5) == Decimal(5) and to_decimal("1.5") == Decimal("1.5")
    assert not made_since(mark)
    mark = unreadable_mark()
    to_decimal("abc")
    assert made_since(mark)


def values(record: NativeRecord, column: str) -> list[Any]:
    """The column's value in the record's header, or in each of its lines."""
    if column in record.fields:
        return [record.fields[column]]
    return [line[column] for line in record.fields["lines"]]


@pytest.mark.parametrize(
    ("entity", "table", "key", "column", "named"),
    [
        (Entity.CUSTOMER, "customers", "id", "credit_limit", "column 'credit_limit'"),
        (Entity.SALE, "sales_order_lines", "order_id", "unit_price", "line 1: column 'unit_price'"),
    ],
    ids=["header", "line"],
)
async def test_an_unreadable_value_fails_its_record_alone(
    tmp_path: Path, entity: Entity, table: str, key: str, column: str, named: str
) -> None:
    url = f"sqlite:///{tmp_path / 'sample.db'}"
    fill_sample(url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        first, second = [
            row[0]
            for row in connection.exec_driver_sql(
                f"SELECT DISTINCT {key} FROM {table} ORDER BY {key} LIMIT 2"
            )
        ]
        connection.exec_driver_sql(
            f"UPDATE {table} SET {column} = X'FF00' WHERE {key} = ?", (first,)
        )
        connection.exec_driver_sql(
            f"UPDATE {table} SET {column} = CAST('9.90' AS BLOB) WHERE {key} = ?", (second,)
        )
    engine.dispose()
    adapter = build_adapter(url, tmp_path)
    await adapter.open()
    try:
        records = {r.id: r for r in await read_all(adapter, entity)}
    finally:
        await adapter.close()
    failed = records[str(first)]
    assert failed.problem is not None and named in str(failed.problem)
    # The failure's payload stays JSON: the unreadable value is left out, not passed on.
    assert all(value is None for value in values(failed, column))
    read = records[str(second)]
    assert read.problem is None
    assert set(values(read, column)) == {Decimal("9.90")}
    untouched = [r for r in records.values() if r.id not in (str(first), str(second))]
    assert untouched and all(r.problem is None for r in untouched)
