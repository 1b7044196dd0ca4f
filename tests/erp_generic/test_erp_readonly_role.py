"""The read-only role BEHAVIOR.md suggests for pull-only routes, on PostgreSQL and MariaDB:
reads work, a write is a configuration error (a person must grant rights), never a retried
transient failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.adapter import NativeWrite
from connector.errors import ConfigurationError
from connector.model import Entity
from tests.erp_generic.conftest import build_adapter, fill_sample


@pytest.fixture
def reader_url(pg_schema_url: str) -> Iterator[str]:
    fill_sample(pg_schema_url)
    url = sa.make_url(pg_schema_url)
    schema = str(url.query["options"]).split("=", 1)[1]
    role = f"reader_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_schema_url, isolation_level="AUTOCOMMIT")
    quoted = admin.dialect.identifier_preparer.quote
    statements = [
        f"CREATE ROLE {quoted(role)} LOGIN",
        f"GRANT USAGE ON SCHEMA {quoted(schema)} TO {quoted(role)}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {quoted(schema)} TO {quoted(role)}",
        f"ALTER ROLE {quoted(role)} SET default_transaction_read_only = on",
    ]
    with admin.connect() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    try:
        yield url.set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {quoted(role)}")
            connection.exec_driver_sql(f"DROP ROLE {quoted(role)}")
        admin.dispose()


@pytest.fixture
def mariadb_reader_url(mysql_database_url: str) -> Iterator[str]:
    """A MariaDB account that may only SELECT in the sample ERP's database."""
    fill_sample(mysql_database_url)
    url = sa.make_url(mysql_database_url)
    user = f"reader_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(mysql_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        # text(): it escapes the host wildcard for PyMySQL's %-style parameters.
        connection.execute(sa.text(f"CREATE USER '{user}'@'%'"))
        connection.execute(sa.text(f"GRANT SELECT ON `{url.database}`.* TO '{user}'@'%'"))
    try:
        yield url.set(username=user, password=None).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


@pytest.mark.parametrize(
    ("database", "refusal"),
    [
        pytest.param("postgresql", "read-only transaction", marks=pytest.mark.postgres),
        pytest.param("mariadb", "INSERT command denied", marks=pytest.mark.mariadb),
    ],
)
async def test_reads_work_and_writes_stop_with_a_clear_error(
    database: str, refusal: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fixture = {"postgresql": "reader_url", "mariadb": "mariadb_reader_url"}[database]
    url = request.getfixturevalue(fixture)
    # The history refresh writes to the ERP: not for a reader.
    adapter = build_adapter(url, tmp_path, refresh_history=None)
    await adapter.open()
    try:
        records = [r async for p in adapter.read_changes(Entity.CUSTOMER, None) for r in p.records]
        assert len(records) == 30
        write = NativeWrite("k", None, {"customer_no": "RO-1", "name": "Read only"})
        with pytest.raises(ConfigurationError, match=refusal):
            await adapter.upsert(Entity.CUSTOMER, [write])
    finally:
        await adapter.close()
