"""SQL mode on what only MySQL/MariaDB does: `TIMESTAMP` columns shown in the session's time
zone, a permissive `sql_mode` that mangles values instead of refusing them, `DATETIME` keeping
whole seconds, and the portable upsert (no ON CONFLICT) racing another writer."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeRecord, NativeWrite
from connector.errors import ConfigurationError
from connector.model import Entity

UTC = dt.UTC
METADATA = sa.MetaData()
STAMPED = sa.Table(
    "stamped",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(10), nullable=False),
    sa.Column("changed", mysql.TIMESTAMP(fsp=6), nullable=False),
    sa.Column("sync_key", sa.String(64), unique=True),
)
COARSE = sa.Table(
    "coarse",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(10)),
    sa.Column("changed", mysql.DATETIME(), nullable=False),  # whole seconds
    sa.Column("gone", mysql.DATETIME()),
    sa.Column("sync_key", sa.String(64), unique=True),
)
ENTITIES = {
    "customer": {
        "table": "stamped",
        "updated_at": "changed",
        "sync_key": "sync_key",
        "write": "table",
    },
    "contact": {
        "table": "coarse",
        "updated_at": "changed",
        "soft_delete": "gone",
        "sync_key": "sync_key",
        "write": "table",
    },
}

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_url(mysql_database_url: str) -> str:
    engine = sa.create_engine(mysql_database_url)
    METADATA.create_all(engine)
    engine.dispose()
    return mysql_database_url


def with_session(url: str, init_command: str) -> str:
    """The URL with a statement PyMySQL runs first on every connection: how a server whose
    defaults differ (a local time zone, a permissive sql_mode) looks to the adapter."""
    parsed = sa.make_url(url).update_query_dict({"init_command": init_command})
    return parsed.render_as_string(hide_password=False)


async def opened(
    url: str, base_dir: Path, clock: Callable[[], dt.datetime] | None = None
) -> ErpGenericAdapter:
    settings = ErpGenericSettings.model_validate({"url": url, "entities": ENTITIES})
    if clock is None:
        adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(base_dir))
    else:
        adapter = ErpGenericAdapter("erp", settings.root, AdapterContext(base_dir), clock=clock)
    await adapter.open()
    return adapter


async def changes(
    adapter: ErpGenericAdapter, entity: Entity, since: dt.datetime | None
) -> list[NativeRecord]:
    return [r async for page in adapter.read_changes(entity, since) for r in page.records]


def utc_rows(url: str, table: sa.Table) -> list[dict[str, Any]]:
    engine = sa.create_engine(with_session(url, "SET time_zone = '+00:00'"))
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.select(table))]
    finally:
        engine.dispose()


async def test_timestamp_columns_read_and_write_utc_whatever_the_server_zone(
    mysql_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(with_session(mysql_url, "SET time_zone = '+00:00'"))
    with engine.begin() as connection:
        noon = dt.datetime(2030, 1, 1, 12, 0)
        connection.execute(sa.insert(STAMPED).values(id=1, name="noon", changed=noon))
    engine.dispose()
    # A server in UTC+5 would show that row as 17:00 and store our 08:00 as 03:00 UTC.
    local_server = with_session(mysql_url, "SET time_zone = '+05:00'")
    written_at = dt.datetime(2030, 1, 2, 8, 0, tzinfo=UTC)
    adapter = await opened(local_server, tmp_path, clock=lambda: written_at)
    try:
        [noon_row] = await changes(adapter, Entity.CUSTOMER, None)
        assert noon_row.updated_at == dt.datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        write = NativeWrite("k-new", None, {"name": "new"})
        [result] = await adapter.upsert(Entity.CUSTOMER, [write])
        assert result.ok and result.updated_at == written_at
    finally:
        await adapter.close()
    stored = {row["name"]: row["changed"] for row in utc_rows(mysql_url, STAMPED)}
    assert stored["new"] == dt.datetime(2030, 1, 2, 8, 0)


async def test_a_permissive_server_still_refuses_bad_rows(mysql_url: str, tmp_path: Path) -> None:
    # With an empty sql_mode the server would cut the long name to ten characters and store
    # '' for the missing one, each with only a warning.
    adapter = await opened(with_session(mysql_url, "SET sql_mode = ''"), tmp_path)
    try:
        writes = [
            NativeWrite("ok", None, {"name": "fine"}),
            NativeWrite("long", None, {"name": "far too long for ten"}),
            NativeWrite("missing", None, {}),
        ]
        results = {r.key: r for r in await adapter.upsert(Entity.CUSTOMER, writes)}
    finally:
        await adapter.close()
    assert results["ok"].ok
    assert results["long"].error is not None and results["long"].error.code == "INVALID_VALUE"
    assert results["missing"].error is not None
    assert results["missing"].error.code == "CONSTRAINT_VIOLATION"
    assert [row["sync_key"] for row in utc_rows(mysql_url, STAMPED)] == ["ok"]


async def test_a_write_reports_the_time_a_whole_second_column_keeps(
    mysql_url: str, tmp_path: Path
) -> None:
    moment = dt.datetime(2030, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    adapter = await opened(mysql_url, tmp_path, clock=lambda: moment)
    try:
        [result] = await adapter.upsert(Entity.CONTACT, [NativeWrite("c", None, {"name": "c"})])
        assert result.ok and result.updated_at == moment.replace(microsecond=0)
        # The engine asks for changes since a write: the row must be among them.
        feed = await changes(adapter, Entity.CONTACT, result.updated_at)
        assert [(r.id, r.updated_at) for r in feed] == [(result.external_id, result.updated_at)]
        [deleted] = await adapter.delete(Entity.CONTACT, [str(result.external_id)])
        assert deleted.updated_at == moment.replace(microsecond=0)
        feed = await changes(adapter, Entity.CONTACT, deleted.updated_at)
        assert [(r.id, r.deleted) for r in feed] == [(result.external_id, True)]
    finally:
        await adapter.close()


async def test_the_portable_upsert_updates_a_row_another_writer_inserted_meanwhile(
    mysql_url: str, tmp_path: Path
) -> None:
    other = sa.create_engine(mysql_url)
    adapter = await opened(mysql_url, tmp_path)
    try:
        with other.connect() as writer:
            # Another writer inserts the same sync key and has not committed yet: our select
            # cannot see its row, and our INSERT waits on its key.
            stamp = dt.datetime(2030, 1, 1)
            writer.execute(sa.insert(STAMPED).values(name="theirs", changed=stamp, sync_key="race"))
            theirs = writer.execute(sa.select(STAMPED.c.id)).scalar_one()
            ours = asyncio.ensure_future(
                adapter.upsert(Entity.CUSTOMER, [NativeWrite("race", None, {"name": "ours"})])
            )
            await wait_for_a_lock_wait(writer)
            writer.commit()
        [result] = await ours
    finally:
        await adapter.close()
        other.dispose()
    assert result.ok, result.error
    assert not result.created and result.external_id == str(theirs)
    rows = utc_rows(mysql_url, STAMPED)
    assert [(row["id"], row["name"]) for row in rows] == [(theirs, "ours")]


async def wait_for_a_lock_wait(observer: sa.Connection) -> None:
    query = sa.text(
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if observer.execute(query).scalar_one():
            return
        # InnoDB refreshes this table only when it was not read in the last 0.1 s.
        await asyncio.sleep(0.15)
    raise AssertionError("the adapter's write never waited on the other writer's row")


@pytest.mark.parametrize("module", ["MySQLdb"])
async def test_a_missing_driver_is_a_configuration_error(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if mysqlclient were not installed
    # `mysql://` means PyMySQL, which is installed; naming another driver must still be a
    # configuration error that says which drivers the connector ships.
    settings = ErpGenericSettings.model_validate(
        {"url": "mysql+mysqldb://erp@127.0.0.1/erp", "entities": ENTITIES}
    )
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(tmp_path))
    with pytest.raises(ConfigurationError, match=r"mysql:// or mariadb:// \(PyMySQL\)"):
        await adapter.open()
