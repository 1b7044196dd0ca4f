"""The batch bodies `split_fields` builds are byte for byte those of its loop.

`split_fields` copies a write whose names are all known properties in one step; the reference
is its loop, field by field, which takes every write while no name is known. Generated writes
(plain properties with every kind of value, dotted names, the `associations` and `lines`
pseudo-fields) give the same properties in the same order, the same associations and lines,
and the same request body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hubspot import writes
from adapters.hubspot.objects import ASSOCIATIONS, LINES
from adapters.hubspot.writes import split_fields, upsert_input
from connector.adapter import NativeWrite
from connector.http import jsoncodec


def split_by_the_loop(fields: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """`split_fields` with no name known yet: its loop, field by field, takes every write."""
    writes._PROPERTY_NAMES.clear()
    split = split_fields(fields)
    return split.properties, split.associations, split.lines


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
PLAIN_NAMES = ["name", "city", "zip", "phone", "erp_open_orders", "a.b", "x", "y"]
NAMES = st.sampled_from(PLAIN_NAMES)
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
def test_split_fields_copying_known_names_gives_the_loops_properties_order_and_body(drawn):
    plain, pseudo, cold = drawn
    fields: dict[str, Any] = dict(plain)
    fields.update(pseudo)
    properties, associations, lines = split_by_the_loop(fields)
    if not cold:  # names other writes taught it, beyond this one's
        split_fields(dict.fromkeys(PLAIN_NAMES, ""))
    expected = jsoncodec.dumps(
        {"inputs": [upsert_input(NativeWrite("k1", None, fields), properties)]}
    )
    for _ in range(2):  # the first call may learn the names, the second copies them
        split = split_fields(fields)
        assert list(split.properties.items()) == list(properties.items())
        assert split.associations == associations and split.lines == lines
        assert body(fields) == expected
