"""Value conversion between the native record shape and a reflected column's Python type.

Reads: naive timestamps are the ERP's UTC wall clock (documented in BEHAVIOR.md) and become
timezone-aware; MySQL's `TINYINT(1)` booleans become `bool`. Writes: values from mapping files
(ISO strings, floats, "true") become what the column's SQLAlchemy type binds, timestamps cut to
the column's fractional-second precision, or a `RecordError` that names the column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import sqlalchemy as sa

from connector.errors import RecordError
from connector.timestamps import as_utc, naive_utc

_MICROSECOND_DIGITS = 6
_NO_ATTRIBUTE = object()
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


@cache
def naive_timestamp_columns(table: sa.Table) -> tuple[str, ...]:
    """The table's timestamp columns without time zone (their values come back naive)."""
    return tuple(
        column.name
        for column in table.c
        if isinstance(column.type, sa.DateTime) and not column.type.timezone
    )


class TinyIntBoolean(sa.Boolean):
    """MySQL/MariaDB's BOOLEAN, which is `TINYINT(1)`: reflected as an integer, and the drivers
    give 0/1. This type reads it back as `bool`, as PostgreSQL and SQLite give booleans."""

    cache_ok = True

    def result_processor(
        self, dialect: sa.Dialect, coltype: object
    ) -> Callable[[Any], bool | None]:
        def process(value: Any) -> bool | None:
            return None if value is None else bool(value)

        return process


def timestamp_digits(column_type: sa.types.TypeEngine[Any]) -> int:
    """How many fractional-second digits a timestamp column keeps: MySQL's `DATETIME(fsp)`
    keeps none unless told (`fsp`), PostgreSQL and SQL Server say `precision`; else microseconds.
    """
    fsp: Any = getattr(column_type, "fsp", _NO_ATTRIBUTE)
    if fsp is not _NO_ATTRIBUTE:
        return min(int(fsp or 0), _MICROSECOND_DIGITS)
    precision = getattr(column_type, "precision", None)
    if isinstance(precision, int):
        return min(precision, _MICROSECOND_DIGITS)
    return _MICROSECOND_DIGITS


def stored_moment(column: sa.Column[Any], moment: dt.datetime) -> dt.datetime:
    """`moment` as reading it back from the timestamp column gives it: UTC, cut to the column's
    precision. A write reports this, so a read `since` the reported time finds the row."""
    value = to_column_value(column, moment)
    assert isinstance(value, dt.datetime)
    return _instant(value)


def to_column_value(column: sa.Column[Any], value: Any) -> Any:
    """`value` as the column's type binds it; raises `RecordError` naming the column."""
    if value is None:
        return None
    column_type = column.type
    try:
        if isinstance(column_type, sa.DateTime):
            digits = timestamp_digits(column_type)
            return _timestamp(value, aware=bool(column_type.timezone), digits=digits)
        if isinstance(column_type, sa.Date):
            return _date(value)
        if isinstance(column_type, sa.Boolean):
            return _boolean(value)
        if isinstance(column_type, sa.Integer):
            return _integer(value)
        if isinstance(column_type, sa.Numeric):
            return _decimal(value)
        if isinstance(column_type, sa.String) and not isinstance(value, str):
            return _text(value)
    except (ValueError, TypeError, InvalidOperation):
        raise RecordError(
            f"column {column.name!r} expects {_describe(column_type)}, "
            f"got {type(value).__name__} {_preview(value)}",
            code="INVALID_VALUE",
        ) from None
    return value


def same_stored(column: sa.Column[Any], stored: Any, wanted: Any) -> bool:
    """Whether the column already holds `wanted`, in the column's own terms: both sides go
    through the column's conversion, numbers compare by value at the column's scale, and
    timestamps as instants. A value the column cannot hold is never the same."""
    try:
        have, want = to_column_value(column, stored), to_column_value(column, wanted)
    except RecordError:
        return False
    if have is None or want is None:
        return have is want
    if isinstance(have, Decimal) and isinstance(want, Decimal):
        scale = getattr(column.type, "scale", None)
        if isinstance(scale, int):
            step = Decimal(1).scaleb(-scale)
            try:
                return bool(have.quantize(step) == want.quantize(step))
            except ArithmeticError:
                return bool(have == want)
        return bool(have == want)
    if isinstance(have, dt.datetime) and isinstance(want, dt.datetime):
        return _instant(have) == _instant(want)
    return bool(have == want)


def aware_stamp(value: Any) -> dt.datetime:
    """A row's stored `updated_at` as an aware UTC timestamp (naive ones are the ERP's UTC)."""
    if not isinstance(value, dt.datetime):
        raise RecordError(f"updated_at holds {type(value).__name__}, not a timestamp")
    if value.tzinfo is dt.UTC:
        return value
    if value.tzinfo is None:
        return as_utc(value)
    return value.astimezone(dt.UTC)


def key_converter(column: sa.Column[Any]) -> Callable[[Any], Any]:
    """How an external id (text) becomes a value of the key column's type."""
    return int if isinstance(column.type, sa.Integer) else str


#: `convert_id`'s answer for an id no row can have (not a number, for a numeric key).
NO_SUCH_ID = object()


def convert_id(column: sa.Column[Any], external_id: str) -> Any:
    """The id in the key column's type, or `NO_SUCH_ID` when no row can have it."""
    try:
        return key_converter(column)(external_id)
    except ValueError:
        return NO_SUCH_ID


def convert_ids(column: sa.Column[Any], ids: Iterable[str]) -> list[Any]:
    """The ids some row can have, in the key column's type."""
    return [pk for pk in (convert_id(column, i) for i in ids) if pk is not NO_SUCH_ID]


def _instant(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else as_utc(value)


def _timestamp(value: Any, *, aware: bool, digits: int) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise TypeError(value)
    # Naive UTC wall clock first (a naive value is that already), by arithmetic rather than
    # `replace`, which is slow (`connector.timestamps.as_utc`): once per timestamp written.
    naive = value if value.tzinfo is None else naive_utc(value)
    if digits < _MICROSECOND_DIGITS:
        # Cut here rather than let the database round (MySQL, PostgreSQL) or cut (MariaDB):
        # the value we report as written is then exactly the value stored.
        extra = naive.microsecond % 10 ** (_MICROSECOND_DIGITS - digits)
        if extra:
            naive -= dt.timedelta(microseconds=extra)
    return as_utc(naive) if aware else naive


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10] if "T" in value else value)
    raise TypeError(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return value
    number = Decimal(str(value).strip())
    if number != number.to_integral_value():
        raise ValueError(value)
    return int(number)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(value)
    number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueError(value)
    return number


def _text(value: Any) -> str:
    if isinstance(value, bool | dict | list):
        raise TypeError(value)
    if isinstance(value, dt.date | Decimal | int | float):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    raise TypeError(value)


def _describe(column_type: sa.types.TypeEngine[Any]) -> str:
    for kind, label in (
        (sa.DateTime, "a timestamp"),
        (sa.Date, "a date"),
        (sa.Boolean, "a boolean"),
        (sa.Integer, "an integer"),
        (sa.Numeric, "a number"),
        (sa.String, "text"),
    ):
        if isinstance(column_type, kind):
            return label
    return str(column_type)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
