"""`jsoncodec`: the bodies httpx's `json=` would send, and responses read as `Response.json()`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.http import jsoncodec


def httpx_body(value: object) -> bytes:
    return httpx.Request("POST", "https://example.test", json=value).content


class Stage(enum.StrEnum):
    OPEN = "open"


@dataclasses.dataclass
class Point:
    x: int


class Name(str):
    pass


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON.filter(lambda value: value is not None))  # json=None: no body, callers skip it
def test_plain_values_are_the_bytes_httpx_sends(value: object) -> None:
    assert jsoncodec.dumps(value) == httpx_body(value)


def test_a_hubspot_batch_upsert_body_is_byte_for_byte_httpx_s():
    body = {
        "inputs": [
            {
                "idProperty": "connector_key",
                "id": "01a2",
                "properties": {"name": "Müller & Söhne GmbH", "annualrevenue": "12.50"},
                "objectWriteTraceId": "01a2",
            }
        ]
    }
    assert jsoncodec.dumps(body) == httpx_body(body)


@pytest.mark.parametrize(
    "value",
    [
        {"stage": Stage.OPEN},
        {"name": Name("x")},
        {1: "int key"},
        {"big": 2**70},
        (1, "tuple"),
        {"float": 0.1},
    ],
)
def test_what_orjson_treats_otherwise_is_encoded_as_httpx_does(value: object) -> None:
    assert jsoncodec.dumps(value) == httpx_body(value)


@pytest.mark.parametrize("value", [{"at": dt.datetime(2026, 1, 1)}, {"point": Point(1)}])
def test_what_httpx_refuses_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        httpx_body(value)
    with pytest.raises(TypeError):
        jsoncodec.dumps(value)


@pytest.mark.parametrize(
    "data", [b'{"results":[{"id":"1","new":true}]}', b'{"a":NaN}', b'["\\ud800"]', b"[1.5e3]"]
)
def test_responses_read_as_response_json_reads_them(data: bytes) -> None:
    expected = httpx.Response(200, content=data).json()
    got = jsoncodec.loads(data)
    assert json.dumps(got) == json.dumps(expected)  # NaN == NaN only as text


def test_an_unreadable_body_is_a_value_error():
    with pytest.raises(ValueError):
        jsoncodec.loads(b"<html>")
