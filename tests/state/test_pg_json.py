"""PostgreSQL's JSON values are decoded by the store's snapshot decoder
(`snapshots.decode_json_bytes`), to the same values `json.loads` gives, or the same refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from connector.state.snapshots import decode_json_bytes, encode_snapshot
from connector.state.store import open_store

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _VALUES, max_size=6))
def test_a_snapshot_decodes_as_json_loads_does(snapshot: dict[str, object]) -> None:
    data = encode_snapshot(snapshot).text.encode()
    assert decode_json_bytes(data) == json.loads(data)


@pytest.mark.parametrize(
    "data",
    [b'{"a": 1} ', b' {"a":1}', b'{"a":1}x', b'{"a":', b"[1,2]", b'"text"', b"12", b"{}", b""],
)
def test_anything_else_as_json_loads(data: bytes) -> None:
    try:
        expected = json.loads(data)
    except ValueError as error:
        with pytest.raises(type(error)):
            decode_json_bytes(data)
    else:
        assert decode_json_bytes(data) == expected


def test_a_store_reads_its_json_columns_with_it(pg_schema_url: str, tmp_path: Path) -> None:
    store = open_store(pg_schema_url, tmp_path)
    try:
        with store.transaction() as tx:
            tx.bind("customer", "k1", "crm", "1", snapshot={"name": 'Ä \u2028 "q"', "n": 2**70})
        assert store.bindings_for("customer", "crm", ["k1"])["k1"].snapshot == {
            "name": 'Ä \u2028 "q"',
            "n": 2**70,
        }
        with store.engine.connect() as conn:
            raw = conn.execute(text("SELECT CAST('[1, {\"a\": null}]' AS JSON)")).scalar_one()
        assert raw == [1, {"a": None}]
    finally:
        store.close()
