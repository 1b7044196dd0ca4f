"""Pure functions for batch writes: planning batches, building inputs, splitting 207 results.

* Inputs carry a unique `objectWriteTraceId` (the canonical key): only then does a batch that
  partly fails come back as 207 with each failure's trace id in
  `errors[].context.objectWriteTraceId`, instead of failing whole and naming one offender
  (hubspot.md §1.3, HubSpot/hubspot-api-python#51).
* Two inputs resolving to one record make HubSpot reject the whole batch
  (segmentio/action-destinations#3969), so writes are merged per key and a second write to the
  same HubSpot id waits for a later round.
* Every property value is sent as a string, the form HubSpot stores and returns (§1.3): numbers
  as decimal text, booleans `true`/`false`, dates and datetimes as epoch milliseconds, and
  `None` as `""` (which clears a value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from connector.adapter import NativeWrite, WriteResult
from connector.errors import RecordError
from connector.timestamps import parse_timestamp

from .errors import batch_item_error
from .objects import ASSOCIATIONS, CONNECTOR_KEY, LINE_KEY_PROPERTY, LINES


def to_hubspot_value(value: Any) -> str:
    """One property value in HubSpot's string form."""
    if type(value) is str:  # most values: mappings already produce HubSpot's strings
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return str(int(moment.timestamp() * 1000))
    if isinstance(value, dt.date):
        midnight = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return str(int(midnight.timestamp() * 1000))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(to_hubspot_value(v) for v in value)
    return str(value)


class SplitFields(NamedTuple):
    """A write's fields as HubSpot takes them (a named tuple: one is made per record)."""

    properties: dict[str, str]
    #: None: not part of this write. Otherwise `{"company": id or None, ...}`.
    associations: Mapping[str, str | None] | None
    #: None: lines not part of this write. Otherwise the full new list of line properties.
    lines: list[dict[str, str]] | None


#: `associations.company`: one association of a write (the rest of its associations stay).
_ASSOCIATION_PREFIX = ASSOCIATIONS + "."
#: The pseudo-fields; a dotted name is looked at below too, so that the common case (a plain
#: property name) costs two cheap tests.
_PSEUDO_FIELDS = frozenset({ASSOCIATIONS, LINES})


#: Names already met as plain properties (neither a pseudo-field nor `associations.<name>`):
#: a write whose names are all here is copied in one step. The names come from the mappings,
#: so they are few; the bound only keeps a pathological caller from growing it.
_PROPERTY_NAMES: set[str] = set()
_PROPERTY_NAMES_MAX = 10_000


def split_fields(fields: Mapping[str, Any]) -> SplitFields:
    """Separates HubSpot properties from the `associations` and `lines` pseudo-fields."""
    if _PROPERTY_NAMES.issuperset(fields):
        # Most writes: properties only. The copy keeps the fields' order, as the loop below
        # does, and only the values that are not HubSpot's strings yet are converted.
        copied: dict[str, Any] = dict(fields)
        for name in [name for name, value in copied.items() if type(value) is not str]:
            copied[name] = to_hubspot_value(copied[name])
        return SplitFields(copied, None, None)
    properties: dict[str, str] = {}
    associations: dict[str, str | None] | None = None
    lines: list[dict[str, str]] | None = None
    known = _PROPERTY_NAMES if len(_PROPERTY_NAMES) < _PROPERTY_NAMES_MAX else set()
    for name, value in fields.items():
        if name not in _PSEUDO_FIELDS and "." not in name:
            # Most fields of most writes: a property, usually mapped to HubSpot's string already.
            properties[name] = value if type(value) is str else to_hubspot_value(value)
            known.add(name)
        elif name == ASSOCIATIONS:
            associations = {
                k: (None if v in (None, "") else str(v)) for k, v in (value or {}).items()
            }
        elif name.startswith(_ASSOCIATION_PREFIX):
            associations = dict(associations or {})
            associations[name.split(".", 1)[1]] = None if value in (None, "") else str(value)
        elif name == LINES:
            lines = [
                {k: to_hubspot_value(v) for k, v in line.items() if v is not None}
                for line in value or []
            ]
        else:
            properties[name] = to_hubspot_value(value)
            known.add(name)
    return SplitFields(properties, associations, lines)


def plan_rounds(writes: Sequence[NativeWrite]) -> list[list[NativeWrite]]:
    """Merges writes per key (later fields win) and defers a second write to the same HubSpot
    id to a later round, so no batch holds two inputs for one record."""
    merged: dict[str, NativeWrite] = {}
    for write in writes:
        earlier = merged.get(write.key)
        if earlier is None:
            merged[write.key] = write
        else:
            merged[write.key] = NativeWrite(
                key=write.key,
                external_id=write.external_id or earlier.external_id,
                fields={**earlier.fields, **write.fields},
            )
    rounds: list[list[NativeWrite]] = []
    claimed: list[set[str]] = []
    for write in merged.values():
        level = 0
        if write.external_id is not None:
            while level < len(claimed) and write.external_id in claimed[level]:
                level += 1
        if level == len(rounds):
            rounds.append([])
            claimed.append(set())
        rounds[level].append(write)
        if write.external_id is not None:
            claimed[level].add(write.external_id)
    return rounds


def upsert_input(write: NativeWrite, properties: Mapping[str, str]) -> dict[str, Any]:
    """A `batch/upsert` input keyed by `connector_key` (stamped into the properties too)."""
    return {
        "idProperty": CONNECTOR_KEY,
        "id": write.key,
        "properties": {**properties, CONNECTOR_KEY: write.key},
        "objectWriteTraceId": write.key,
    }


def update_input(write: NativeWrite, properties: Mapping[str, str]) -> dict[str, Any]:
    """A `batch/update` input by record id, for records already bound in HubSpot."""
    assert write.external_id is not None
    return {
        "id": write.external_id,
        "properties": {**properties, CONNECTOR_KEY: write.key},
        "objectWriteTraceId": write.key,
    }


def _trace_ids(error: Mapping[str, Any]) -> list[str]:
    context = error.get("context") or {}
    found = context.get("objectWriteTraceId") or []
    return [str(t) for t in (found if isinstance(found, list) else [found])]


def _context_ids(error: Mapping[str, Any]) -> list[str]:
    context = error.get("context") or {}
    found = context.get("ids") or context.get("id") or []
    return [str(t) for t in (found if isinstance(found, list) else [found])]


def _result_key(
    item: Mapping[str, Any], by_key: Mapping[str, NativeWrite], by_external: Mapping[str, str]
) -> str | None:
    """The write a batch result answers: its trace id, else its `connector_key`, else its id."""
    trace = item.get("objectWriteTraceId")
    if trace is not None and (key := str(trace)) in by_key:
        return key
    stamped = (item.get("properties") or {}).get(CONNECTOR_KEY)
    if stamped is not None and (key := str(stamped)) in by_key:
        return key
    return by_external.get(str(item.get("id")))


def split_batch_response(
    writes: Sequence[NativeWrite], body: Mapping[str, Any] | None
) -> dict[str, WriteResult]:
    """One result per write from a batch response (200/201/207), keyed by write key.

    Results are matched by `objectWriteTraceId`, then by the `connector_key` property, then by
    record id; errors by their trace ids, then by the ids in their context. A write with neither
    is reported as a retryable failure rather than assumed to have succeeded.
    """
    by_key = {w.key: w for w in writes}
    by_external = {w.external_id: w.key for w in writes if w.external_id is not None}
    results: dict[str, WriteResult] = {}
    body = body or {}
    for item in body.get("results") or []:
        key = item.get("objectWriteTraceId")  # every result of ours carries it (module doc)
        if type(key) is not str or key not in by_key:
            key = _result_key(item, by_key, by_external)
            if key is None:
                continue
        results[key] = WriteResult(
            key=key,
            external_id=str(item.get("id")),
            created=bool(item.get("new", False)),
            updated_at=parse_timestamp(item.get("updatedAt")),
        )
    for error in body.get("errors") or []:
        record_error = batch_item_error(error)
        keys = [t for t in _trace_ids(error) if t in by_key]
        keys += [by_external[i] for i in _context_ids(error) if i in by_external]
        for key in keys:
            results.setdefault(
                key, WriteResult(key=key, external_id=by_key[key].external_id, error=record_error)
            )
    for write in writes:
        if write.key not in results:
            results[write.key] = WriteResult(
                key=write.key,
                external_id=write.external_id,
                error=RecordError(
                    "HubSpot returned no result for this record", code="NO_RESULT", retryable=True
                ),
            )
    return results


def failed(writes: Iterable[NativeWrite], error: RecordError) -> dict[str, WriteResult]:
    return {w.key: WriteResult(key=w.key, external_id=w.external_id, error=error) for w in writes}


@dataclass(frozen=True)
class LinePlan:
    """What one deal's line items need: updates `(id, changed properties)`, creates (with
    their index in the wanted list), and ids to archive."""

    updates: list[tuple[str, dict[str, str]]]
    creates: list[tuple[int, dict[str, str]]]
    archives: list[str]

    @property
    def empty(self) -> bool:
        return not (self.updates or self.creates or self.archives)


def same_in_hubspot(wanted: str, current: Any) -> bool:
    """Whether HubSpot already holds `wanted`: strings as stored, numbers by value (a portal
    drops trailing zeros, so "10.00" is stored as "10"), empty and absent alike."""
    have = "" if current is None else str(current)
    if wanted == have:
        return True
    if not wanted or not have:
        return not wanted.strip() and not have.strip()
    try:
        return Decimal(wanted) == Decimal(have)
    except ArithmeticError:
        return False


def line_order(line_id: str, properties: Mapping[str, Any]) -> tuple[Decimal, Decimal, int]:
    """Line items in the order of their key (the ERP line number), then their quote position,
    then their id: the order reads list them in and keyless ones are adopted in."""
    ranks = []
    for name in (LINE_KEY_PROPERTY, "hs_position_on_quote"):
        try:
            ranks.append(Decimal(str(properties.get(name))))
        except ArithmeticError:
            ranks.append(Decimal(1 << 30))
    return (ranks[0], ranks[1], int(line_id) if line_id.isdigit() else 0)


def _line_key(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return format(Decimal(text).normalize(), "f")
    except ArithmeticError:
        return text


def plan_line_items(
    wanted: Sequence[Mapping[str, str]],
    current: Sequence[tuple[str, Mapping[str, Any]]],
    key_property: str,
) -> LinePlan:
    """Match a deal's wanted lines to its line items and say what to write.

    Lines match by `key_property` (the ERP's line number). A line item without a key (added in
    HubSpot, or written before line keys existed) pairs, in order, with a wanted line no line
    item has; one left over is kept: the product never wrote it, so it is not the product's to
    delete (the CRM → ERP route brings it into the ERP, and it is adopted then) — unless no
    line on either side has a key (the mapping maps none): then lines pair by position. A line
    item with a key no wanted line has is archived, as is every second line item with the same
    key (a create replayed after a crash). A matched line item is updated only in the
    properties whose value differs in HubSpot's terms.
    """
    by_key: dict[str, tuple[str, Mapping[str, Any]]] = {}
    keyless: list[tuple[str, Mapping[str, Any]]] = []
    archives: list[str] = []
    for line_id, properties in sorted(current, key=lambda item: line_order(*item)):
        key = _line_key(properties.get(key_property))
        if key is None:
            keyless.append((line_id, properties))
        elif key in by_key:
            archives.append(line_id)
        else:
            by_key[key] = (line_id, properties)
    updates: list[tuple[str, dict[str, str]]] = []
    creates: list[tuple[int, dict[str, str]]] = []
    unmatched: list[tuple[int, Mapping[str, str]]] = []
    used: set[str] = set()
    for index, line in enumerate(wanted):
        key = _line_key(line.get(key_property))
        found = by_key.get(key) if key is not None else None
        if found is None or found[0] in used:
            unmatched.append((index, line))
            continue
        used.add(found[0])
        _update(updates, found, line)
    for index, line in unmatched:
        if keyless:
            _update(updates, keyless.pop(0), line)
        else:
            creates.append((index, dict(line)))
    archives.extend(line_id for line_id, _ in by_key.values() if line_id not in used)
    keyed = by_key or any(_line_key(line.get(key_property)) is not None for line in wanted)
    if not keyed:
        # A mapping without a line key: lines pair by position, and the rest are ours to drop.
        archives.extend(line_id for line_id, _ in keyless)
    return LinePlan(updates, creates, archives)


def _update(
    updates: list[tuple[str, dict[str, str]]],
    found: tuple[str, Mapping[str, Any]],
    line: Mapping[str, str],
) -> None:
    line_id, properties = found
    changed = {
        name: value
        for name, value in line.items()
        if not same_in_hubspot(value, properties.get(name))
    }
    if changed:
        updates.append((line_id, changed))
