"""The engine's decisions, as pure functions: what to pull, what changed, what to write, where
the cursor may move. No I/O here, so each rule is tested alone (tests/engine/test_decide.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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


@dataclass(frozen=True)
class WritePlan:
    """What to write for one record: `paths` to send, and whether it creates the record."""

    paths: frozenset[str]
    create: bool

    @property
    def empty(self) -> bool:
        return not self.paths


def plan_write(
    incoming: Mapping[str, Any],
    *,
    target_paths: Collection[str],
    snapshot: Mapping[str, Any] | None,
    bound: bool,
    source_names: Collection[str],
    owner_of: Callable[[str], str | None],
    source_is_newer: bool = True,
) -> WritePlan:
    """Decide which canonical paths of a record go to the target.

    * Only paths the source provided and the target's mapping writes are candidates.
    * A path owned by another system than the source is written only when the record is created
      there: the owner wins every conflict on its fields.
    * Unowned paths follow the newer source timestamp: when the target changed the record after
      the source did, the target keeps its values.
    * On an existing record, a path is written only if its value differs from the snapshot of
      what was last synced with the target — equal means unchanged, and that is also what drops
      the echo of our own write coming back on a two-way route.
    """
    create = not bound
    paths = set()
    for path in incoming.keys() & set(target_paths):
        owner = owner_of(path)
        if owner is not None and owner not in source_names and not create:
            continue
        if owner is None and not create and not source_is_newer:
            continue
        if not create and snapshot is not None and snapshot.get(path, _MISSING) == incoming[path]:
            continue
        paths.add(path)
    return WritePlan(frozenset(paths), create)


def may_create(flat: Mapping[str, Any], create_when: Mapping[str, Collection[Any]]) -> bool:
    """Whether a record not yet in the target may be created there (every condition holds)."""
    return all(flat.get(path) in allowed for path, allowed in create_when.items())


def merged_snapshot(
    previous: Mapping[str, Any] | None, incoming: Mapping[str, Any], paths: Collection[str]
) -> dict[str, Any]:
    """The target's snapshot after writing `paths` of `incoming`."""
    snapshot = dict(previous or {})
    snapshot.update({path: incoming[path] for path in paths})
    return snapshot


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dedupe_latest(records: Iterable[T], identity: Callable[[T], str]) -> list[T]:
    """Keep the last occurrence of each identity, in first-seen order."""
    latest: dict[str, T] = {}
    for record in records:
        latest.pop(identity(record), None)
        latest[identity(record)] = record
    return list(latest.values())
