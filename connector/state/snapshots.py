"""The snapshot codec: a binding's canonical values as the JSON text the store keeps, and back.

A snapshot's text is hashed, and stored hashes are compared against new ones, so the text must
never change by a byte: `json`'s, sorted keys, compact separators, ASCII. The encoder and the
decoder live together here because each is a faster stand-in for the standard library that must
agree with it (tests/state/test_snapshot_text.py pins both).
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, NamedTuple

import orjson

#: One encoder for every snapshot: `json.dumps` with options builds a new one per call.
_SNAPSHOT_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _c_encoder() -> Callable[[Any], str] | None:
    """The C encoder behind `_SNAPSHOT_ENCODER.encode`, built once.

    `JSONEncoder.encode` builds it anew on every call (a closure, the encoder object and a dict
    for its circular-reference check), about a tenth of encoding a 27-path snapshot. The same
    options give the same text; the check is left out because a snapshot is a tree of values
    `flatten` made, never a cycle. None where the interpreter has no C encoder.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    options = _SNAPSHOT_ENCODER
    encode = make(
        None,  # markers: no circular-reference check
        options.default,
        json.encoder.encode_basestring_ascii,
        None,  # indent
        options.key_separator,
        options.item_separator,
        options.sort_keys,
        options.skipkeys,
        options.allow_nan,
    )
    return lambda snapshot: "".join(encode(snapshot, 0))


_encode = _c_encoder() or _SNAPSHOT_ENCODER.encode


#: The exact types whose JSON form orjson spells as `json` does (for ASCII text: see
#: `_fast_bytes`). Not float: orjson writes 1e16 where `json` writes 1e+16, and NaN as null.
#: Not a subclass (an enumeration member, a str subclass): left to `json`, not proved the same.
_SAME_SCALARS = frozenset({str, int, bool, type(None)})
#: orjson's sorted keys (its output is always compact); a subclass of str, int, dict or list goes to
#: `_refuse` instead of being written as its base type (orjson's OPT_PASSTHROUGH_SUBCLASS).
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is left to json")


def _only_same_scalars(values: Iterable[Any]) -> bool:
    """Whether every value, through lists and dicts, is of a type in `_SAME_SCALARS`."""
    for value in values:
        kind = type(value)
        if kind in _SAME_SCALARS:
            continue
        if kind is list:
            if not _only_same_scalars(value):
                return False
        elif kind is dict:
            if not _only_same_scalars(value.values()):
                return False
        else:
            return False
    return True


def plain_values(values: Collection[Any]) -> bool:
    """Whether every value, through lists and dicts, is of a type in `_SAME_SCALARS`: the values
    `_fast_bytes` lets orjson write (the rest of its test is orjson's own refusals and ASCII)."""
    return _SAME_SCALARS.issuperset(map(type, values)) or _only_same_scalars(values)


def _fast_bytes(snapshot: Mapping[str, Any], scanned: bool = False) -> bytes | None:
    """The snapshot's JSON as `_encode` writes it, by orjson; None where it might differ.
    `scanned`: the caller found its values plain already (`plain_values`), so they are not
    scanned again.

    orjson writes text as UTF-8 and DEL (0x7f) as itself, where `json` (ensure_ascii) writes
    both as \\uXXXX escapes; everything else in an ASCII string (the quote, backslash, control
    characters as \\b \\t \\n \\f \\r or lowercase \\u00XX, '/' unescaped) it spells the same.
    So its output is used only when it is ASCII without DEL. Keys sort by UTF-8 bytes in orjson
    and by code point in `json`: the same order (and a non-ASCII key fails the ASCII check). It
    refuses what it cannot write as `json` would: integers past 64 bits, keys that are not
    exactly str, lone surrogates, subclasses (`_refuse`): its README, "Serialize" and "Types"
    (https://github.com/ijl/orjson#serialize). Pinned by tests/state/test_snapshot_text.py.
    """
    if not scanned:  # (`plain_values`, inlined: a Python call less a snapshot)
        values = snapshot.values()
        if not _SAME_SCALARS.issuperset(map(type, values)) and not _only_same_scalars(values):
            return None
    try:
        data = orjson.dumps(snapshot, default=_refuse, option=_ORJSON_OPTIONS)
    except TypeError:  # (orjson.JSONEncodeError is one)
        return None
    # (`0x7F in data`, an int: `b"\x7f" in data` first tries its argument as an int and drops
    # the TypeError it formats, ~950 callgrind instructions a snapshot.)
    if not data.isascii() or 0x7F in data:
        return None
    return data


class EncodedSnapshot(NamedTuple):
    """A snapshot's JSON text and its fingerprint, from one encoding (`encode_snapshot`).

    A named tuple, made by `tuple.__new__` (`encode_snapshot`): an update encodes two (its source's
    and its target's snapshot), and a frozen dataclass sets each field through
    `object.__setattr__`, a named tuple's own `__new__` is a Python function (callgrind:
    4,790, 3,377 and 1,990 instructions a snapshot).
    """

    text: str
    hash: str


_new_tuple = tuple.__new__


def encode_snapshot(snapshot: Mapping[str, Any]) -> EncodedSnapshot:
    """Encode a snapshot once: the text the column stores is the text that was hashed.

    Keys sorted, so the fingerprint does not depend on the order the paths were set in; the
    values are JSON-safe primitives, lists and key-sorted dicts (`connector.model.flatten`).
    A record's source and target bindings may hold the same snapshot (a create into a target
    that maps every path): the engine then encodes it once and binds both with the result. The
    text is `json`'s (`_encode`) byte for byte — stored hashes compare against it —; orjson
    writes it where it provably spells it the same (`_fast_bytes`): a 27-path snapshot's text
    and hash in half the time.
    """
    data = _fast_bytes(snapshot) if type(snapshot) is dict else None
    if data is None:
        text = _encode(snapshot)
        return EncodedSnapshot(text, hashlib.sha256(text.encode()).hexdigest())
    return _new_tuple(EncodedSnapshot, (data.decode(), hashlib.sha256(data).hexdigest()))


def encode_plain_snapshot(snapshot: dict[str, Any]) -> EncodedSnapshot:
    """`encode_snapshot(snapshot)` of a dict whose values the caller found plain already
    (`plain_values`: a record's flat, or a create's target snapshot, which holds only values of
    its flat): `_fast_bytes` without its scan, and where orjson refuses the snapshot or writes
    what `json` spells otherwise (text that is not ASCII), `encode_snapshot` as always. The
    same text and hash, byte for byte (tests/state/test_snapshot_text.py)."""
    data = _fast_bytes(snapshot, True)
    if data is None:
        return encode_snapshot(snapshot)
    return _new_tuple(EncodedSnapshot, (data.decode(), hashlib.sha256(data).hexdigest()))


def snapshot_hash(snapshot: Mapping[str, Any]) -> str:
    """A stable fingerprint of flattened canonical values (order-independent)."""
    return encode_snapshot(snapshot).hash


#: The value types orjson decodes exactly as `json.loads` does, whatever the text. orjson reads
#: an integer literal beyond 64 bits as a float (`json` as an int), so a float may be a changed
#: value; a list or an object may hold one. (Floats, lists and objects are rare in a binding's
#: flattened snapshot: a Decimal is stored as text.)
_EXACT = frozenset({str, int, bool, type(None)})


def _json_decoder() -> Callable[[str], Any]:
    """`json.loads` for the store's JSON text, without its per-call layers where it can.

    A snapshot, a JSON object of scalar values, is decoded by orjson when every value it gives
    is of a type it decodes exactly as `json` does (`_EXACT`): 41 % fewer instructions than the
    C scanner for a stored customer, the check included (bench/README.md, "updstore"). Any
    other text, or one orjson refuses (NaN, a lone surrogate, trailing data), goes the standard
    library's way.

    There, `json.loads(text)` goes through `JSONDecoder.decode` and `raw_decode` (a regular
    expression for the leading and the trailing whitespace each) before the C scanner does the
    work: about a fifth of decoding a binding's snapshot. The store's text is what
    `encode_snapshot` wrote, with no whitespace around it, so the scanner is called directly;
    anything else (whitespace, trailing data, a malformed text) goes to `json.loads`, which
    decodes or refuses it as always. The scanner is the one a default `JSONDecoder` builds,
    with its options; it clears its key memo after each call itself.
    """
    make = getattr(json.scanner, "c_make_scanner", None)
    if make is None:
        return json.loads
    scan = make(json.JSONDecoder())
    fast, refused, exact = orjson.loads, orjson.JSONDecodeError, _EXACT.issuperset

    def decode(text: str) -> Any:
        try:
            value = fast(text)
        except refused:
            pass
        else:
            if type(value) is dict and exact(map(type, value.values())):
                return value
        try:
            value, end = scan(text, 0)
        except (StopIteration, ValueError):
            return json.loads(text)
        return value if end == len(text) else json.loads(text)

    return decode


decode_snapshot_text = _json_decoder()


def decode_json_bytes(data: bytes) -> Any:
    """psycopg's JSON values decoded as `json.loads(data)` does, the store's own texts (a JSON
    object, in UTF-8 as PostgreSQL sends it) by orjson from the bytes where it decodes them
    exactly, else by the C scanner directly (`decode_snapshot_text`): without `json.loads`'s
    encoding detection and its two whitespace matches."""
    if data[:1] != b"{":
        return json.loads(data)
    try:  # orjson reads the bytes as they are (see `_json_decoder`)
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        if type(value) is dict and _EXACT.issuperset(map(type, value.values())):
            return value
    return decode_snapshot_text(data.decode("utf-8", "surrogatepass"))
