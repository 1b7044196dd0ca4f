"""The engine's decisions, as pure functions: what to pull, what changed, what to write, where
the cursor may move. No I/O here, so each rule is tested alone (tests/engine/test_decide.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

_MISSING = object()


def pull_since(watermark: dt.datetime | None, overlap: dt.timedelta) -> dt.datetime | None:
    """Where an incremental pull starts: the cursor minus the overlap window.

    Sources commit late (a transaction that began before our last pull, a search index that lags),
    so each pull re-reads a window before the cursor; what was already synced hashes equal and is
    skipped.
    """
    return None if watermark is None else watermark - overlap


def advance_watermark(
    current: dt.datetime | None, handled: Iterable[dt.datetime], signpost: dt.datetime
) -> dt.datetime | None:
    """The cursor after a fully handled page: its newest `updated_at`, never past the signpost.

    The signpost is the time the run started: a clock skewed into the future on the source side
    must not push the cursor past changes that have not happened yet.
    """
    newest = max(handled, default=None)
    if newest is None:
        return current
    newest = min(newest, signpost)
    return newest if current is None or newest > current else current


class WritePlan(NamedTuple):
    """What to write for one record: `paths` to send, and whether it creates the record.

    `withheld` are paths whose source value is empty although the source never held a value
    there: they are not written (an absent value never clears the other side) and the engine
    reports them per the route's `missing_values` policy.

    A named tuple, not a frozen dataclass: one is made per record, and a frozen dataclass's
    `__init__` sets each field through `object.__setattr__` (several times the cost).
    """

    paths: frozenset[str]
    create: bool
    withheld: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.paths


#: Snapshot entries under this prefix remember a value the target refused to take (an owner
#: it has no user for): the same value is not offered again until it changes (or `resync`).
UNWRITTEN = "!unwritten:"

#: The field of a canonical sale line that identifies it within its sale.
LINE_KEY = "number"
LINES = "lines"


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


#: The plan of an update with nothing to write (one made once: a named tuple is immutable).
_UNCHANGED = WritePlan(frozenset(), False)
_NOTHING: frozenset[str] = frozenset()
#: A plan made without `WritePlan.__new__`, a Python function (one plan a record).
_plan = tuple.__new__


def plan_write(
    incoming: Mapping[str, Any],
    *,
    target_paths: Collection[str],
    snapshot: Mapping[str, Any] | None,
    bound: bool,
    source_names: Collection[str],
    owner_of: Callable[[str], str | None],
    source_is_newer: bool = True,
    source_snapshot: Mapping[str, Any] | None = None,
) -> WritePlan:
    """Decide which canonical paths of a record go to the target.

    * Only paths the source provided and the target's mapping writes are candidates.
    * A path owned by another system than the source is written only when the record is created
      there: the owner wins every conflict on its fields.
    * Unowned paths follow the newer source timestamp: when the target changed the record after
      the source did, the target keeps its values. An unowned path whose source value is what
      was last synced with the source (`source_snapshot`) did not change in the source, so it
      is not written either: an echo never overwrites an edit made in the target meanwhile.
    * On an existing record, a path is written only if its value differs from the snapshot of
      what was last synced with the target — equal means unchanged, and that is also what drops
      the echo of our own write coming back on a two-way route. Lines compare line by line (by
      `LINE_KEY`) and field by field over the fields the source provides.
    * An empty source value clears the target only when the source held a value there before
      (a deliberate clear); otherwise it is `withheld`: a value missing or unrepresentable in
      the source never erases the target's.
    """
    if not bound:  # a create: everything the target's mapping writes, no snapshot, no owner
        return create_plan(incoming, target_paths)
    if snapshot is None:
        candidates = [(path, incoming[path]) for path in incoming.keys() & target_paths]
    else:
        # A value equal to the snapshot's is neither written nor withheld (every rule below
        # skips it): most of an update's paths, dropped here in one pass over the record.
        # (Lines equal as lists are equal line by line too; `same_value` below compares the
        # others. One pass over the items: intersecting the keys first builds two sets.)
        known_value = snapshot.get
        candidates = [
            (path, value)
            for path, value in incoming.items()
            if path in target_paths and known_value(path, _MISSING) != value
        ]
        if not candidates:  # unchanged: the common case of a record read again
            return _UNCHANGED
    paths = set()
    withheld = set()
    for path, value in candidates:
        owner = owner_of(path)
        if owner is not None and owner not in source_names:
            continue
        if owner is None:
            if not source_is_newer:
                continue
            # (Only for a value the target has been given: one it never took is offered.)
            if source_snapshot is not None and snapshot is not None and path in snapshot:
                known = source_snapshot.get(path, _MISSING)
                # (`same_value`, its common case written out: a path that is not the lines)
                if same_value(path, known, value) if path == LINES else known == value:
                    continue
        if snapshot is not None:
            # Every other path differs from the snapshot already (the pass above).
            if path == LINES and same_value(path, snapshot.get(path, _MISSING), value):
                continue  # the same lines, in another order or without computed fields
            if snapshot.get(UNWRITTEN + path, _MISSING) == value:
                continue
        # (`_blank(value)` written out: this runs for every changed path.)
        if (value is None or value == "" or value == []) and (
            source_snapshot is None or _blank(source_snapshot.get(path))
        ):
            # Reported only where the target is known to hold a value; an unknown one is
            # left alone silently.
            if snapshot is not None and not _blank(snapshot.get(path)):
                withheld.add(path)
            continue
        paths.add(path)
    held = frozenset(withheld) if withheld else _NOTHING
    return _plan(WritePlan, (frozenset(paths), False, held))


def create_plan(incoming: Mapping[str, Any], target_paths: Collection[str]) -> WritePlan:
    """`plan_write`'s plan for a record the target does not hold: every path the source
    provided that the target's mapping writes (no snapshot to compare with, no owner to ask)."""
    if type(target_paths) is frozenset:  # (the mapper's: one pass, the frozenset made once)
        return _plan(WritePlan, (target_paths.intersection(incoming), True, _NOTHING))
    return _plan(WritePlan, (frozenset(incoming.keys() & target_paths), True, _NOTHING))


def same_value(path: str, known: Any, value: Any) -> bool:
    """Whether a path's value equals what a snapshot holds (lines: per line, per field)."""
    if path == LINES and isinstance(known, list) and isinstance(value, list):
        return lines_equal(known, value)
    return bool(known == value)


def keyed_lines(lines: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Lines by their key; a line without one is known by its position among such lines."""
    keyed: dict[str, Mapping[str, Any]] = {}
    position = 0
    for line in lines:
        key = line.get(LINE_KEY) if isinstance(line, Mapping) else None
        if key is None:
            position += 1
            keyed[f"#{position}"] = line
        else:
            keyed[str(key)] = line
    return keyed


def lines_equal(known: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]]) -> bool:
    """Same lines (by key) with the same value in every field the incoming lines carry.

    A field the source does not provide (one the other system computes) is no difference.
    """
    before, after = keyed_lines(known), keyed_lines(incoming)
    if before.keys() != after.keys():
        return False
    return all(
        before[key].get(name, _MISSING) == value
        for key, line in after.items()
        for name, value in line.items()
    )


def changed_lines(
    known: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[str], list[str]]:
    """(inserted, updated, deleted) line keys going from `known` to `incoming`."""
    before, after = keyed_lines(known), keyed_lines(incoming)
    inserted = [key for key in after if key not in before]
    deleted = [key for key in before if key not in after]
    updated = [
        key
        for key, line in after.items()
        if key in before
        and any(before[key].get(name, _MISSING) != value for name, value in line.items())
    ]
    return inserted, updated, deleted


def merge_lines(
    previous: Sequence[Mapping[str, Any]] | None, incoming: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The lines a snapshot holds after `incoming` was written: each line keeps the fields it
    had that the incoming line does not carry (values the other system computes)."""
    before = keyed_lines(previous or [])
    return [{**before.get(key, {}), **line} for key, line in keyed_lines(incoming).items()]


def may_create(flat: Mapping[str, Any], create_when: Mapping[str, Collection[Any]]) -> bool:
    """Whether a record not yet in the target may be created there (every condition holds)."""
    if not create_when:  # (the usual rule, `create: always`: asked for every new record)
        return True
    return all(flat.get(path) in allowed for path, allowed in create_when.items())


def merged_snapshot(
    previous: Mapping[str, Any] | None,
    incoming: Mapping[str, Any],
    paths: Collection[str],
    unwritten: Collection[str] = (),
) -> dict[str, Any]:
    """The target's snapshot after writing `paths` of `incoming`.

    Paths not written keep what the snapshot held, so a field the target could not take (and
    one the source does not read, such as an outbound-only value) is never claimed; the value
    it refused is remembered beside it (`UNWRITTEN`).
    """
    if not previous and not unwritten:  # a first write: nothing to merge into
        return {path: incoming[path] for path in paths}
    snapshot = dict(previous or {})
    for path in unwritten:
        snapshot[UNWRITTEN + path] = incoming[path]
    for path in paths:
        snapshot.pop(UNWRITTEN + path, None)
        value = incoming[path]
        known = snapshot.get(path)
        if path == LINES and isinstance(value, list) and isinstance(known, list):
            value = merge_lines(known, value)
        snapshot[path] = value
    return snapshot


def observation_replaces(previous: Mapping[str, Any], observed: Mapping[str, Any]) -> bool:
    """Whether `observed_snapshot(previous, observed)` equals `observed` itself: the system
    returned every path the snapshot held, and no lines to merge (the common case, where the
    caller can keep `observed` and its one encoding instead of building an equal dict)."""
    if not previous.keys() <= observed.keys():
        return False
    return not (isinstance(observed.get(LINES), list) and isinstance(previous.get(LINES), list))


def observed_snapshot(
    previous: Mapping[str, Any] | None, observed: Mapping[str, Any]
) -> dict[str, Any]:
    """A system's snapshot after reading `observed` from it: what it returned replaces what
    was known, and what it does not return (outbound-only fields, values it refused) stays."""
    if not previous:
        return dict(observed)
    snapshot = dict(previous)
    for path, value in observed.items():
        known = snapshot.get(path)
        if path == LINES and isinstance(value, list) and isinstance(known, list):
            value = merge_lines(known, value)
        snapshot[path] = value
    return snapshot


def dedupe_latest(records: Iterable[T], identity: Callable[[T], str]) -> list[T]:
    """Keep the last occurrence of each identity, in the order of those last occurrences."""
    records = list(records)
    ids = list(map(identity, records))
    if len(set(ids)) == len(ids):  # the usual page: no record twice, nothing to move
        return records
    latest: dict[str, T] = {}
    for record_id, record in zip(ids, records, strict=True):
        latest.pop(record_id, None)
        latest[record_id] = record
    return list(latest.values())
