"""What the SQL ERP adapter keeps between openings (warm.py): engines and tables read by shape.

A schema changed between two openings must be read as it is now, on SQLite, PostgreSQL and
MariaDB, although the second opening gets the first one's engine and compiled statements back.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.erp_generic import warm
from adapters.erp_generic.adapter import ErpGenericAdapter, SqlBackend
from adapters.erp_generic.sample import sample_config
from adapters.erp_generic.settings import ErpGenericSettings, SqlSettings
from connector.adapter import NativeRecord
from connector.model import Entity
from tests.erp_generic.conftest import SMALL, build_adapter


def _engine(adapter: ErpGenericAdapter) -> sa.Engine:
    backend = adapter._backend
    assert isinstance(backend, SqlBackend)
    return backend.store.engine


async def _read(url: str, base_dir: Path) -> tuple[sa.Engine, list[NativeRecord]]:
    """Open an adapter, read every customer, close it: a run of a freshly opened runtime."""
    adapter = build_adapter(url, base_dir, page_size=7)
    await adapter.open()
    try:
        records = [
            record
            async for page in adapter.read_changes(Entity.CUSTOMER, None)
            for record in page.records
        ]
        return _engine(adapter), records
    finally:
        await adapter.close()


def _alter(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


async def test_a_schema_changed_between_openings_is_read_as_it_is_now(
    sample_url: str, tmp_path: Path
) -> None:
    first_engine, before = await _read(sample_url, tmp_path)
    assert len(before) == SMALL["customers"]
    assert "region_code" not in before[0].fields

    # A column added: the kept statement (31 columns) would leave it out.
    _alter(
        sample_url,
        "ALTER TABLE customers ADD COLUMN region_code VARCHAR(12)",
        "UPDATE customers SET region_code = '2031-01-02'",
    )
    engine, added = await _read(sample_url, tmp_path)
    assert engine is first_engine  # the same engine, with the compiled cache it had
    assert {record.fields["region_code"] for record in added} == {"2031-01-02"}

    # The same column again with another type: the text becomes a date.
    _alter(
        sample_url,
        "ALTER TABLE customers DROP COLUMN region_code",
        "ALTER TABLE customers ADD COLUMN region_code DATE",
        "UPDATE customers SET region_code = '2031-01-02'",
    )
    engine, retyped = await _read(sample_url, tmp_path)
    assert engine is first_engine
    assert {record.fields["region_code"] for record in retyped} == {dt.date(2031, 1, 2)}

    # A column renamed: a kept statement naming the old column would fail.
    _alter(sample_url, "ALTER TABLE customers RENAME COLUMN website TO web_address")
    engine, renamed = await _read(sample_url, tmp_path)
    assert "website" not in renamed[0].fields
    assert [r.fields["web_address"] for r in renamed] == [r.fields["website"] for r in before]
    # Nothing else moved.
    assert [(r.id, r.updated_at, r.fields["name"]) for r in renamed] == [
        (r.id, r.updated_at, r.fields["name"]) for r in before
    ]


async def test_two_adapters_open_at_once_have_engines_of_their_own(
    sample_url: str, tmp_path: Path
) -> None:
    first = build_adapter(sample_url, tmp_path)
    second = build_adapter(sample_url, tmp_path)
    await first.open()
    await second.open()
    try:
        assert _engine(first) is not _engine(second)
    finally:
        engine = _engine(first)
        await first.close()
        await second.close()
    assert engine.pool.checkedout() == 0 and engine.pool.checkedin() == 0  # disposed


def test_an_engine_is_kept_only_for_the_same_settings(tmp_path: Path) -> None:
    def settings(url: str, **more: Any) -> SqlSettings:
        root = ErpGenericSettings.model_validate({**sample_config(url), **more}).root
        assert isinstance(root, SqlSettings)
        return root

    here = settings(f"sqlite:///{tmp_path / 'a.db'}")
    engine = warm.take_engine(here, tmp_path)
    warm.give_back(engine, here, tmp_path)
    assert warm.take_engine(settings(f"sqlite:///{tmp_path / 'b.db'}"), tmp_path) is not engine
    assert warm.take_engine(here, tmp_path / "elsewhere") is not engine
    assert warm.take_engine(settings(here.url.get_secret_value(), page_size=5), tmp_path) is (
        engine
    )  # the page size is no part of the engine
    assert warm.take_engine(here, tmp_path) is not engine  # lent out: not twice


def _table(*columns: sa.Column[Any], name: str = "customers") -> sa.Table:
    return sa.Table(name, sa.MetaData(), *columns)


def test_tables_of_one_shape_are_read_through_the_first() -> None:
    def shape(kind: sa.types.TypeEngine[Any]) -> sa.Table:
        return _table(sa.Column("id", sa.Integer), sa.Column("note", kind))

    first = shape(sa.String(20))
    assert warm.read_table(first) is first
    assert warm.read_table(shape(sa.String(20))) is first
    for other in (shape(sa.String(21)), shape(sa.Text()), shape(sa.Date())):
        assert warm.read_table(other) is other
    renamed = _table(sa.Column("id", sa.Integer), sa.Column("notes", sa.String(20)))
    assert warm.read_table(renamed) is renamed
    elsewhere = _table(sa.Column("id", sa.Integer), sa.Column("note", sa.String(20)), name="x")
    assert warm.read_table(elsewhere) is elsewhere


class Uncached(sa.types.TypeDecorator[str]):
    impl = sa.String
    cache_ok = None  # SQLAlchemy cannot key statements of it


def test_a_table_with_a_type_sqlalchemy_cannot_key_is_its_own() -> None:
    first = _table(sa.Column("id", sa.Integer), sa.Column("x", Uncached()))
    second = _table(sa.Column("id", sa.Integer), sa.Column("x", Uncached()))
    with pytest.warns(sa.exc.SAWarning, match="cache_ok"):
        assert warm.read_table(first) is first
        assert warm.read_table(second) is second
    nested = _table(sa.Column("id", sa.Integer), sa.Column("x", postgresql.ARRAY(Uncached())))
    with pytest.warns(sa.exc.SAWarning, match="cache_ok"):
        assert warm.read_table(nested) is nested


async def test_type_keys_are_sqlalchemys_own(sample_url: str, tmp_path: Path) -> None:
    """`warm._type_key` computes `_static_cache_key` faster: the two must agree, on the types
    each database reflects and on types with arguments of every kind."""
    adapter = build_adapter(sample_url, tmp_path)
    await adapter.open()
    try:
        backend = adapter._backend
        assert isinstance(backend, SqlBackend)
        kinds = [
            column.type
            for tables in backend.store.schema.entities.values()
            for table in (tables.table, tables.lines)
            if table is not None
            for column in table.c
        ]
    finally:
        await adapter.close()
    kinds += [
        sa.Numeric(12, 3, asdecimal=False),
        sa.DateTime(timezone=True),
        sa.Enum("a", "b", name="letters"),
        sa.String(30, collation="C"),
        postgresql.ARRAY(sa.Numeric(10, 2), dimensions=2),
        sa.JSON(none_as_null=True),
    ]
    for kind in kinds:
        assert warm._type_key(kind) == kind._static_cache_key, kind
