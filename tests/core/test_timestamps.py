"""`parse_timestamp`: the texts APIs send, and the same instant as the rewrite-first reading;
`as_utc` and `naive_utc`: the values `replace` and `astimezone` give, by arithmetic."""

from __future__ import annotations

import datetime as dt
import re

from hypothesis import assume, given
from hypothesis import strategies as st

from connector.timestamps import as_utc, naive_utc, parse_timestamp

_COMPACT = re.compile(r"([+-]\d{2})(\d{2})$")


def rewritten_first(text: str) -> dt.datetime | None:
    """How text was read before fromisoformat was tried on it as it is: `Z` and `+0000`
    rewritten to `+00:00` first."""
    text = text.strip()
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(_COMPACT.sub(r"\1:\2", text.replace("Z", "+00:00")))
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def test_the_stamps_apis_send():
    moment = dt.datetime(2026, 12, 6, 2, 53, 25, 123000, tzinfo=dt.UTC)
    assert parse_timestamp("2026-12-06T02:53:25.123Z") == moment  # HubSpot
    assert parse_timestamp("2026-12-06T02:53:25.123+0000") == moment  # Salesforce
    assert parse_timestamp("2026-12-06T03:53:25.123+01:00") == moment
    assert parse_timestamp("2026-12-06T02:53:25.123") == moment  # naive: UTC
    assert parse_timestamp(" 1796525605123 ") == moment  # epoch milliseconds
    assert parse_timestamp("not a time") is None
    assert parse_timestamp("") is None


_OFFSETS = st.sampled_from(["", "Z", "+00:00", "+0000", "-0530", "+05:30", "+14", " Z", "z"])


@given(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.sampled_from(["T", " "]),
    st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]),
    _OFFSETS,
    st.sampled_from(["", " ", "\t"]),
)
def test_iso_texts_read_as_they_were(
    moment: dt.datetime, sep: str, spec: str, offset: str, pad: str
) -> None:
    text = pad + moment.isoformat(sep=sep, timespec=spec) + offset + pad
    parsed = parse_timestamp(text)
    assert parsed == rewritten_first(text)
    assert parsed is None or parsed.tzinfo is dt.UTC  # (`Z` read first: the same zone)


@given(st.text(alphabet="0123456789-+:.TWZ ", max_size=32))
def test_any_text_reads_as_it_did(text: str) -> None:
    assume(not text.strip().isdigit())  # epoch milliseconds: read as before, untouched here
    assert parse_timestamp(text) == rewritten_first(text)


_OFFSET = st.timedeltas(
    min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
)


@given(st.datetimes())
def test_as_utc_is_replace_with_utc(naive: dt.datetime) -> None:
    aware = as_utc(naive)
    assert aware == naive.replace(tzinfo=dt.UTC)
    assert aware.tzinfo is dt.UTC and type(aware) is dt.datetime
    assert aware.replace(tzinfo=None) == naive  # the same fields, not only the same instant


@given(st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)), _OFFSET)
def test_naive_utc_is_astimezone_without_tzinfo(wall: dt.datetime, offset: dt.timedelta) -> None:
    moment = wall.replace(tzinfo=dt.timezone(offset))
    naive = naive_utc(moment)
    assert naive == moment.astimezone(dt.UTC).replace(tzinfo=None)
    assert naive.tzinfo is None and as_utc(naive) == moment
