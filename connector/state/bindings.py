"""Bindings: which record in each system a canonical key is, and what was last synced there.

A binding's snapshot is the flattened canonical values last written to or read from its system;
the engine's diff compares against it. Binds in a transaction are gathered and written in bulk
when the transaction flushes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, select

from connector.state import schema
from connector.state.base import StoreBase, TxBase
from connector.state.hotpath import hot_path
from connector.state.upserts import conditional_upserts

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


def _fast_bytes(snapshot: Mapping[str, Any]) -> bytes | None:
    """The snapshot's JSON as `_encode` writes it, by orjson; None where it might differ.

    orjson writes text as UTF-8 and DEL (0x7f) as itself, where `json` (ensure_ascii) writes
    both as \\uXXXX escapes; everything else in an ASCII string (the quote, backslash, control
    characters as \\b \\t \\n \\f \\r or lowercase \\u00XX, '/' unescaped) it spells the same.
    So its output is used only when it is ASCII without DEL. Keys sort by UTF-8 bytes in orjson
    and by code point in `json`: the same order (and a non-ASCII key fails the ASCII check). It
    refuses what it cannot write as `json` would: integers past 64 bits, keys that are not
    exactly str, lone surrogates, subclasses (`_refuse`): its README, "Serialize" and "Types"
    (https://github.com/ijl/orjson#serialize). Pinned by tests/state/test_snapshot_text.py.
    """
    values = snapshot.values()
    if not _SAME_SCALARS.issuperset(map(type, values)) and not _only_same_scalars(values):
        return None
    try:
        data = orjson.dumps(snapshot, default=_refuse, option=_ORJSON_OPTIONS)
    except TypeError:  # (orjson.JSONEncodeError is one)
        return None
    if not data.isascii() or b"\x7f" in data:
        return None
    return data


@dataclass(frozen=True, slots=True)
class EncodedSnapshot:
    """A snapshot's JSON text and its fingerprint, from one encoding (`encode_snapshot`)."""

    text: str
    hash: str


def encode_snapshot(snapshot: Mapping[str, Any]) -> EncodedSnapshot:
    """Encode a snapshot once: the text the column stores is the text that was hashed.

    Keys sorted, so the fingerprint does not depend on the order the paths were set in; the
    values are JSON-safe primitives, lists and key-sorted dicts (`connector.model.flatten`).
    A record's source and target bindings usually hold the same snapshot: the engine encodes
    it once and binds both with the result. The text is `json`'s (`_encode`) byte for byte —
    stored hashes compare against it —; orjson writes it where it provably spells it the same
    (`_fast_bytes`): a 27-path snapshot's text and hash in half the time.
    """
    data = _fast_bytes(snapshot) if type(snapshot) is dict else None
    if data is None:
        text = _encode(snapshot)
        return EncodedSnapshot(text, hashlib.sha256(text.encode()).hexdigest())
    return EncodedSnapshot(data.decode(), hashlib.sha256(data).hexdigest())


def snapshot_hash(snapshot: Mapping[str, Any]) -> str:
    """A stable fingerprint of flattened canonical values (order-independent)."""
    return encode_snapshot(snapshot).hash


@dataclass(frozen=True, slots=True)
class Binding:
    entity: str
    key: str
    system: str
    external_id: str
    snapshot: dict[str, Any] | None
    hash: str | None
    remote_updated_at: dt.datetime | None


class BindingStore(StoreBase):
    """Reading bindings."""

    def keys_for(self, entity: str, system: str, external_ids: Iterable[str]) -> dict[str, str]:
        """external id → canonical key, for the ids that are bound in `system` (one query)."""
        wanted = set(external_ids)
        if not wanted:  # (a page whose records the resolver knows already asks for none)
            return {}
        hot = hot_path(self.engine.dialect)
        with self.engine.connect() as conn:
            rows = hot.keys_by_external_id.run(
                conn, entity=entity, system=system, ids=hot.ids(wanted)
            ).all()  # (one fetch: iterating the result fetches row by row)
        return {external_id: key for external_id, key in rows}

    def bindings_for(self, entity: str, system: str, keys: Iterable[str]) -> dict[str, Binding]:
        """canonical key → binding in `system`, for the keys that are bound there (one query)."""
        wanted = set(keys)
        if not wanted:
            return {}
        hot = hot_path(self.engine.dialect)
        with self.engine.connect() as conn:
            rows = hot.bindings_by_key.run(
                conn, entity=entity, system=system, ids=hot.ids(wanted)
            ).all()
        json_from_db, datetime_from_db = hot.json_from_db, hot.datetime_from_db
        return {
            key: Binding(
                entity=entity,
                key=key,
                system=system,
                external_id=external_id,
                snapshot=None if snapshot is None else json_from_db(snapshot),
                hash=hash_,
                remote_updated_at=None if remote is None else datetime_from_db(remote),
            )
            for key, external_id, snapshot, hash_, remote in rows
        }

    def count_bindings(self, entity: str | None = None, system: str | None = None) -> int:
        table = schema.bindings
        query = select(func.count()).select_from(table)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        if system is not None:
            query = query.where(table.c.system == system)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


#: What a bind carries besides the ids: bits of its "shape".
_SNAPSHOT, _REMOTE = 1, 2
_IDS = ("entity", "key", "system", "external_id")
_CONFLICT = ("entity", "key", "system")
#: What a binding updated in place keeps (`_flush_binds`): the column after `_CONFLICT`.
_KEPT = ("external_id",)
#: The columns a bind of each shape writes, in the table's order (the order the compiler renders
#: an INSERT's values in); an existing binding gets all but the conflict columns updated.
_COLUMNS = {
    0: _IDS,
    _SNAPSHOT: (*_IDS, "snapshot", "hash", "synced_at"),
    _REMOTE: (*_IDS, "remote_updated_at"),
    _SNAPSHOT | _REMOTE: (*_IDS, "snapshot", "hash", "remote_updated_at", "synced_at"),
}


class BindingTx(TxBase):
    """Writing bindings in a transaction; binds are gathered until the transaction flushes.

    Each bind is kept as the row the driver takes (`hotpath`), in runs of binds of one shape:
    one executemany per run writes them, in the order they were made, so the last bind of a
    key wins as it would one statement at a time. (The engine's binds in one transaction have
    one shape, so that is one executemany.)
    """

    # Gathered binds: runs of (shape, rows), in order (set by `StoreTx`).
    _binds: list[tuple[int, list[tuple[Any, ...]]]]
    # The transaction's time as the database stores it (set on first use).
    _synced_at: Any

    def _flush_binds(self) -> None:
        """Write the gathered binds, one executemany per run of one shape.

        Most binds of an existing binding keep its external id (a record updated where it was
        bound before), and setting an indexed column, even to the value it holds, makes SQLite
        rewrite that index's entry: half the cost of the row (bench/README.md, "incr"). So a
        run first updates only the bindings that keep their id; when the count says some row
        was left alone (a key bound to another record now), the whole run is written again with
        the id set, in order — the same rows again, so what the first pass wrote is unchanged.
        """
        binds, self._binds = self._binds, []
        for shape, rows in binds:
            columns = _COLUMNS[shape]
            updates = columns[len(_CONFLICT) :]
            upsert = self._hot.upsert
            # (a bind of the ids alone has nothing to update but the id)
            if shape and conditional_upserts(self._hot.dialect.name):
                keeping = upsert(schema.bindings, columns, _CONFLICT, updates[1:], same=_KEPT)
                if keeping.run_many(self._conn, rows) == len(rows):
                    continue
            upsert(schema.bindings, columns, _CONFLICT, updates).run_many(self._conn, rows)

    def bind(
        self,
        entity: str,
        key: str,
        system: str,
        external_id: str,
        *,
        snapshot: Mapping[str, Any] | EncodedSnapshot | None = None,
        remote_updated_at: dt.datetime | None = None,
    ) -> None:
        """Bind `key` to `external_id` in `system`, recording what was last synced there.

        `snapshot` may come encoded already (`encode_snapshot`), to encode it once for both
        systems' bindings. What is not given is left as it was on an existing binding.
        """
        # The columns in the table's order, as the compiled statement takes them (`_COLUMNS`).
        row: tuple[Any, ...] = (entity, key, system, external_id)
        shape = 0
        if snapshot is not None:
            if not isinstance(snapshot, EncodedSnapshot):
                snapshot = encode_snapshot(snapshot)
            row += (self._hot.json_to_db(snapshot.text), snapshot.hash)
            shape = _SNAPSHOT
        if remote_updated_at is not None:
            row += (self._hot.datetime_to_db(remote_updated_at),)
            shape |= _REMOTE
        if shape & _SNAPSHOT:
            if self._synced_at is None:
                self._synced_at = self._hot.datetime_to_db(self.now)
            row += (self._synced_at,)
        if self._binds and self._binds[-1][0] == shape:
            self._binds[-1][1].append(row)
        else:
            self._binds.append((shape, [row]))

    def unbind(self, entity: str, key: str, system: str) -> None:
        self.flush()
        table = schema.bindings
        self._conn.execute(
            delete(table).where(
                table.c.entity == entity, table.c.key == key, table.c.system == system
            )
        )
