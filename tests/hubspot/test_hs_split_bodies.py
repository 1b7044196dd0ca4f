"""The batch bodies `split_fields` builds are byte for byte those of its former loop.

`split_fields` copies a write whose names are all known properties in one step; the reference
below is the loop it had before, field by field. Generated writes (plain properties with every
kind of value, dotted names, the `associations` and `lines` pseudo-fields) give the same
properties in the same order, the same associations and lines, and the same request body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hubspot import writes
from adapters.hubspot.objects import ASSOCIATIONS, LINES
from adapters.hubspot.writes import split_fields, to_hubspot_value, upsert_input
from connector.adapter import NativeWrite
from connector.http import jsoncodec


def former_split(fields: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """`split_fields` as it was (one test per field)."""
    properties: dict[str, str] = {}
    associations: dict[str, str | None] | None = None
    lines: list[dict[str, str]] | None = None
    for name, value in fields.items():
        if name not in (ASSOCIATIONS, LINES) and "." not in name:
            properties[name] = value if type(value) is str else to_hubspot_value(value)
        elif name == ASSOCIATIONS:
            associations = {
                k: (None if v in (None, "") else str(v)) for k, v in (value or {}).items()
            }
        elif name.startswith(ASSOCIATIONS + "."):
            associations = dict(associations or {})
            associations[name.split(".", 1)[1]] = None if value in (None, "") else str(value)
        elif name == LINES:
            lines = [
                {k: to_hubspot_value(v) for k, v in line.items() if v is not None}
                for line in value or []
            ]
        else:
            properties[name] = to_hubspot_value(value)
    return properties, associations, lines


VALUES = st.one_of(
    st.text(max_size=8),
    st.none(),
    st.integers(),
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.lists(st.text(max_size=4), max_size=3),
)
NAMES = st.sampled_from(["name", "city", "zip", "phone", "erp_open_orders", "a.b", "x", "y"])
PSEUDO = st.one_of(
    st.tuples(st.just(ASSOCIATIONS), st.dictionaries(st.sampled_from(["company"]), VALUES)),
    st.tuples(st.just(ASSOCIATIONS + ".company"), st.text(max_size=4)),
    st.tuples(st.just(LINES), st.lists(st.dictionaries(st.sampled_from(["price", "qty"]), VALUES))),
)
FIELDS = st.tuples(
    st.dictionaries(NAMES, VALUES, max_size=8), st.lists(PSEUDO, max_size=2), st.booleans()
)


def body(fields: Mapping[str, Any]) -> bytes:
    write = NativeWrite("k1", None, fields)
    return jsoncodec.dumps({"inputs": [upsert_input(write, split_fields(fields).properties)]})


@settings(max_examples=300, deadline=None)
@given(FIELDS)
def test_split_fields_gives_the_former_properties_order_and_body(drawn):
    plain, pseudo, cold = drawn
    fields: dict[str, Any] = dict(plain)
    fields.update(pseudo)
    if cold:
        writes._PROPERTY_NAMES.clear()
    properties, associations, lines = former_split(fields)
    expected = jsoncodec.dumps(
        {"inputs": [upsert_input(NativeWrite("k1", None, fields), properties)]}
    )
    for _ in range(2):  # the first call may learn the names, the second copies them
        split = split_fields(fields)
        assert list(split.properties.items()) == list(properties.items())
        assert split.associations == associations and split.lines == lines
        assert body(fields) == expected
