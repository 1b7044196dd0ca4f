"""Fixtures for the daemon tests: stores on SQLite, PostgreSQL and MariaDB, a fake clock,
signing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from adapters.erp_generic.webhooks import StandardWebhooksVerifier, sign
from connector.state.store import StateStore, open_store

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
SECRET_A = SecretStr("whsec_" + base64.b64encode(KEY_A).decode())
SECRET_B = SecretStr("whsec_" + base64.b64encode(KEY_B).decode())


class FakeClock:
    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, clock=clock)
    yield store
    store.close()


def pg_base_url() -> str:
    return os.environ.get("CONNECTOR_TEST_PG_URL", DEFAULT_PG_URL)


def _pg_url_for(schema: str) -> str:
    base = pg_base_url()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL; fails (never skips) when it is unreachable."""
    schema = f"daemon_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_base_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_url_for(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_store(pg_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    store = open_store(pg_url, tmp_path, clock=clock)
    yield store
    store.close()


@pytest.fixture
def mariadb_store(
    mysql_database_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[StateStore]:
    store = open_store(mysql_database_url, tmp_path, clock=clock)
    yield store
    store.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest) -> str:
    """A fresh store on each database server the product supports (a PostgreSQL schema, a
    MariaDB database), for the cases where several processes share one store."""
    url: str = request.getfixturevalue(
        "pg_url" if request.param == "postgresql" else "mysql_database_url"
    )
    return url


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_store(request: pytest.FixtureRequest) -> StateStore:
    name = {"sqlite": "sqlite_store", "postgresql": "pg_store", "mariadb": "mariadb_store"}
    store: StateStore = request.getfixturevalue(name[request.param])
    return store


@pytest.fixture
def verifier() -> StandardWebhooksVerifier:
    """A Standard Webhooks verifier with two active secrets (A and B)."""
    return StandardWebhooksVerifier([SECRET_A, SECRET_B])


@pytest.fixture
def secret() -> SecretStr:
    """Secret A, whose key `deliver` signs with by default."""
    return SECRET_A


@pytest.fixture
def keys() -> dict[str, bytes]:
    return {"a": KEY_A, "b": KEY_B}


def signed_delivery(
    message_id: str,
    body: bytes | dict[str, Any],
    *,
    at: dt.datetime,
    key: bytes = KEY_A,
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = int(at.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, message_id, timestamp, raw),
    }
    return raw, headers


@pytest.fixture
def deliver() -> Any:
    """`deliver(message_id, body, at=..., key=...)` → (raw body, signed headers)."""
    return signed_delivery


@pytest.fixture
def change_body() -> Any:
    """`change_body(entity, id, action="updated")` → the ERP event body."""
    return change


def change(entity: str, record_id: str, action: str = "updated") -> dict[str, Any]:
    return {"type": f"{entity}.{action}", "data": {"entity": entity, "id": record_id}}
