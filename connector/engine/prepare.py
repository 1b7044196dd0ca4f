"""One record's plan (`plan_for`) and the data the stages pass along (engine/stages/).

`Outgoing` is a record on its way to the target, `Failed` one that failed before its write,
and `Prepared` the outcome for one page: the writes to send, the records that need no write,
deletions, and the records that failed (with why). The stages that map, match and plan a page
live in engine/stages/; nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.adapter import NativeRecord, NativeWrite
from connector.engine.decide import WritePlan, create_plan, plan_write
from connector.errors import ConnectorError, MappingError, RecordError
from connector.model import Entity, Record, flatten
from connector.state.bindings import Binding
from connector.state.snapshots import (
    EncodedSnapshot,
    encode_plain_snapshot,
    encode_snapshot,
    plain_values,
)

log = logging.getLogger("connector.engine")


@dataclass(slots=True)
class Outgoing:
    """One source record on its way to the target. (Slots: one is made per record, and the
    stages read its fields many times over.)"""

    native: NativeRecord
    record: Record
    flat: dict[str, Any]
    key: str
    target_id: str | None
    snapshot: dict[str, Any] | None
    plan: WritePlan
    write: NativeWrite | None = None
    #: The source's binding as the store held it before this run saw the record (None when
    #: the route keeps no source snapshot, or the record is new there).
    source_binding: Binding | None = None
    #: Planned paths the target's mapping cannot represent (a label with no option there):
    #: left out of the write, so they neither clear the target nor count as synced.
    unrepresentable: frozenset[str] = frozenset()
    #: Bind the source side with the result, if the target takes the write (a record bound
    #: there before, on a route that keeps the source's snapshot: `Binder.record_source`).
    source_after: bool = False

    #: `flat` encoded, once asked for (`encoded`).
    _flat_encoding: EncodedSnapshot | None = field(default=None, init=False, repr=False)
    #: Whether `flat`'s values are plain (`snapshots.plain_values`), found when it was encoded.
    _flat_plain: bool = field(default=False, init=False, repr=False)

    @property
    def source_snapshot(self) -> dict[str, Any] | None:
        """What was last synced with the source system (None when the route keeps none),
        whether or not the plan looked at it (`force` plans without)."""
        bound = self.source_binding
        return None if bound is None else bound.snapshot

    def source_unchanged(self, snapshot: EncodedSnapshot) -> bool:
        """Whether the source's binding holds this record, `snapshot` and this version's time
        already: the record read again unchanged (the overlap window re-reads the changes of
        its last minutes on every run), whose binding would be rewritten with the same values."""
        bound = self.source_binding
        return (
            bound is not None
            and bound.external_id == self.native.id
            and bound.hash == snapshot.hash
            and bound.remote_updated_at == self.native.updated_at
        )

    def encoded(
        self, snapshot: dict[str, Any] | None, of_flat: bool = False
    ) -> EncodedSnapshot | None:
        """`snapshot` encoded for the store; when it is all of `flat` (a create, a full write,
        the source side), `flat`'s one encoding serves both the source and the target binding.

        `of_flat`: every value of `snapshot` is one of `flat`'s (a create's target snapshot,
        `merged_snapshot` with no previous one). Once `flat` was encoded and its values found
        plain, those are too: the encoder does not scan them again (a created customer's target
        snapshot, 17 values: 55,360 → 48,260 callgrind instructions, bench/README.md "encplan").
        """
        if snapshot is None:
            return None
        # Identity first: comparing a snapshot that is `flat` walks every path for nothing.
        if snapshot is not self.flat and snapshot != self.flat:
            if of_flat and self._flat_plain:
                return encode_plain_snapshot(snapshot)
            return encode_snapshot(snapshot)
        if self._flat_encoding is None:  # (not a cached_property: that one takes a lock)
            flat = self.flat
            # The scan `encode_snapshot` would make, its answer kept for the target snapshot.
            if type(flat) is dict and plain_values(flat.values()):
                self._flat_plain = True
                self._flat_encoding = encode_plain_snapshot(flat)
            else:
                self._flat_encoding = encode_snapshot(flat)
        return self._flat_encoding


@dataclass
class Failed:
    native: NativeRecord
    key: str | None
    stage: str
    error: BaseException

    @property
    def retryable(self) -> bool:
        if isinstance(error := self.error, RecordError):
            return error.retryable
        return True


@dataclass
class Prepared:
    outgoing: list[Outgoing] = field(default_factory=list)
    deleted: list[NativeRecord] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    #: Not to be created in the target (the route's `create` rule does not allow it).
    skipped: list[Outgoing] = field(default_factory=list)

    @property
    def writes(self) -> list[Outgoing]:
        return [item for item in self.outgoing if item.write is not None]

    @property
    def unchanged(self) -> list[Outgoing]:
        return [item for item in self.outgoing if item.write is None]


def new_key() -> str:
    """A fresh canonical key: a time-ordered UUID (version 7) as 32 hex digits."""
    return new_keys(1)[0]


def new_keys(count: int) -> list[str]:
    """`count` fresh canonical keys: UUIDs version 7 (RFC 9562 §5.7) as 32 hex digits each.

    The first 48 bits are the Unix time in milliseconds, the other 74 (besides the version and
    variant) random: keys made later sort later. That is for the store: the bindings are unique
    by key, and random keys spread a page's inserts over every page of that index, so each
    commit rewrote most of it (SQLite's WAL and checkpoints, PostgreSQL's full-page writes);
    keys made together now land together (bench/README.md, "pagetx"). A key reveals only when
    it was made.

    Made from the random bytes directly: `uuid.uuid4().hex` builds and checks a `UUID` object
    first, which costs three times as much. The bytes come from one `os.urandom` call for all
    of them: a first sync asks for a key per record, and a system call each was ~4 % of it.
    """
    data = bytearray(os.urandom(16 * count))
    stamp = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    keys = []
    for start in range(0, 16 * count, 16):
        data[start : start + 6] = stamp  # unix_ts_ms, big-endian
        data[start + 6] = (data[start + 6] & 0x0F) | 0x70  # version 7
        data[start + 8] = (data[start + 8] & 0x3F) | 0x80  # the RFC's variant
        keys.append(data[start : start + 16].hex())
    return keys


def as_failure(native: NativeRecord, key: str | None, stage: str, error: Exception) -> Failed:
    """A record-level failure; anything unexpected while mapping is one too, named as such."""
    if not isinstance(error, ConnectorError):
        error = MappingError(f"{type(error).__name__}: {error}", code="UNEXPECTED")
    return Failed(native, key, stage, error)


#: What `unrepresentable` gives for the usual write: one object, not a new empty frozenset.
_NONE_LOST: frozenset[str] = frozenset()


def unrepresentable(
    flat: dict[str, Any],
    paths: frozenset[str],
    fields: dict[str, Any],
    paths_of: Mapping[str, Collection[str]],
    references: Mapping[str, Any],
) -> frozenset[str]:
    """Paths with a value whose native field came out empty: the target cannot hold it.

    `paths_of` gives, per native field, the canonical paths written to it (`paths_by_native`).
    Writing that empty value would erase what the target has, so the caller drops it.
    """
    # The common case first, in C: this runs for every write. None and "" are both false, so
    # where every value is true nothing was lost. (`None in values` compared each text with
    # None by `==`, through two NotImplemented answers: ~10,000 callgrind instructions for a
    # HubSpot customer's 17 fields, against ~600 for `all`.)
    values = fields.values()
    if all(values):
        return _NONE_LOST
    empty = [name for name, value in fields.items() if value is None or value == ""]
    found = set()
    # From the few empty fields to their paths, not from every planned path to its field.
    for name in empty:
        for path in paths_of.get(name, ()):
            if path not in paths:
                continue
            # A reference written empty is deliberate (its parent was deleted): not checked.
            if path in references or path == "lines" or flat.get(path) in (None, "", []):
                continue
            found.add(path)
    return frozenset(found) if found else _NONE_LOST


def paths_by_native(
    paths: Iterable[str], native_field: Callable[[str], str | None]
) -> dict[str, list[str]]:
    """Native field → the canonical paths written to it (the index `unrepresentable` uses)."""
    index: dict[str, list[str]] = {}
    for path in paths:
        native = native_field(path)
        if native is not None:  # a path with no native field is never written empty
            index.setdefault(native, []).append(path)
    return index


def missing_value(item: Outgoing, source: str, target: str) -> RecordError:
    """The failure for withheld paths under the `missing_values: fail` policy."""
    withheld = ", ".join(sorted(item.plan.withheld))
    return RecordError(
        f"no value for {withheld} in {source}, which never held one there; {target} keeps its "
        "value",
        code="MISSING_VALUE",
        retryable=False,
    )


def report_withheld(
    entity: Entity, withheld: Mapping[str, list[str]], source: str, target: str, route: str
) -> None:
    """One warning per page and field: a rep the CRM lacks can name hundreds of records."""
    for path, ids in sorted(withheld.items()):
        log.warning(
            "%d %s record(s): %s has no value %s can use (empty in %s, which never held one, "
            "or not representable in %s); %s keeps its value (e.g. %s)",
            len(ids),
            entity.value,
            path,
            target,
            source,
            target,
            target,
            ", ".join(ids[:5]),
            extra={"route": route, "field": path, "count": len(ids)},
        )


def source_is_newer(native_updated: dt.datetime, target_updated: dt.datetime | None) -> bool:
    return target_updated is None or native_updated >= target_updated


def plan_for(
    record: Record,
    native: NativeRecord,
    key: str,
    target: Binding | None,
    source: Binding | None,
    *,
    target_paths: frozenset[str],
    source_names: frozenset[str],
    owner_of: Callable[[str], str | None],
    force: bool,
    flat: dict[str, Any] | None = None,
) -> Outgoing:
    """The plan for one record, given its bindings as the store holds them: the target's
    (`target`: its id, the snapshot last synced with it, its time there) and, on a route that
    keeps one, the source's (`source`: what was last synced with the source). `force` plans
    as if neither held a snapshot; the item keeps both bindings all the same (the source side
    is bound merged into its snapshot). `flat`: `flatten(record)` when the caller has it
    already (made while mapping)."""
    if flat is None:
        flat = flatten(record)
    if target is None:
        # A create: `plan_write`'s first rule, without its keyword call (a first sync plans
        # every record so).
        plan = create_plan(flat, target_paths)
        return Outgoing(native, record, flat, key, None, None, plan, None, source)
    target_id, snapshot = target.external_id, target.snapshot
    target_updated = target.remote_updated_at
    plan = plan_write(
        flat,
        target_paths=target_paths,
        snapshot=None if force else snapshot,
        bound=target_id is not None,
        source_names=source_names,
        owner_of=owner_of,
        source_is_newer=force or source_is_newer(native.updated_at, target_updated),
        source_snapshot=None if force or source is None else source.snapshot,
    )
    return Outgoing(native, record, flat, key, target_id, snapshot, plan, None, source)
