"""Storage quirks on the read side: values a driver hands back in a form their type does not.

SQLite has no decimal type: an ERP may store decimals as text or as BLOBs (Tryton's SQLite
backend keeps `Decimal` as bytes), and SQLAlchemy's numeric result processor then raises
`TypeError: must be real number, not bytes` for the whole query. `LenientNumeric` takes the
place of reflected numeric columns on SQLite: bytes and text that hold a number become
`Decimal`; anything else becomes an `Unreadable` marker, which the reader turns into that one
record's failure naming the column, while the rest of the run goes on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import sqlalchemy as sa

from connector.errors import RecordError

#: One number drawn per `Unreadable` made, in any thread (`next` on a count is atomic).
_MADE = itertools.count()


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored value the reader could not turn into its column's type."""

    reason: str

    def __post_init__(self) -> None:
        next(_MADE)


def unreadable_mark() -> int:
    """A mark to ask `made_since` about: a reader takes one before a query."""
    return next(_MADE)


def made_since(mark: int) -> bool:
    """Whether an `Unreadable` may have been made since `mark`: nearly every page has none,
    and then its rows' values need not be looked at one by one. (Another thread's marker
    makes this true too: those rows are then looked at, and found clean.)"""
    return next(_MADE) != mark + 1


#: The `Decimal`s of whole and of REAL numbers read so far, at most `_KEPT` of each (a
#: `Decimal` is immutable, so one may stand for every read of its number). An ERP's amounts
#: repeat (credit limits, prices, quantities): a hit costs a dict lookup, ~1,000 callgrind
#: instructions less than `Decimal(int)` and ~5,000 less than `Decimal(str(float))`. Whole
#: numbers and floats are kept apart: `1 == 1.0`, but `Decimal(1)` is not `Decimal("1.0")`.
_WHOLE: dict[int, Decimal] = {}
_REAL: dict[float, Decimal] = {}
_KEPT = 4096


def to_decimal(value: Any) -> Decimal | Unreadable | None:
    """A numeric column's stored value as `Decimal`, whatever storage class SQLite gave it."""
    kind = type(value)
    if kind is int:  # SQLite's INTEGER storage class: the same number as via its text
        number = _WHOLE.get(value)  # (tested first: NUMERIC keeps every whole number so)
        if number is None:
            number = Decimal(value)
            if len(_WHOLE) < _KEPT:
                _WHOLE[value] = number
        return number
    if kind is float:  # REAL, every other number NUMERIC keeps (as the branch below)
        number = _REAL.get(value)
        if number is None:
            number = Decimal(str(value))
            # NaN is never found again; -0.0 would be found as 0.0 (`Decimal("-0.0")`).
            if len(_REAL) < _KEPT and value == value and value != 0:
                _REAL[value] = number
        return number
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Unreadable(f"holds a boolean {value!r}, not a number")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return Unreadable(f"holds {len(bytes(value))} bytes that are not text, not a number")
    if isinstance(text, str):
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            shown = text if len(text) <= 30 else text[:27] + "..."
            return Unreadable(f"holds {shown!r}, not a number")
        if number.is_finite():
            return number
        return Unreadable(f"holds {text!r}, not a finite number")
    return Unreadable(f"holds a {type(value).__name__}, not a number")


class LenientNumeric(sa.Numeric):  # type: ignore[type-arg]
    """A SQLite numeric column read without trusting the storage class (see the module doc);
    still a `Numeric`, so writes convert and bind exactly as before."""

    cache_ok = True

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Callable[[Any], Any] | None:
        return to_decimal


@cache
def lenient_columns(table: sa.Table) -> tuple[str, ...]:
    """The table's columns that may come back `Unreadable` (checked per row only when any)."""
    return tuple(c.name for c in table.c if isinstance(c.type, LenientNumeric))


def any_unreadable(values: dict[str, Any], names: Iterable[str]) -> bool:
    """Whether any of the named values is `Unreadable` (the cheap test before `take_unreadable`)."""
    # A plain loop: `any()` over a generator costs a generator per row of every SQLite read.
    for name in names:  # noqa: SIM110
        if isinstance(values.get(name), Unreadable):
            return True
    return False


def take_unreadable(
    rows: Iterable[tuple[str, dict[str, Any]]], names: Iterable[str] | None = None
) -> RecordError | None:
    """Replace `Unreadable` values by None (the failure payload stays JSON) and return the
    first as a record error naming where it is; `rows` are (where, values) pairs."""
    error = None
    wanted = None if names is None else tuple(names)
    for where, values in rows:
        for name in wanted if wanted is not None else list(values):
            value = values.get(name)
            if isinstance(value, Unreadable):
                if error is None:
                    message = f"{where}column {name!r} {value.reason}"
                    error = RecordError(message, code="INVALID_VALUE")
                values[name] = None
    return error
