"""A keyset read's three statements, built once per table and page size and run with values.

`SqlStore` pages a table in (stamp, key) order: the first page `WHERE stamp >= since` (or
unbounded), each next page after the last row's (stamp, key). Built per page from Core with
the values in them, every run's statement was a new object, and SQLAlchemy, though it finds
the compiled form in the engine's cache, then pays for the object being new: the statement's
cache key is generated afresh (it is memoized on the object), `selected_columns` built again,
and the cached result metadata copied and re-keyed for the new statement's `Column` objects
(`CursorResultMetaData._adapt_to_context`, skipped only when the statement executed *is* the one
compiled; docs.sqlalchemy.org/en/20/core/connections.html#sql-compilation-caching). For the
sample's 31 columns that was about half of a nothing-to-do run's ERP read.

Here the statements hold bound parameters (`sa.bindparam`, typed by the column each is
compared with, so the values bind exactly as the literals did) and are kept, by the `Table`
they read (`warm.read_table` gives the same object to every opening of one shape), so a run
executes the very object a previous run compiled. What each page reads is unchanged.
`converters` keeps what `reader.fetch_dicts` asks of the column types per statement and
dialect, for the same reason.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from adapters.erp_generic.reader import Converters

#: Kept keyset reads at most (as `warm.READ_TABLES`: a process reads few schemas).
KEPT_READS = 256

#: The parameters' names: the first page's bound, and where the next page goes on.
SINCE, AT, AFTER = "keyset_since", "keyset_at", "keyset_after"


@dataclass(eq=False)
class KeysetReads:
    """`first`: the first page of all rows; `since`: the first page from `SINCE` on;
    `after`: the page after (`AT`, `AFTER`). `converters`: `fetch_dicts`'s, per dialect and
    cursor type codes."""

    first: sa.Select[Any]
    since: sa.Select[Any]
    after: sa.Select[Any]
    converters: dict[Hashable, Converters] = field(default_factory=dict)


_lock = threading.Lock()
_kept: OrderedDict[Hashable, KeysetReads] = OrderedDict()


def keyset_reads(
    key: Hashable,
    base: sa.Select[Any],
    stamp: sa.ColumnElement[Any],
    order: sa.ColumnElement[Any],
    size: int,
) -> KeysetReads:
    """The kept reads of `key` (which must name everything `base`, `stamp`, `order` and
    `size` are built from: the tables by identity), or new ones, kept."""
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
            return kept
    reads = build(base, stamp, order, size)
    with _lock:
        kept = _kept.setdefault(key, reads)
        while len(_kept) > KEPT_READS:
            _kept.popitem(last=False)
    return kept


def build(
    base: sa.Select[Any], stamp: sa.ColumnElement[Any], key: sa.ColumnElement[Any], size: int
) -> KeysetReads:
    """The three statements of paging `base` by (stamp, key), `size` rows a page."""
    base = base.where(stamp.is_not(None)).order_by(stamp, key).limit(size)
    at: sa.BindParameter[Any] = sa.bindparam(AT)
    # The `stamp >= at` conjunct lets an index on (stamp, key) serve the range; the OR form
    # of the row comparison works on every dialect (SQL Server has none).
    after = sa.and_(
        stamp >= at, sa.or_(stamp > at, sa.and_(stamp == at, key > sa.bindparam(AFTER)))
    )
    return KeysetReads(
        first=base, since=base.where(stamp >= sa.bindparam(SINCE)), after=base.where(after)
    )
