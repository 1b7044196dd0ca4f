"""Map: native source records → canonical records, with the source's mapper.

References translate through the source's bindings (`refs`); a parent without a key must have
been synced first (references.py). A record that does not map fails alone at stage `map`, and
so does one the adapter could not read whole (`NativeRecord.problem`, stage `read`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.adapter import NativeRecord
from connector.engine.prepare import Failed, as_failure
from connector.mapping.contract import EntityMapper, RefResolver
from connector.model import Record


@dataclass
class Mapped:
    records: list[tuple[NativeRecord, Record]] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    #: `flatten` of a record, by source id, where the mapper made it while mapping (plan.py
    #: uses it instead of walking the record again).
    flats: dict[str, dict[str, Any]] = field(default_factory=dict)


def map_page(live: Sequence[NativeRecord], mapper: EntityMapper, refs: RefResolver) -> Mapped:
    mapped = Mapped()
    records, flats = mapped.records, mapped.flats
    for native in live:
        if native.problem is not None:  # the adapter could not read it whole
            mapped.failed.append(Failed(native, None, "read", native.problem))
            continue
        try:
            record, flat = mapper.to_canonical_flat(native, refs)
        except Exception as error:  # a bad record must not stop its page
            mapped.failed.append(as_failure(native, None, "map", error))
            continue
        records.append((native, record))
        if flat is not None:
            flats[native.id] = flat
    return mapped
