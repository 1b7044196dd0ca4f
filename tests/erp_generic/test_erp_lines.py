"""The pure halves of line-by-line writes: matching lines to rows, comparing stored values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from adapters.erp_generic.coerce import same_stored
from adapters.erp_generic.lines import match_lines

ROWS = [
    {"id": 10, "line_no": 1, "sku": "A"},
    {"id": 11, "line_no": 2, "sku": "B"},
    {"id": 12, "line_no": 2, "sku": "B"},  # a double left by a crash: goes
    {"id": 13, "line_no": 3, "sku": "C"},
]


def test_lines_match_by_key_new_ones_insert_and_vanished_ones_go():
    wanted = [{"line_no": "2", "sku": "B2"}, {"line_no": 1, "sku": "A"}, {"sku": "new"}]
    match = match_lines(ROWS, wanted, "line_no", "id")
    assert [row_id for row_id, _ in match.updates] == [11, 10]
    assert match.inserts == [{"sku": "new"}]
    assert sorted(match.deletes) == [12, 13]


def test_without_keys_lines_pair_by_position_and_take_it_as_key():
    rows = [{"id": 10, "pos": 1}, {"id": 11, "pos": 2}]
    match = match_lines(rows, [{"sku": "X"}], "pos", "id")
    assert match.updates == [(10, {"sku": "X", "pos": 1})] and match.deletes == [11]
    match = match_lines(rows, [{"a": 1}, {"a": 2}, {"a": 3}], None, "id")
    assert [i for i, _ in match.updates] == [10, 11] and match.inserts == [{"a": 3}]


def test_stored_values_compare_in_the_columns_own_terms():
    money = sa.Column("m", sa.Numeric(12, 2))
    assert same_stored(money, Decimal("10.50"), "10.5")
    assert same_stored(money, Decimal("10.50"), 10.5)
    assert not same_stored(money, Decimal("10.50"), "10.51")
    assert not same_stored(money, None, "0") and same_stored(money, None, None)
    stamp = sa.Column("t", sa.DateTime())
    assert same_stored(stamp, dt.datetime(2026, 1, 1), "2026-01-01T00:00:00+00:00")
    assert same_stored(sa.Column("d", sa.Date()), dt.date(2026, 1, 2), "2026-01-02")
    assert not same_stored(sa.Column("s", sa.String(5)), "abc", "abd")
    assert not same_stored(sa.Column("n", sa.Integer()), 1, "not a number")
