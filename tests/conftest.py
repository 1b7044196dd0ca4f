"""Fixtures shared by every test folder: state stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from connector.state.store import StateStore, open_store

PG_URL = os.environ.get(
    "CONNECTOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh PostgreSQL schema, dropped afterwards.

    Under CI (`CI` set) PostgreSQL must be reachable and a test that needs it fails when it is
    not; on a developer's machine without PostgreSQL those tests are skipped, saying why.
    """
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        admin.dispose()
        reason = f"PostgreSQL is not reachable at {PG_URL} ({type(error.orig).__name__})"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI needs it")
        pytest.skip(reason + "; set CONNECTOR_TEST_PG_URL to run the PostgreSQL tests")
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both databases the product supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[StateStore]:
    opened = open_store(store_url, tmp_path)
    yield opened
    opened.close()
