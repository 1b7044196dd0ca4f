"""Bindings: which record in each system a canonical key is, and what was last synced there.

A binding's snapshot is the flattened canonical values last written to or read from its system;
the engine's diff compares against it. Binds in a transaction are gathered and written in bulk
when the transaction flushes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from connector.state import schema
from connector.state.base import StoreBase, TxBase, chunks, upsert

#: One encoder for every snapshot: `json.dumps` with options builds a new one per call.
_SNAPSHOT_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


class EncodedJSON(str):
    """JSON text the store writes as it is (see `store_json_serializer`): encoded once."""

    __slots__ = ()


def store_json_serializer(value: Any) -> str:
    """The store engine's JSON serializer: pre-encoded text passes, anything else is encoded."""
    if type(value) is EncodedJSON:
        return value
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class EncodedSnapshot:
    """A snapshot's JSON text and its fingerprint, from one encoding (`encode_snapshot`)."""

    text: EncodedJSON
    hash: str


def encode_snapshot(snapshot: Mapping[str, Any]) -> EncodedSnapshot:
    """Encode a snapshot once: the text the column stores is the text that was hashed.

    Keys sorted, so the fingerprint does not depend on the order the paths were set in; the
    values are JSON-safe primitives, lists and key-sorted dicts (`connector.model.flatten`).
    A record's source and target bindings usually hold the same snapshot: the engine encodes
    it once and binds both with the result.
    """
    text = _SNAPSHOT_ENCODER.encode(snapshot)
    return EncodedSnapshot(EncodedJSON(text), hashlib.sha256(text.encode()).hexdigest())


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
        """external id → canonical key, for the ids that are bound in `system`."""
        table = schema.bindings
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(sorted(set(external_ids))):
                rows = conn.execute(
                    select(table.c.external_id, table.c.key).where(
                        table.c.entity == entity,
                        table.c.system == system,
                        table.c.external_id.in_(chunk),
                    )
                )
                found.update({row.external_id: row.key for row in rows})
        return found

    def bindings_for(self, entity: str, system: str, keys: Iterable[str]) -> dict[str, Binding]:
        """canonical key → binding in `system`, for the keys that are bound there."""
        table = schema.bindings
        found: dict[str, Binding] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(sorted(set(keys))):
                rows = conn.execute(
                    select(table).where(
                        table.c.entity == entity, table.c.system == system, table.c.key.in_(chunk)
                    )
                )
                for row in rows:
                    found[row.key] = Binding(
                        entity=row.entity,
                        key=row.key,
                        system=row.system,
                        external_id=row.external_id,
                        snapshot=row.snapshot,
                        hash=row.hash,
                        remote_updated_at=row.remote_updated_at,
                    )
        return found

    def count_bindings(self, entity: str | None = None, system: str | None = None) -> int:
        table = schema.bindings
        query = select(func.count()).select_from(table)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        if system is not None:
            query = query.where(table.c.system == system)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


class BindingTx(TxBase):
    """Writing bindings in a transaction; binds are gathered until the transaction flushes."""

    # Gathered binds, by the columns an existing row gets updated (set by `StoreTx`).
    _binds: dict[tuple[str, ...], list[dict[str, Any]]]

    def _flush_binds(self) -> None:
        """Write the gathered binds, one executemany per set of updated columns."""
        binds, self._binds = self._binds, {}
        for updates, rows in binds.items():
            upsert(self._conn, schema.bindings, rows, ("entity", "key", "system"), updates)

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
        systems' bindings.
        """
        values: dict[str, Any] = {
            "entity": entity,
            "key": key,
            "system": system,
            "external_id": external_id,
        }
        updates = ["external_id"]
        if snapshot is not None:
            if not isinstance(snapshot, EncodedSnapshot):
                snapshot = encode_snapshot(snapshot)
            values.update(snapshot=snapshot.text, hash=snapshot.hash, synced_at=self.now)
            updates += ["snapshot", "hash", "synced_at"]
        if remote_updated_at is not None:
            values["remote_updated_at"] = remote_updated_at
            updates.append("remote_updated_at")
        self._binds.setdefault(tuple(updates), []).append(values)

    def unbind(self, entity: str, key: str, system: str) -> None:
        self.flush()
        table = schema.bindings
        self._conn.execute(
            delete(table).where(
                table.c.entity == entity, table.c.key == key, table.c.system == system
            )
        )
