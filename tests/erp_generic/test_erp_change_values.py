"""Change values of every kind: decoding, which text formats sort, and `since` as compared."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.erp_generic.settings import Change
from adapters.erp_generic.sources import decode_stamp, sortable_format
from connector.errors import RecordError

UTC = dt.UTC


@pytest.mark.parametrize(
    ("change", "stored", "expected"),
    [
        (Change(column="c"), dt.datetime(2024, 5, 1, 8), dt.datetime(2024, 5, 1, 8, tzinfo=UTC)),
        (Change(column="c"), "2024-05-01 08:00:00.000000", dt.datetime(2024, 5, 1, 8, tzinfo=UTC)),
        (Change(column="c", type="date"), dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, tzinfo=UTC)),
        (Change(column="c", type="date"), "2024-05-01", dt.datetime(2024, 5, 1, tzinfo=UTC)),
        (Change(column="c", type="epoch"), 1714550400, dt.datetime(2024, 5, 1, 8, tzinfo=UTC)),
        (
            Change(column="c", type="epoch_ms"),
            1714550400500,
            dt.datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC),
        ),
        (
            Change(column="c", type="text", format="%d.%m.%Y %H:%M"),
            "01.05.2024 08:00",
            dt.datetime(2024, 5, 1, 8, tzinfo=UTC),
        ),
        (
            Change(column="c", type="text", format="%Y%m%d%H%M%S"),
            b"20240501080000",
            dt.datetime(2024, 5, 1, 8, tzinfo=UTC),
        ),
        (Change(column="c"), None, None),
    ],
)
def test_decoding(change: Change, stored: object, expected: dt.datetime | None) -> None:
    assert decode_stamp(change, stored) == expected


def test_a_value_that_does_not_decode_names_the_value() -> None:
    change = Change(column="geaendert_am", type="text", format="%d.%m.%Y")
    with pytest.raises(RecordError, match=r"'geaendert_am' holds '31\.02\.2024', not a text"):
        decode_stamp(change, "31.02.2024")


def test_which_formats_sort_as_text() -> None:
    assert sortable_format("%Y-%m-%dT%H:%M:%S")
    assert sortable_format("%Y%m%d")
    assert not sortable_format("%d.%m.%Y %H:%M")
    assert not sortable_format("%Y-%d-%m")
    assert not sortable_format("%Y-%b-%d")


def test_settings_refuse_half_a_change() -> None:
    with pytest.raises(ValueError, match="format"):
        Change(column="c", type="text")
    with pytest.raises(ValueError, match="exactly one"):
        Change(column="c", expression="x")
