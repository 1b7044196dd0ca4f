"""JSON request and response bodies, encoded and decoded with orjson.

A HubSpot batch write is one JSON body of ~60 KB out and ~80 KB back per 100 records; with the
standard library, encoding and decoding them was a third of the adapter's write path (bench/
README.md, burst). orjson does both in a fraction of the time and writes the same bytes httpx's
`json=` does for the values adapters build (str, int, bool, None, lists and dicts with string
keys: compact separators, UTF-8 rather than `\\u` escapes, keys in insertion order; a float has
the same value, though orjson may spell it differently, `1e16` for `1e+16`).

Where the two would differ, the standard library decides, so nothing is sent or read that was
not before:

* values orjson would encode where `json` refuses them (datetimes, dataclasses, subclasses of
  str, int, dict and list) go to the standard library's encoder, which encodes or refuses them
  as httpx did; so do integers past 64 bits and non-string keys, which orjson refuses;
* a body orjson cannot read (a lone surrogate, `NaN`) is read by `json.loads`.

Differences remain only where HubSpot's bodies never go: orjson writes a NaN or infinite float
as `null` and a UUID or an enum as its value where httpx refused them (property values are
strings, `writes.to_hubspot_value`), and reads an integer past 64 bits as a float (HubSpot's ids
are strings in its bodies).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: httpx's own settings for `json=` bodies (httpx/_content.py, `encode_json`).
_STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_PASS_ON = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: Any) -> Any:
    """orjson's `default`: what it hands back is not plain JSON; the standard library decides."""
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> bytes:
    """The body httpx would send for `json=value`, as bytes."""
    try:
        return orjson.dumps(value, default=_refuse, option=_PASS_ON)
    except TypeError:  # orjson.JSONEncodeError, also raised for what `_refuse` refused
        return _STDLIB.encode(value).encode("utf-8")


def loads(data: bytes) -> Any:
    """A response body as `httpx.Response.json()` reads it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
