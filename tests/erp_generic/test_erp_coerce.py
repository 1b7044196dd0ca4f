"""Values from mapping files become what each column type binds, or a clear record error."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic.coerce import coerce_row, to_column_value
from connector.errors import RecordError

TABLE = sa.Table(
    "t",
    sa.MetaData(),
    sa.Column("stamp", sa.DateTime),
    sa.Column("stamp_tz", sa.DateTime(timezone=True)),
    sa.Column("day", sa.Date),
    sa.Column("flag", sa.Boolean),
    sa.Column("count", sa.Integer),
    sa.Column("amount", sa.Numeric(10, 2)),
    sa.Column("label", sa.String(20)),
)
UTC = dt.UTC


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("stamp", "2030-01-02T03:04:05Z", dt.datetime(2030, 1, 2, 3, 4, 5)),
        ("stamp", "2030-01-02T05:04:05+02:00", dt.datetime(2030, 1, 2, 3, 4, 5)),
        ("stamp_tz", "2030-01-02T03:04:05", dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("day", "2030-01-02", dt.date(2030, 1, 2)),
        ("day", dt.datetime(2030, 1, 2, 23, 0), dt.date(2030, 1, 2)),
        ("flag", "Yes", True),
        ("flag", 0, False),
        ("count", "12", 12),
        ("count", Decimal("3.0"), 3),
        ("amount", 10.1, Decimal("10.1")),
        ("amount", "99.999", Decimal("99.999")),
        ("label", 42, "42"),
        ("label", dt.date(2030, 1, 2), "2030-01-02"),
        ("label", None, None),
    ],
)
def test_values_convert(column: str, value: Any, expected: Any) -> None:
    assert to_column_value(TABLE.c[column], value) == expected


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("stamp", "yesterday"),
        ("day", "31/12/2030"),
        ("flag", "maybe"),
        ("count", "1.5"),
        ("count", True),
        ("amount", "NaN"),
        ("amount", "ten"),
        ("label", {"a": 1}),
    ],
)
def test_bad_values_are_record_errors_naming_the_column(column: str, value: Any) -> None:
    with pytest.raises(RecordError) as raised:
        to_column_value(TABLE.c[column], value)
    assert repr(column) in str(raised.value)
    assert raised.value.code == "INVALID_VALUE"


def test_read_rows_get_aware_timestamps() -> None:
    row: dict[str, Any] = {"stamp": dt.datetime(2030, 1, 1), "day": dt.date(2030, 1, 1)}
    coerce_row(TABLE, row)
    assert row == {"stamp": dt.datetime(2030, 1, 1, tzinfo=UTC), "day": dt.date(2030, 1, 1)}
