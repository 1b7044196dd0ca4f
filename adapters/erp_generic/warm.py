"""What the SQL ERP adapter keeps between its openings in one process: compiled reads.

SQLAlchemy keeps a statement's compiled form in the engine's cache, keyed by the engine's
dialect object and the statement's cache key, in which a reflected `Table` counts by identity
(docs.sqlalchemy.org/en/20/core/connections.html#sql-compilation-caching; `Table` has no
structural cache key). Each `open` made an engine and reflected new tables — it must reflect:
the ERP's schema may have changed since the last run — so every run on a freshly opened adapter
compiled its keyset select again: ~2 ms of CPU for the sample ERP's 31 columns, which a run
that reads one row pays whole (each `connector sync`, each runtime `bench/engine.py` opens; a
daemon keeps its adapter open, and its engine's cache). Two things are kept here so that the
compiled cache finds what it made:

* **Idle engines**, by the settings they were made from. `close` disposes the engine's pool
  (every connection is closed, as before) and leaves the engine here; the next `open` with the
  same settings takes it back, with its dialect and so its compiled cache. An engine is lent to
  one open adapter at a time (a second adapter open at once makes its own). After `dispose` an
  engine "can still be used": it makes a new pool
  (docs.sqlalchemy.org/en/20/core/connections.html#engine-disposal).
* **The tables reads are built from**, by shape. A reflected table whose name, schema and
  columns (key, name and type, the type compared by the cache key SQLAlchemy gives it) equal a
  table reflected before is read through that earlier `Table` object, so the statements built
  from it have the cache key they had. A changed schema — a column added, dropped, renamed or
  retyped — is another shape, with statements of its own, compiled afresh. A `SELECT` of a
  table depends on nothing else of it; writes keep the table as reflected now.
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from collections.abc import Hashable
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.cache_key import NO_CACHE
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import get_cls_kwargs

from adapters.erp_generic.settings import SqlSettings
from adapters.erp_generic.sql_engine import make_engine

#: Engines kept idle at most (each holds a dialect and its compiled cache; no connection).
IDLE_ENGINES = 4
#: Table shapes kept at most (a process reads few schemas; tests read many small ones).
READ_TABLES = 256

_lock = threading.Lock()
_idle: OrderedDict[Hashable, Engine] = OrderedDict()
_tables: OrderedDict[Hashable, sa.Table] = OrderedDict()


def engine_key(settings: SqlSettings, base_dir: Path) -> Hashable:
    """What `make_engine` makes an engine from: same key, same engine."""
    password = None if settings.password is None else settings.password.get_secret_value()
    return (settings.url.get_secret_value(), password, str(base_dir))


def take_engine(settings: SqlSettings, base_dir: Path) -> Engine:
    """An idle engine made from the same settings if one is kept (it is no longer), or a new
    one."""
    with _lock:
        engine = _idle.pop(engine_key(settings, base_dir), None)
    return engine if engine is not None else make_engine(settings, base_dir)


def give_back(engine: Engine, settings: SqlSettings, base_dir: Path) -> None:
    """Close the engine's connections and keep it idle for the next `take_engine`."""
    engine.dispose()
    with _lock:
        _idle[engine_key(settings, base_dir)] = engine  # a later one replaces an earlier
        while len(_idle) > IDLE_ENGINES:
            _idle.popitem(last=False)


def read_table(table: sa.Table) -> sa.Table:
    """The `Table` to build reads of `table` from: the first of its shape (see the module).
    A table with a column type SQLAlchemy cannot cache statements of is its own."""
    shape = _shape(table)
    if shape is None:
        return table
    with _lock:
        try:
            kept = _tables.get(shape)
        except TypeError:  # an unhashable type argument: not SQLAlchemy's contract, but safe
            return table
        if kept is None:
            kept = _tables[shape] = table
            if len(_tables) > READ_TABLES:
                _tables.popitem(last=False)
        else:
            _tables.move_to_end(shape)
    return kept


def _shape(table: sa.Table) -> Hashable | None:
    """What a `SELECT` of the table is compiled from, or None when a column type has no cache
    key (SQLAlchemy then compiles its statements every time anyway)."""
    columns = []
    for column in table.c:
        key = _type_key(column.type)
        if key is None:
            return None
        columns.append((column.key, column.name, _quote(column.name), key))
    return (table.name, table.schema, _quote(table.name), tuple(columns))


def _type_key(kind: TypeEngine[Any]) -> Hashable | None:
    """The type's `_static_cache_key`, the one SQLAlchemy's compiled cache compares statements
    by (its class and the constructor arguments it keeps; see `TypeDecorator.cache_ok`), or
    None for NO_CACHE. Computed here for the plain types with the argument names looked up
    once per class: SQLAlchemy inspects the constructor's signature anew for every type object,
    and reflection makes new ones on every open (0.3 ms of the sample's 31 columns).
    tests/erp_generic/test_erp_warm.py holds the two to the same keys."""
    cls: type = type(kind)
    names = _plain_arguments(cls)
    if names is None:  # the class computes its own (TypeDecorator, UserDefinedType, …)
        own = kind._static_cache_key
        return None if own is NO_CACHE else own
    values = kind.__dict__
    parts: list[Any] = [cls]
    for name in names:
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, TypeEngine):
            value = _type_key(value)
            if value is None:
                return None
        parts.append((name, value))
    return tuple(parts)


@cache
def _plain_arguments(cls: type) -> tuple[str, ...] | None:
    """The constructor arguments `TypeEngine._static_cache_key` reads for `cls`, or None when
    `cls` has a `_static_cache_key` of its own."""
    if inspect.getattr_static(cls, "_static_cache_key") is not _PLAIN_KEY:
        return None
    return tuple(name for name in get_cls_kwargs(cls) if not name.startswith("_"))


_PLAIN_KEY = inspect.getattr_static(TypeEngine, "_static_cache_key")


def _quote(name: str) -> bool | None:
    """A reflected name's forced quoting, if any (a `quoted_name`'s `quote`)."""
    return getattr(name, "quote", None)
