"""`row_builder.build_rows` makes what the dict of `zip(names, row)` and a loop converting the
non-NULL values of some columns (and making naive timestamps aware UTC) made: the same keys in
the same order, the same values of the same types, for any column names a database may give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.erp_generic import row_builder
from adapters.erp_generic.row_builder import build_rows
from connector.timestamps import as_utc

VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(),
    st.floats(allow_nan=False),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-3))])),
    st.binary(max_size=4),
)
CONVERTERS = [repr, lambda value: ("seen", value), lambda value: Decimal(len(str(value)))]


def reference(
    names: list[str], rows: list[tuple[Any, ...]], converters: dict[int, Any], aware: list[int]
) -> list[dict[str, Any]]:
    """The way `reader.fetch_dicts` made the rows before: a dict per row, then each converting
    column's non-NULL value converted, and the aware columns' naive values made UTC."""
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for row in out:
        for index, name in enumerate(names):
            value = row[name]
            if index in converters and value is not None:
                value = converters[index](value)
            if index in aware and isinstance(value, dt.datetime) and value.tzinfo is None:
                value = as_utc(value)
            row[name] = value
    return out


def shape(rows: list[dict[str, Any]]) -> list[list[tuple[str, type, str]]]:
    return [[(key, type(value), repr(value)) for key, value in row.items()] for row in rows]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_rows_are_what_a_dict_of_zip_and_the_conversions_made(data: Any):
    names = data.draw(st.lists(st.text(min_size=1), min_size=1, max_size=8, unique=True))
    rows = data.draw(
        st.lists(st.tuples(*[VALUES for _ in names]), max_size=5).map(lambda rs: list(rs))
    )
    picks = st.sets(st.integers(0, len(names) - 1))
    converters = {index: data.draw(st.sampled_from(CONVERTERS)) for index in data.draw(picks)}
    aware = sorted(data.draw(picks))
    got = build_rows(names, rows, converters, aware)
    assert shape(got) == shape(reference(names, rows, converters, aware))
    if got:  # each row its own dict
        got[0][names[0]] = "changed"
        assert all(row[names[0]] != "changed" for row in got[1:]) or len(got) == 1


def test_one_shape_is_compiled_once_and_names_are_never_code():
    names = ["id", "na'me", 'q"uote', "new\nline", "x) or (1", "é"]
    rows = [(1, "a", "b", "c", "d", "e")]
    assert build_rows(names, rows, {}, []) == [dict(zip(names, rows[0], strict=True))]
    shape_key = (tuple(names), (), ())
    kept = row_builder._BUILDERS[shape_key]
    build_rows(names, rows, {}, [])
    assert row_builder._BUILDERS[shape_key] is kept


@pytest.mark.parametrize("names", [[], ["a", "a"]])
def test_no_builder_for_no_names_or_a_name_twice(names: list[str]):
    with pytest.raises(ValueError):
        row_builder._builder(tuple(names), (), ())
