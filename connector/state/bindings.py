"""Bindings: which record in each system a canonical key is, and what was last synced there.

A binding's snapshot is the flattened canonical values last written to or read from its system;
the engine's diff compares against it. Binds in a transaction are gathered and written in bulk
when the transaction flushes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from connector.state import schema
from connector.state.base import StoreBase, TxBase, savepoint
from connector.state.hotpath import HotPath, hot_path
from connector.state.snapshots import EncodedSnapshot, decode_snapshot_text, encode_snapshot
from connector.state.upserts import conditional_upserts


class Binding(NamedTuple):
    """A binding as read from the store. (A named tuple: two are built per updated record,
    and a frozen dataclass sets each field through `object.__setattr__`, three times the cost.)"""

    entity: str
    key: str
    system: str
    external_id: str
    snapshot: dict[str, Any] | None
    hash: str | None
    remote_updated_at: dt.datetime | None


class PairedBindings(dict[str, Binding]):
    """Bindings by canonical key in one system, and in `other` the bindings of the same keys
    in another system, read in the same query (`BindingStore.both_sides_by_id`): a key here
    that `other` lacks is not bound in that system."""

    __slots__ = ("other",)

    def __init__(self, other: dict[str, Binding]) -> None:
        super().__init__()
        self.other = other


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
        # Each binding made by `tuple.__new__`, its snapshot decoded where the driver hands
        # back text (`HotPath.json_from_db`, inlined): a Python call each less, two bindings an
        # update.
        datetime_from_db, decode, new = hot.datetime_from_db, decode_snapshot_text, tuple.__new__
        return {
            key: new(
                Binding,
                (
                    entity,
                    key,
                    system,
                    external_id,
                    decode(snapshot) if type(snapshot) is str else snapshot,
                    hash_,
                    None if remote is None else datetime_from_db(remote),
                ),
            )
            for key, external_id, snapshot, hash_, remote in rows
        }

    def both_sides_by_id(
        self, entity: str, system: str, other: str, external_ids: Iterable[str]
    ) -> tuple[dict[str, Binding], dict[str, Binding]]:
        """external id → binding in `system`, for the ids that are bound there; and key →
        binding in `other` of those bindings' keys that are bound there too. One query: what
        `keys_for`, `bindings_for` of the keys it finds, and `bindings_for` of the same keys in
        `other` would give (a page of updates' keys and both sides' bindings)."""
        wanted = set(external_ids)
        if not wanted:  # (a page none of whose records mapped)
            return {}, {}
        hot = hot_path(self.engine.dialect)
        with self.engine.connect() as conn:
            rows = hot.both_sides_by_external_id.run(
                conn, entity=entity, system=system, other=other, ids=hot.ids(wanted)
            ).all()
        datetime_from_db, decode, new = hot.datetime_from_db, decode_snapshot_text, tuple.__new__
        by_id: dict[str, Binding] = {}
        others: dict[str, Binding] = {}
        for (
            key,
            external_id,
            snapshot,
            hash_,
            remote,
            there,
            snapshot_there,
            hash_there,
            remote_there,
        ) in rows:
            by_id[external_id] = new(
                Binding,
                (
                    entity,
                    key,
                    system,
                    external_id,
                    decode(snapshot) if type(snapshot) is str else snapshot,
                    hash_,
                    None if remote is None else datetime_from_db(remote),
                ),
            )
            if there is not None:  # (a NOT NULL column: NULL only where no binding joined)
                others[key] = new(
                    Binding,
                    (
                        entity,
                        key,
                        other,
                        there,
                        decode(snapshot_there) if type(snapshot_there) is str else snapshot_there,
                        hash_there,
                        None if remote_there is None else datetime_from_db(remote_there),
                    ),
                )
        return by_id, others

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


def _needs_savepoint(hot: HotPath, rows: list[tuple[Any, ...]]) -> bool:
    """Whether `_flush_binds` must be able to undo its first pass before the second.

    The savepoint costs SQLite a copy of every page the first pass changes (its statement
    journal): two pages an updated record, ~8,700 instructions (bench/README.md, "updrow").
    Without it, a first pass cut short leaves behind the rows it wrote: bindings that keep
    their external id, updated to the values the run gives them, and new keys inserted. When
    no two binds of the run share a key or an external id, the second pass, run in order over
    that, ends where it would have from the state before: each row it writes is its bind's
    own, which it writes again whatever the first pass did (an INSERT of a key the first pass
    added becomes an UPDATE to the same values), and the first pass's rows hold keys and ids
    of no other bind of the run, so no other bind meets them (a conflict needs a shared key or
    id). A run with repeated keys or ids keeps the savepoint: a key bound twice could be left
    by the first pass holding an id a bind before it in the second must take.

    PostgreSQL keeps it always: a statement that fails there aborts the whole transaction,
    and only a savepoint rolled back lets the second pass run. (On SQLite a failed statement
    undoes itself alone and the transaction goes on: sqlite.org/lang_conflict.html, ABORT.)
    """
    if hot.dialect.name != "sqlite":
        return True
    count = len(rows)
    return len({row[1] for row in rows}) != count or len({row[3] for row in rows}) != count


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
    #: The binding rows the transaction's binds inserted or updated (`statistics`).
    bound_rows: int

    def _flush_binds(self) -> None:
        """Write the gathered binds, one executemany per run of one shape.

        Most binds of an existing binding keep its external id (a record updated where it was
        bound before), and setting an indexed column, even to the value it holds, makes SQLite
        rewrite that index's entry: half the cost of the row (bench/README.md, "incr"). So a
        run first updates only the bindings that keep their id (and inserts new ones), inside a
        savepoint. When the count says some row was left alone (a key bound to another record
        now), or the pass failed, the savepoint is rolled back and the whole run written again
        with the id set, in order: a key that moves is written where it was not in the first
        pass, and an id it frees may be taken by a later bind (which the first pass, leaving
        the key where it was, refused) — each bind as one statement of its own would be.

        On SQLite the savepoint is left out when no two binds of the run share a key or an
        external id (the engine's runs: one bind a record of a page), so the second pass
        writes over what the first left: see `_needs_savepoint`.
        """
        binds, self._binds = self._binds, []
        for shape, rows in binds:
            columns = _COLUMNS[shape]
            updates = columns[len(_CONFLICT) :]
            upsert = self._hot.upsert
            # (a bind of the ids alone has nothing to update but the id)
            if shape and conditional_upserts(self._hot.dialect.name):
                keeping = upsert(schema.bindings, columns, _CONFLICT, updates[1:], same=_KEPT)
                first = savepoint(self._conn) if _needs_savepoint(self._hot, rows) else None
                try:
                    kept = keeping.run_many(self._conn, rows)
                except IntegrityError:
                    kept = -1  # a new key took an id some key moving off it still held
                if kept == len(rows):
                    if first is not None:
                        first.commit()
                    self.bound_rows += kept
                    continue
                if first is not None:
                    first.rollback()
            written = upsert(schema.bindings, columns, _CONFLICT, updates).run_many(
                self._conn, rows
            )
            self.bound_rows += written

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
        if snapshot is not None and not isinstance(snapshot, EncodedSnapshot):
            snapshot = encode_snapshot(snapshot)
        self.bind_all(entity, system, [(key, external_id, snapshot, remote_updated_at)])

    def bind_all(
        self,
        entity: str,
        system: str,
        binds: Iterable[tuple[str, str, EncodedSnapshot | None, dt.datetime | None]],
    ) -> None:
        """`bind` each (key, external id, encoded snapshot or None, remote time or None) of
        one entity in one system, in order: a page's binds without a call of `bind` each.

        Each row is built as one tuple in the table's order (`_COLUMNS`), the value of each
        column as the driver takes it (`hotpath`), and added to the run of its shape.
        """
        if type(entity) is not str:
            # sqlite3 binds an exact str as it is but asks its adapter registry about any
            # subclass, for every row (`_need_adapt` in CPython's Modules/_sqlite/cursor.c):
            # the engine's `Entity` is a StrEnum, ~3,200 instructions a bind (callgrind). Its
            # text as a plain str instead: `+ ""` copies a subclass's text (PyUnicode_Concat),
            # where `str(entity)` goes through the enum's `__str__`, ~900 instructions more.
            entity = entity + ""
        hot = self._hot
        json_to_db, datetime_to_db = hot.json_to_db, hot.datetime_to_db
        text_as_it_is = hot.json_as_it_is
        synced_at = self._synced_at
        runs = self._binds
        shape, rows = runs[-1] if runs else (-1, [])
        for key, external_id, snapshot, remote in binds:
            if snapshot is not None:
                if synced_at is None:
                    synced_at = self._synced_at = datetime_to_db(self.now)
                text = snapshot.text if text_as_it_is else json_to_db(snapshot.text)
                if remote is not None:
                    row: tuple[Any, ...] = (
                        entity,
                        key,
                        system,
                        external_id,
                        text,
                        snapshot.hash,
                        datetime_to_db(remote),
                        synced_at,
                    )
                    kind = _SNAPSHOT | _REMOTE
                else:
                    row = (entity, key, system, external_id, text, snapshot.hash, synced_at)
                    kind = _SNAPSHOT
            elif remote is not None:
                row = (entity, key, system, external_id, datetime_to_db(remote))
                kind = _REMOTE
            else:
                row = (entity, key, system, external_id)
                kind = 0
            if kind != shape:
                shape, rows = kind, [row]
                runs.append((shape, rows))
            else:
                rows.append(row)

    def unbind(self, entity: str, key: str, system: str) -> None:
        self.flush()
        table = schema.bindings
        self._conn.execute(
            delete(table).where(
                table.c.entity == entity, table.c.key == key, table.c.system == system
            )
        )
