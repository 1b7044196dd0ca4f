"""Reflect the ERP tables named in the settings and check every named table and column exists.

Configured names are only ever looked up in the reflected schema; statements are then built
from the reflected `Table` objects with SQLAlchemy Core, which quotes identifiers through the
dialect, so a name in config.yaml can never inject SQL (OWASP: identifiers cannot be bound
parameters; validate them against the schema instead).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Inspector

from adapters.erp_generic.coerce import TinyIntBoolean
from adapters.erp_generic.quirks import LenientNumeric
from adapters.erp_generic.settings import SqlEntity, SqlSettings
from adapters.erp_generic.sources import ReadPlan, compile_plan
from adapters.erp_generic.staging import StagingTables
from adapters.erp_generic.write_schema import check_write_rules
from connector.errors import Problem
from connector.model import Entity

#: Columns the history refresh reads and writes (the sample ERP's names).
HISTORY_CUSTOMER_COLUMNS = ("id", "lifetime_revenue", "last_order_date", "open_order_count")
HISTORY_ORDER_COLUMNS = ("customer_id", "status", "order_date", "updated_at")
HISTORY_INVOICE_COLUMNS = ("customer_id", "amount", "updated_at")


@dataclass(frozen=True)
class EntityTables:
    """One entity's reflected tables, with the configuration that named them."""

    entity: Entity
    config: SqlEntity
    table: sa.Table
    lines: sa.Table | None = None
    change_log: sa.Table | None = None
    #: How the entity is read when its settings have a `read:` block (see sources.py).
    plan: ReadPlan | None = None
    #: `write: staging`: the import tables (see staging.py).
    staging: StagingTables | None = None


@dataclass
class ReflectedSchema:
    entities: dict[Entity, EntityTables] = field(default_factory=dict)
    orders: sa.Table | None = None
    invoices: sa.Table | None = None


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {candidate.lower(): candidate for candidate in candidates}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    """Reflects tables on one connection and collects problems instead of stopping at one."""

    def __init__(self, connection: Connection, location: str) -> None:
        self.inspector = sa.inspect(connection)
        self.connection = connection
        self.metadata = sa.MetaData()
        event.listen(self.metadata, "column_reflect", _reflected_column)
        self.location = location
        self.problems: list[Problem] = []
        self._names: dict[str | None, list[str]] = {}

    def _known_tables(self, schema: str | None) -> list[str]:
        if schema not in self._names:
            self._names[schema] = [
                *self.inspector.get_table_names(schema=schema),
                *self.inspector.get_view_names(schema=schema),
            ]
        return self._names[schema]

    def table(self, where: str, name: str, schema: str | None) -> sa.Table | None:
        known = self._known_tables(schema)
        if name not in known:
            place = f" in schema {schema!r}" if schema else ""
            self.problems.append(
                Problem(
                    f"{self.location}.{where}",
                    f"table or view {name!r} not found{place}{suggestion(name, known)}",
                )
            )
            return None
        return sa.Table(name, self.metadata, schema=schema, autoload_with=self.connection)

    def column(
        self,
        where: str,
        table: sa.Table,
        name: str | None,
        kinds: tuple[type[Any], ...] = (),
        kind_label: str = "",
    ) -> None:
        if name is None:
            return
        if name not in table.c:
            self.problems.append(
                Problem(
                    f"{self.location}.{where}",
                    f"column {name!r} not found in table {table.name!r}"
                    f"{suggestion(name, table.c.keys())}",
                )
            )
            return
        column_type = table.c[name].type
        if kinds and not isinstance(column_type, kinds):
            self.problems.append(
                Problem(
                    f"{self.location}.{where}",
                    f"column {name!r} in table {table.name!r} is {column_type}, "
                    f"expected {kind_label}",
                )
            )

    def unique(self, table: sa.Table, name: str) -> bool:
        """Whether a unique constraint or unique index covers exactly this one column."""
        schema = table.schema
        constraints = self.inspector.get_unique_constraints(table.name, schema=schema)
        indexes = self.inspector.get_indexes(table.name, schema=schema)
        primary = self.inspector.get_pk_constraint(table.name, schema=schema)
        covered: list[list[str | None]] = [list(c["column_names"]) for c in constraints]
        covered += [list(i["column_names"]) for i in indexes if i.get("unique")]
        covered.append(list(primary.get("constrained_columns", [])))
        return [name] in covered


def _reflected_column(_inspector: Inspector, _table: sa.Table, column: dict[str, Any]) -> None:
    """MySQL and MariaDB have no boolean type: `BOOLEAN` is an alias of `TINYINT(1)`, and that
    is what reflection sees. Read it as a boolean, the convention every MySQL connector follows,
    so a boolean soft-delete flag is accepted and flags come back as `bool` as elsewhere."""
    kind = column["type"]
    if isinstance(kind, mysql.TINYINT) and kind.display_width == 1:
        column["type"] = TinyIntBoolean()
    elif _inspector.dialect.name == "sqlite" and type(kind) in (sa.NUMERIC, sa.DECIMAL, sa.Numeric):
        # SQLite keeps decimals as whatever the ERP stored (text, BLOB): read them leniently.
        column["type"] = LenientNumeric(kind.precision, kind.scale)


_TIMESTAMP = (sa.DateTime,)
_FLAG = (sa.DateTime, sa.Boolean)


def reflect_schema(
    connection: Connection, settings: SqlSettings, location: str
) -> tuple[ReflectedSchema, list[Problem]]:
    """Reflect every configured table; return what was found and every problem on the way.

    `location` is where the settings block sits in config.yaml (`systems.erp.settings`), so a
    problem reads `systems.erp.settings.entities.customer.updated_at: column … not found`.
    """
    check = _Checker(connection, location)
    reflected = ReflectedSchema()
    for entity, config in settings.entities.items():
        where = f"entities.{entity.value}"
        table = check.table(f"{where}.table", config.table, config.db_schema)
        if table is None:
            continue
        if config.read is None:
            check.column(f"{where}.primary_key", table, config.primary_key)
            stamp = config.updated_at
            check.column(f"{where}.updated_at", table, stamp, _TIMESTAMP, "a timestamp")
        check.column(
            f"{where}.soft_delete", table, config.soft_delete, _FLAG, "a timestamp or boolean"
        )
        check.column(f"{where}.sync_key", table, config.sync_key)
        sync_key = config.sync_key
        if sync_key is not None and sync_key in table.c and not check.unique(table, sync_key):
            check.problems.append(
                Problem(
                    f"{location}.{where}.sync_key",
                    f"column {sync_key!r} in table {table.name!r} must be UNIQUE "
                    "(a replayed create finds its row by it)",
                )
            )
        lines = None
        if config.lines is not None:
            lines = check.table(f"{where}.lines.table", config.lines.table, config.db_schema)
            if lines is not None:
                for key in ("primary_key", "foreign_key", "order_by"):
                    check.column(f"{where}.lines.{key}", lines, getattr(config.lines, key))
        log = None
        if config.change_log is not None:
            spec = config.change_log
            log = check.table(f"{where}.change_log.table", spec.table, config.db_schema)
            if log is not None:
                check.column(f"{where}.change_log.key_column", log, spec.key_column)
                stamp_at = f"{where}.change_log.changed_at"
                check.column(stamp_at, log, spec.changed_at, _TIMESTAMP, "a timestamp")
                check.column(f"{where}.change_log.entity_column", log, spec.entity_column)
        plan = None
        if config.read is not None:
            plan = compile_plan(
                entity,
                config,
                table,
                lambda at, name, schema: check.table(at, name, schema),
                connection,
                location,
                where,
                check.problems,
            )
        staging = check_write_rules(check, where, table, config)
        reflected.entities[entity] = EntityTables(
            entity, config, table, lines, log, plan=plan, staging=staging
        )
    if settings.refresh_history is not None:
        _check_history(check, settings, reflected)
    return reflected, check.problems


def _check_history(check: _Checker, settings: SqlSettings, reflected: ReflectedSchema) -> None:
    source = settings.refresh_history
    assert source is not None
    customers = reflected.entities.get(Entity.CUSTOMER)
    if customers is None:
        check.problems.append(
            Problem(f"{check.location}.refresh_history", "needs a customer entity")
        )
        return
    schema = customers.config.db_schema
    for column in HISTORY_CUSTOMER_COLUMNS:
        check.column("refresh_history", customers.table, column)
    reflected.orders = check.table("refresh_history.orders_table", source.orders_table, schema)
    if reflected.orders is not None:
        for column in HISTORY_ORDER_COLUMNS:
            check.column("refresh_history.orders_table", reflected.orders, column)
    reflected.invoices = check.table(
        "refresh_history.invoices_table", source.invoices_table, schema
    )
    if reflected.invoices is not None:
        for column in HISTORY_INVOICE_COLUMNS:
            check.column("refresh_history.invoices_table", reflected.invoices, column)
