"""A snapshot's stored text and hash are what `json.dumps` with sorted keys gives, for any value
`flatten` can produce: neither the encoder built once (`snapshots._encode`) nor orjson where it
stands in for it (`snapshots._fast_bytes`) may change a byte, or every stored hash would move. And
the text decodes back as `json.loads` decodes it (the store reads it with the C scanner
directly, `snapshots._json_decoder`)."""

from __future__ import annotations

import hashlib
import json
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from connector.state.hotpath import hot_path
from connector.state.snapshots import (
    _fast_bytes,
    decode_json_bytes,
    encode_plain_snapshot,
    encode_snapshot,
    plain_values,
)


class Tier(StrEnum):
    GOLD = "gold"


class Size(IntEnum):
    BIG = 3


class Text(str):
    pass


class Number(int):
    pass


class Table(dict):  # type: ignore[type-arg]
    pass


#: ASCII text (the common case, which orjson writes) with its control characters, DEL, quote,
#: backslash and slash, or any text at all (non-ASCII, lone surrogates).
ASCII = st.text(st.characters(max_codepoint=0x7F), max_size=12)
TEXT = ASCII | st.text(max_size=12)
INTEGERS = (
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
)
FLOATS = st.floats() | st.sampled_from(
    [0.0, -0.0, 1e16, 1e-5, 1e22, 0.1, 5e-324, 1.7976931348623157e308]
)
#: What `flatten` can put into a snapshot: plain values as they are, and through `_unchanged`
#: whatever else a custom field may hold (here subclasses of str, int and dict).
SCALARS = (
    st.none()
    | st.booleans()
    | INTEGERS
    | FLOATS
    | TEXT
    | st.sampled_from([Tier.GOLD, Size.BIG, Text("x"), Number(7)])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(TEXT, inner, max_size=4)
        | st.dictionaries(TEXT, inner, max_size=2).map(Table)
    ),
    max_leaves=12,
)
SQLITE = create_engine("sqlite://").dialect


def reference(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"))


@settings(max_examples=300)
@given(st.dictionaries(TEXT, VALUES, max_size=30))
def test_the_text_is_json_dumps_with_sorted_keys(snapshot: dict[str, Any]):
    encoded = encode_snapshot(snapshot)
    assert encoded.text == reference(snapshot)
    assert encoded.hash == hashlib.sha256(reference(snapshot).encode()).hexdigest()


#: The values a customer's snapshot mostly holds (the case orjson writes): ASCII text, integers,
#: booleans and None, in lists and dicts.
PLAIN_VALUES = st.recursive(
    st.none() | st.booleans() | INTEGERS | ASCII,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ASCII, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.dictionaries(ASCII, PLAIN_VALUES, max_size=30))
def test_a_plain_snapshot_has_the_text_of_json_dumps(snapshot: dict[str, Any]):
    encoded = encode_snapshot(snapshot)
    assert encoded.text == reference(snapshot)
    assert encoded.hash == hashlib.sha256(reference(snapshot).encode()).hexdigest()


@settings(max_examples=500)
@given(st.dictionaries(TEXT, VALUES, max_size=30))
def test_orjson_writes_json_dumps_bytes_or_leaves_the_snapshot_to_json(snapshot: dict[str, Any]):
    data = _fast_bytes(snapshot)
    assert data is None or data == reference(snapshot).encode()


@settings(max_examples=300)
@given(st.dictionaries(TEXT, VALUES, max_size=30))
def test_a_snapshot_found_plain_has_the_same_text_without_the_scan(snapshot: dict[str, Any]):
    # `Outgoing.encoded` scans a flat once and, where plain, encodes it (and a create's target
    # snapshot, of flat's values) by `encode_plain_snapshot`: what `encode_snapshot` gives.
    assert plain_values(snapshot.values()) or _fast_bytes(snapshot) is None
    if plain_values(snapshot.values()):
        assert encode_plain_snapshot(snapshot) == encode_snapshot(snapshot)
        assert encode_plain_snapshot(snapshot).text == reference(snapshot)


def test_a_snapshot_found_plain_is_not_scanned_again():
    # (What it saves: the scan. Given a float, which the scan leaves to json, orjson writes it
    # in its own spelling: only a caller that found the values plain may ask.)
    assert encode_snapshot({"x": 1e-7}).text == '{"x":1e-07}'
    assert encode_plain_snapshot({"x": 1e-7}).text == '{"x":1e-7}'
    # Text orjson would write otherwise (not ASCII) goes to json, as `encode_snapshot` sends it.
    assert encode_plain_snapshot({"x": "é\x7f"}).text == '{"x":"\\u00e9\\u007f"}'
    assert encode_plain_snapshot({"x": 2**64}).text == '{"x":18446744073709551616}'


def test_a_plain_snapshot_keeps_its_text_and_hash():
    snapshot = {
        "name": 'Smith & "Sons" \\ a/b\x00\x1f\n\t',
        "number": "C-0042",
        "employees": 2**64 - 1,
        "active": True,
        "history.last_order_date": None,
        "tags": ["b", {"z": -(2**63), "a": False}],
    }
    expected = (
        '{"active":true,"employees":18446744073709551615,"history.last_order_date":null,'
        '"name":"Smith & \\"Sons\\" \\\\ a/b\\u0000\\u001f\\n\\t","number":"C-0042",'
        '"tags":["b",{"a":false,"z":-9223372036854775808}]}'
    )
    assert reference(snapshot) == expected
    encoded = encode_snapshot(snapshot)
    assert encoded.text == expected
    assert encoded.hash == hashlib.sha256(expected.encode()).hexdigest()
    assert encoded.hash == "bddb5e9531a36508515bbdd9bea21df78b6b79440c9d86e399d446fe29fdbd76"


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
        '{"max":18446744073709551615,"over":18446744073709551616,"min":-9223372036854775808}',
        '{"under":-9223372036854775809,"inf":1e400,"tiny":1e-400}',
        '{"nested":{"big":99999999999999999999},"list":[99999999999999999999]}',
    ],
)
def test_texts_a_strict_parser_may_refuse_decode_as_json_loads_decodes_them(text: str):
    assert same_json(hot_path(SQLITE).json_from_db(text), json.loads(text))
    # (PostgreSQL's driver hands the store the UTF-8 bytes: decoded the same way)
    data = text.encode("utf-8", "surrogatepass")
    assert same_json(decode_json_bytes(data), json.loads(data))
