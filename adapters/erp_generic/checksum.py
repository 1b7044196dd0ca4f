"""Checksum mode: change detection for tables with no usable change column, without touching them.

Each read scans the source by key (keyset pages, each its own short query), hashes every row
together with its child rows (an order with its positions: a changed position changes the
order's hash) and compares with the hashes kept in the connector's own store
(`connector.state.checksums`). New and changed rows are stored with the scan's time, vanished
rows become tombstones with it. The read then reports every row whose stored time is at or
after `since`, oldest first: so a change found by a scan whose records were never handled (the
process died) is reported again until the route's cursor passes it, and a vanished row is a
delete, which the route's delete policy handles. Tombstones are dropped 30 days after `since`
(several routes may read one entity, each with its own cursor).

Integer keys (the common case) are compared one key range per page against the store, so
memory stays one page deep; other keys are kept in a set of the keys seen by the scan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from adapters.erp_generic.reader import PlanReader
from adapters.erp_generic.sources import STAMP
from connector.adapter import NativeRecord, RowHashStore
from connector.errors import ConfigurationError
from connector.timestamps import WallClock

#: How long a vanished row's tombstone outlives the cursor of the route that read it.
TOMBSTONE_RETENTION = dt.timedelta(days=30)


@dataclass
class ScanReport:
    """What the last scan found."""

    scanned: int = 0
    new: int = 0
    changed: int = 0
    vanished: int = 0


def row_digest(values: Sequence[Any], children: Sequence[Sequence[Any]] = ()) -> str:
    """A row's hash: its values in column order, then its children's, in a stable order."""
    text = repr(tuple(values))
    if children:
        text += repr(sorted(repr(tuple(child)) for child in children))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class ChecksumReader:
    """Scan, compare, remember, and report the changes of one checksum-mode entity."""

    def __init__(
        self, reader: PlanReader, store: RowHashStore | None, system: str, clock: WallClock
    ) -> None:
        self.reader = reader
        self.plan = reader.plan
        self.store = store
        self.system = system
        self.clock = clock
        self.report = ScanReport()
        spec = self.plan.checksum
        assert spec is not None
        self._ignore = frozenset(spec.ignore) | {STAMP}
        self._integer_keys = isinstance(self.plan.key.type, sa.Integer)

    def _hashes(self) -> RowHashStore:
        if self.store is None:
            raise ConfigurationError(
                f"{self.plan.entity.value}: checksum mode keeps row hashes in the state store, "
                "which is not open here"
            )
        return self.store

    # --- the scan -------------------------------------------------------------------------

    def scan(self) -> ScanReport:
        """Hash every row and record what is new, changed or gone since the last scan."""
        store, entity = self._hashes(), self.plan.entity.value
        now = self.clock()
        report = ScanReport()
        previous: Any = None
        seen: set[str] = set()
        for page in self._pages():
            keys = [str(row[self.plan.key_name]) for row in page]
            digests = self._digests(page)
            if self._integer_keys:
                high = page[-1][self.plan.key_name]
                stored = store.row_hashes_between(self.system, entity, previous, high)
                previous = high
            else:
                stored = store.row_hashes(self.system, entity, keys)
                seen.update(keys)
            fresh: list[tuple[str, int | None, str]] = []
            for row, key, digest in zip(page, keys, digests, strict=True):
                known = stored.get(key)
                if known is None or known.hash is None:
                    report.new += 1
                elif known.hash != digest:
                    report.changed += 1
                else:
                    continue
                ordinal = row[self.plan.key_name] if self._integer_keys else None
                fresh.append((key, ordinal, digest))
            if fresh:
                store.save_row_hashes(self.system, entity, fresh, now)
            if self._integer_keys:
                page_keys = set(keys)
                gone = [k for k, known in stored.items() if k not in page_keys and known.hash]
                if gone:
                    report.vanished += len(gone)
                    store.mark_vanished(self.system, entity, gone, now)
            report.scanned += len(page)
        if self._integer_keys:
            rest = store.row_hashes_between(self.system, entity, previous, None)
            gone = list(rest)
        else:
            gone = [key for key in store.live_row_keys(self.system, entity) if key not in seen]
        if gone:
            report.vanished += len(gone)
            store.mark_vanished(self.system, entity, gone, now)
        self.report = report
        return report

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        rows = self.reader.keyset_rows(self.plan.select())
        page: list[dict[str, Any]] = []
        for row in rows:
            page.append(row)
            if len(page) == self.reader.page_size:
                yield page
                page = []
        if page:
            yield page

    def _digests(self, page: list[dict[str, Any]]) -> list[str]:
        names = [name for name in page[0] if name not in self._ignore]
        children: dict[Any, list[tuple[Any, ...]]] = {}
        if self.plan.children:
            children = self.reader.child_rows(page)
        key = self.plan.key_name
        return [
            row_digest([row[name] for name in names], children.get(row[key], ())) for row in page
        ]

    # --- the report -----------------------------------------------------------------------

    def pages(self, since: dt.datetime | None) -> Iterator[list[NativeRecord]]:
        """Scan, then every row changed or vanished at/after `since`, in pages."""
        self.scan()
        store, entity = self._hashes(), self.plan.entity.value
        size = self.reader.page_size
        after: tuple[dt.datetime, str] | None = None
        while True:
            changed = list(store.changed_rows(self.system, entity, since, after, size))
            if not changed:
                break
            live = [item.key for item in changed if item.hash is not None]
            rows = {str(row[self.plan.key_name]): row for row in self.reader.rows_by_ids(live)}
            page: list[NativeRecord] = []
            for item in changed:
                if item.hash is None:
                    fields = {self.plan.key_name: item.key}
                    page.append(NativeRecord(item.key, item.changed_at, fields, deleted=True))
                elif item.key in rows:  # gone since the scan: the next scan reports it
                    page.append(self.reader.record(rows[item.key], item.changed_at))
            if page:
                yield page
            after = (changed[-1].changed_at, changed[-1].key)
            if len(changed) < size:
                break
        if since is not None:
            # Another route may read this entity with an older cursor: keep tombstones long
            # past this one's (a route idle for longer than that misses those deletes).
            store.purge_vanished(self.system, entity, since - TOMBSTONE_RETENTION)
