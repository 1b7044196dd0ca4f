"""A snapshot's stored text and hash are what `json.dumps` with sorted keys gives, for any value
`flatten` can produce: the encoder built once (`bindings._encode`) must not change a byte, or
every stored hash would move."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.state.bindings import encode_snapshot

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def reference(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"))


@settings(max_examples=300)
@given(st.dictionaries(st.text(), VALUES, max_size=30))
def test_the_text_is_json_dumps_with_sorted_keys(snapshot: dict[str, Any]):
    encoded = encode_snapshot(snapshot)
    assert encoded.text == reference(snapshot)
    assert encoded.hash == hashlib.sha256(reference(snapshot).encode()).hexdigest()


def test_special_floats_and_non_ascii_text_keep_their_form():
    snapshot = {"é": 'Søhne "&" \u2028', "n": float("nan"), "i": float("-inf"), "z": 1e300}
    assert encode_snapshot(snapshot).text == (
        '{"i":-Infinity,"n":NaN,"z":1e+300,"\\u00e9":"S\\u00f8hne \\"&\\" \\u2028"}'
    )
