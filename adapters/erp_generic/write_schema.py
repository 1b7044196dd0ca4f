"""Checking the write side of an entity's settings against the reflected schema.

Every column named under `defaults:`, `assign:`, `required:`, `reference:` and `staging:` must
exist, and a sequence needs a database that has sequences; each miss is reported with its config
path, like the read side's names (see schema.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from adapters.erp_generic.staging import StagingTables
from connector.errors import Problem

if TYPE_CHECKING:
    from adapters.erp_generic.schema import _Checker
    from adapters.erp_generic.settings import SqlEntity


def check_write_rules(
    check: _Checker, where: str, table: sa.Table, config: SqlEntity
) -> StagingTables | None:
    """Report every unknown name in the entity's write rules; reflect its staging tables."""
    for name in config.defaults:
        check.column(f"{where}.defaults", table, name)
    for name in config.required:
        check.column(f"{where}.required", table, name)
    if config.reference is not None:
        check.column(f"{where}.reference.column", table, config.reference.column)
    if config.assign is not None:
        check.column(f"{where}.assign.column", table, config.assign.column)
        dialect = check.connection.dialect
        if config.assign.sequence is not None and not dialect.supports_sequences:
            check.problems.append(
                Problem(
                    f"{check.location}.{where}.assign.sequence",
                    f"{dialect.name} has no sequences; use an expression, or let the "
                    "database assign the key",
                )
            )
    spec = config.staging
    if spec is None:
        return None
    at = f"{where}.staging"
    staged = check.table(f"{at}.table", spec.table, spec.db_schema)
    if staged is None:
        return None
    for key in ("primary_key", "key_column", "status_column", "result_id_column"):
        check.column(f"{at}.{key}", staged, getattr(spec, key))
    check.column(f"{at}.error_column", staged, spec.error_column)
    check.column(f"{at}.target_id_column", staged, spec.target_id_column)
    for name in spec.columns.values():
        check.column(f"{at}.columns", staged, name)
    lines = None
    if spec.lines is not None:
        lines = check.table(f"{at}.lines.table", spec.lines.table, spec.db_schema)
        if lines is not None:
            for key in ("primary_key", "foreign_key", "order_by"):
                check.column(f"{at}.lines.{key}", lines, getattr(spec.lines, key))
    return StagingTables(spec, staged, lines)
