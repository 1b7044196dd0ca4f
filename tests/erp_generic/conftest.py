"""Fixtures for the erp_generic tests: a small sample ERP on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.sample import populate, sample_config, sample_metadata
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext

SMALL = {"customers": 30, "contacts": 60, "orders": 40, "products": 10}

#: The databases the SQL mode is tested against; a server's cases carry its marker, so
#: `-m "not mariadb"` leaves them out.
SQL_DATABASES = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def database_url(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> str:
    """An empty database of the kind named by a `SQL_DATABASES` parameter."""
    if database == "sqlite":
        return f"sqlite:///{tmp_path / 'erp.db'}"
    fixture = {"postgresql": "pg_schema_url", "mariadb": "mysql_database_url"}[database]
    url: str = request.getfixturevalue(fixture)
    return url


class StepClock:
    """A clock that moves one second per call, so every write has its own timestamp."""

    def __init__(self, start: dt.datetime = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture(params=SQL_DATABASES)
def erp_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each dialect the SQL mode is tested against."""
    return database_url(request, tmp_path, request.param)


def fill_sample(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        populate(engine, sample_metadata(), **SMALL)
    finally:
        engine.dispose()


@pytest.fixture
def sample_url(erp_url: str) -> str:
    """A small sample ERP filled with generated data."""
    fill_sample(erp_url)
    return erp_url


def build_adapter(
    url: str, base_dir: Path, clock: Callable[[], dt.datetime] | None = None, **overrides: Any
) -> ErpGenericAdapter:
    block = sample_config(url)
    block.update(overrides)
    settings = ErpGenericSettings.model_validate(block)
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(base_dir=base_dir))
    if clock is not None:
        return ErpGenericAdapter("erp", settings.root, AdapterContext(base_dir), clock=clock)
    return adapter


@pytest.fixture
async def erp(sample_url: str, tmp_path: Path) -> AsyncIterator[ErpGenericAdapter]:
    adapter = build_adapter(sample_url, tmp_path, clock=StepClock(), page_size=7)
    await adapter.open()
    yield adapter
    await adapter.close()
