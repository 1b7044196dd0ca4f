"""A pooled connection is pinged before use only after it waited in the pool a while
(`connector.state.connect._ping_after_idle`): one that died while idle is replaced unseen, one
that died within a moment of its last use fails one statement as an outage, and the next
statement connects afresh. A SQLite connection, which has no server session to lose, is never
pinged."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, make_url, text

from connector.state import connect
from connector.state.connect import is_outage
from connector.state.store import StateStore


def _pings(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each ping the store's pool makes, counted."""
    pings: list[object] = []
    dialect = store.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


def test_a_connection_used_a_moment_ago_is_not_pinged(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(store, monkeypatch)
    monkeypatch.setattr(connect, "PING_AFTER_IDLE_SECONDS", 3600.0)
    for _ in range(5):
        assert store.ping()
    assert pings == []


def _end_the_stores_session(store: StateStore) -> None:
    """End the server session of the store's one pooled connection from another one."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            session = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            ending = text("SELECT pg_terminate_backend(:session)")
        else:
            session = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            ending = text("KILL CONNECTION :session")
    url = make_url(store.engine.url).render_as_string(hide_password=False)
    other = create_engine(url)
    try:
        with other.begin() as conn:
            conn.execute(ending, {"session": session})
    finally:
        other.dispose()


#: A SQLite connection has no server session to lose: these run on the two server stores.
on_server_stores = pytest.mark.parametrize("store_url", ["postgresql", "mariadb"], indirect=True)


@pytest.fixture
def server_store(store: StateStore) -> StateStore:
    return store


@on_server_stores
def test_a_connection_that_waited_is_pinged(
    server_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server_store.ping()  # connected: not pinged
    pings = _pings(server_store, monkeypatch)
    monkeypatch.setattr(connect, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert server_store.ping()
    assert server_store.ping()
    assert len(pings) == 2


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_sqlite_connection_is_never_pinged(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite connection has no server session that could end while it waits in the pool:
    however long it waited, it is used without a ping (a run after a pause saves one)."""
    assert store.ping()
    pings = _pings(store, monkeypatch)
    monkeypatch.setattr(connect, "PING_AFTER_IDLE_SECONDS", 0.0)
    for _ in range(3):
        with store.engine.connect():
            pass
    assert store.ping()
    assert pings == []


@on_server_stores
def test_a_connection_that_died_while_idle_is_replaced_unseen(
    server_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _end_the_stores_session(server_store)
    monkeypatch.setattr(connect, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert server_store.count_bindings() == 0


@on_server_stores
def test_a_connection_that_died_a_moment_after_its_use_fails_once_as_an_outage(
    server_store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connect, "PING_AFTER_IDLE_SECONDS", 3600.0)
    _end_the_stores_session(server_store)
    with pytest.raises(exc.DBAPIError) as failed:
        server_store.count_bindings()
    assert is_outage(failed.value) and failed.value.connection_invalidated
    assert server_store.count_bindings() == 0
