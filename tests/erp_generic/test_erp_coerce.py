"""Values from mapping files become what each column type binds, or a clear record error."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql, postgresql

from adapters.erp_generic.coerce import TinyIntBoolean, stored_moment, to_column_value
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


@pytest.mark.parametrize(
    ("column_type", "expected_microseconds"),
    [
        (sa.DateTime(), 891234),
        (mysql.DATETIME(), 0),  # MySQL's DATETIME keeps whole seconds unless told
        (mysql.DATETIME(fsp=3), 891000),
        (mysql.TIMESTAMP(fsp=6), 891234),
        (postgresql.TIMESTAMP(precision=0), 0),
        (postgresql.TIMESTAMP(), 891234),
    ],
)
def test_timestamps_are_cut_to_the_columns_precision(
    column_type: sa.types.TypeEngine[Any], expected_microseconds: int
) -> None:
    column = sa.Column("stamp", column_type)
    moment = dt.datetime(2030, 1, 2, 3, 4, 5, 891234, tzinfo=UTC)
    assert to_column_value(column, moment).microsecond == expected_microseconds
    assert stored_moment(column, moment) == moment.replace(microsecond=expected_microseconds)


def replaced(value: dt.datetime, *, aware: bool, digits: int) -> dt.datetime:
    """A timestamp as `to_column_value` made it with `replace` (before it used arithmetic)."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    step = 10 ** (6 - digits)
    utc = utc.replace(microsecond=utc.microsecond - utc.microsecond % step)
    return utc if aware else utc.replace(tzinfo=None)


@given(
    st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)),
    st.none() | st.integers(min_value=-23 * 60, max_value=23 * 60),
    st.booleans(),
    st.sampled_from([0, 3, 6]),
)
def test_timestamps_bind_as_they_did_with_replace(
    wall: dt.datetime, offset_minutes: int | None, aware: bool, digits: int
) -> None:
    value = wall
    if offset_minutes is not None:
        value = wall.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset_minutes)))
    column = sa.Column("stamp", mysql.DATETIME(fsp=digits, timezone=aware))
    bound = to_column_value(column, value)
    wanted = replaced(value, aware=aware, digits=digits)
    assert bound == wanted and bound.tzinfo is wanted.tzinfo
    assert stored_moment(column, value) == (wanted if aware else wanted.replace(tzinfo=UTC))


def test_mysql_tinyint_booleans_read_as_bool() -> None:
    process = TinyIntBoolean().result_processor(mysql.dialect(), None)
    assert [process(value) for value in (1, 0, None)] == [True, False, None]
    assert to_column_value(sa.Column("flag", TinyIntBoolean()), "yes") is True
