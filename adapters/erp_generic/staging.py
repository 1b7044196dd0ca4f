"""Writing through an ERP's import (staging) tables (`write: staging`).

The classic ERP interface: the connector never touches the core tables; it inserts a row into
an interface table, and the ERP's own import job validates it, creates the record (assigning its
number) and writes the outcome back into the same row: a status, the id of the record it made,
and its error text. Per write:

* no staging row for the record's canonical key yet → insert one; the record waits
  (`AwaitingTarget`, kept as a pending failure that each run of the route asks about again);
* the newest row is still waiting → the record keeps waiting (nothing is inserted twice);
* the newest row is imported → the write succeeds with the created record's id, so the engine
  binds it, and the ERP's number reaches the CRM on the next ERP → CRM pull;
* the newest row was refused → the record fails with the ERP's error text; only a changed
  record (a fix in the CRM) is staged again, never the same refused row in a loop.

An update of a record already imported is staged as a new row carrying the record's id in
`target_id_column`, for import jobs that can update; without that column it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp_generic.coerce import to_column_value
from adapters.erp_generic.settings import StagingTable
from connector.adapter import NativeWrite, WriteResult
from connector.errors import AwaitingTarget, RecordError


@dataclass(frozen=True)
class StagingTables:
    """The reflected staging header (and lines) table of one entity."""

    config: StagingTable
    table: sa.Table
    lines: sa.Table | None = None


def staged_row(staging: StagingTables, values: Mapping[str, Any]) -> dict[str, Any]:
    """The core table's column values under the staging table's column names."""
    return _renamed(staging.table, staging.config.columns, values)


def staged_line(staging: StagingTables, line: Mapping[str, Any]) -> dict[str, Any]:
    assert staging.lines is not None and staging.config.lines is not None
    return _renamed(staging.lines, staging.config.lines.columns, line)


def _renamed(
    table: sa.Table, renames: Mapping[str, str], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Non-empty values under the staging table's names, in its columns' types."""
    row: dict[str, Any] = {}
    for name, value in values.items():
        column = renames.get(name, name)
        if column not in table.c:
            raise RecordError(
                f"staging table {table.name!r} has no column {column!r}", code="UNKNOWN_COLUMN"
            )
        if value is not None:
            row[column] = to_column_value(table.c[column], value)
    return row


def write_staged(
    connection: Connection,
    staging: StagingTables,
    write: NativeWrite,
    values: Mapping[str, Any],
    lines: list[dict[str, Any]] | None,
) -> WriteResult:
    """Stage one write, or report the outcome of its earlier staging row."""
    config, table = staging.config, staging.table
    row = staged_row(staging, values)
    if write.external_id is not None:
        if config.target_id_column is None:
            raise RecordError(
                f"{table.name!r} stages new records only; the record is in the ERP already "
                "(set target_id_column if the import job can update)",
                code="STAGING_CREATES_ONLY",
            )
        row[config.target_id_column] = to_column_value(
            table.c[config.target_id_column], write.external_id
        )
    latest = _latest(connection, staging, write.key)
    if latest is not None:
        status = latest[config.status_column]
        if status in config.done_statuses:
            created = latest[config.result_id_column]
            if created is None:
                raise RecordError(
                    f"the ERP's import marked staging row {latest[config.primary_key]} "
                    f"{status!r} without a {config.result_id_column!r}",
                    code="IMPORT_FAILED",
                )
            if _same(connection, staging, latest, row, lines):
                return WriteResult(write.key, str(created), created=write.external_id is None)
            if config.target_id_column is None:
                # Imported already and changed since: it is the ERP's record now.
                return WriteResult(write.key, str(created))
            row[config.target_id_column] = to_column_value(
                table.c[config.target_id_column], created
            )
        elif status in config.failed_statuses:
            if _same(connection, staging, latest, row, lines):
                reason = latest[config.error_column] if config.error_column else None
                raise RecordError(
                    f"the ERP's import refused staging row {latest[config.primary_key]}: "
                    f"{reason or status}",
                    code="IMPORT_FAILED",
                )
        else:
            raise AwaitingTarget(
                f"waiting for the ERP's import job (staging row "
                f"{latest[config.primary_key]}, status {status!r})"
            )
    number = _insert(connection, staging, write.key, row, lines)
    raise AwaitingTarget(f"handed to the ERP's import job (staging row {number})")


def _latest(connection: Connection, staging: StagingTables, key: str) -> Mapping[str, Any] | None:
    config, table = staging.config, staging.table
    pk = table.c[config.primary_key]
    statement = (
        sa.select(table).where(table.c[config.key_column] == key).order_by(pk.desc()).limit(1)
    )
    found = connection.execute(statement).mappings().first()
    return dict(found) if found is not None else None


def _same(
    connection: Connection,
    staging: StagingTables,
    staged: Mapping[str, Any],
    row: Mapping[str, Any],
    lines: list[dict[str, Any]] | None,
) -> bool:
    """Whether a staged row already holds what this write brings (so it is not staged again)."""
    if any(staged.get(name) != to_column_value(staging.table.c[name], value)
           for name, value in row.items()):  # fmt: skip
        return False
    if lines is None or staging.lines is None or staging.config.lines is None:
        return True
    spec, table = staging.config.lines, staging.lines
    order = table.c[spec.order_by] if spec.order_by else table.c[spec.primary_key]
    stored = (
        connection.execute(
            sa.select(table)
            .where(table.c[spec.foreign_key] == staged[staging.config.primary_key])
            .order_by(order, table.c[spec.primary_key])
        )
        .mappings()
        .all()
    )
    wanted = [staged_line(staging, line) for line in lines]
    if len(stored) != len(wanted):
        return False
    return all(
        all(old.get(name) == value for name, value in new.items())
        for old, new in zip(stored, wanted, strict=True)
    )


def _insert(
    connection: Connection,
    staging: StagingTables,
    key: str,
    row: dict[str, Any],
    lines: list[dict[str, Any]] | None,
) -> Any:
    config, table = staging.config, staging.table
    row = {**row, config.key_column: key}
    if config.new_status is not None:
        row[config.status_column] = config.new_status
    inserted = connection.execute(sa.insert(table).values(row)).inserted_primary_key
    assert inserted is not None, "an INSERT always reports its primary key"
    header = inserted[0]
    if lines and staging.lines is not None and config.lines is not None:
        spec = config.lines
        rows = []
        for number, line in enumerate(lines, start=1):
            staged = staged_line(staging, line)
            staged[spec.foreign_key] = header
            if spec.order_by is not None and staged.get(spec.order_by) is None:
                staged[spec.order_by] = number
            rows.append(staged)
        names = sorted({name for staged in rows for name in staged})
        connection.execute(sa.insert(staging.lines), [{n: r.get(n) for n in names} for r in rows])
    return header
