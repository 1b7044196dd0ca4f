"""A snapshot's stored text and hash are what `json.dumps` with sorted keys gives, for any value
`flatten` can produce: the encoder built once (`bindings._encode`) must not change a byte, or
every stored hash would move. And the text decodes back as `json.loads` decodes it (the store
reads it with the C scanner directly, `hotpath._json_decoder`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from connector.state.bindings import encode_snapshot
from connector.state.hotpath import hot_path

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
SQLITE = create_engine("sqlite://").dialect


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


def same_json(left: Any, right: Any) -> bool:
    """Equal as decoded JSON, NaN equal to NaN (and a float never equal to an int)."""
    if isinstance(left, float) and isinstance(right, float) and left != left:
        return right != right
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same_json(left[k], right[k]) for k in left)
    return bool(left == right)


@settings(max_examples=300)
@given(st.dictionaries(st.text(), VALUES, max_size=30))
def test_a_stored_text_decodes_as_json_loads_decodes_it(snapshot: dict[str, Any]):
    text = encode_snapshot(snapshot).text
    assert same_json(hot_path(SQLITE).json_from_db(text), json.loads(text))


@given(st.text(alphabet=' \t\n{}[]",:0123456789.eE+-naulrtsfNIy\\u'))
def test_any_other_text_decodes_or_fails_as_json_loads_does(text: str):
    try:
        expected = json.loads(text)
    except json.JSONDecodeError as error:
        with pytest.raises(json.JSONDecodeError) as raised:
            hot_path(SQLITE).json_from_db(text)
        assert str(raised.value) == str(error)
    else:
        assert same_json(hot_path(SQLITE).json_from_db(text), expected)


@pytest.mark.parametrize(
    "text",
    [
        '{"n":NaN,"i":-Infinity,"j":Infinity}',  # what json.dumps writes for such floats
        '{"big":123456789012345678901234567890,"neg":-99999999999999999999}',
        '{"lone":"\\ud800","pair":"\\ud83d\\ude00","e":"\\u00e9"}',
        '{"a":1,"b":2,"a":3}',  # a repeated key: the last value, in the first one's place
        '{"f":1.0,"g":-0.0,"h":1e-320,"k":2.5e+300,"l":[1,2.0,"3",null,true]}',
        ' {"a":[]} \n',
    ],
)
def test_texts_a_strict_parser_may_refuse_decode_as_json_loads_decodes_them(text: str):
    assert same_json(hot_path(SQLITE).json_from_db(text), json.loads(text))
