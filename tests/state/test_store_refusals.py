"""A state.url the database server refuses (unknown database, user or password) is a
configuration error — exit 2, said once — not a store that is not answering (exit 3, which
the daemon and a person would wait out), at start and mid-run alike (a password rotated, an
account locked, a database dropped under a running process). Checked on the real PostgreSQL and
MariaDB servers."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy import create_engine, exc, make_url, text

from connector.engine.lease import RunLease
from connector.errors import ConfigurationError, StoreRefusedError, StoreUnavailableError
from connector.state.connect import StoreTimeouts, is_outage, is_refusal
from connector.state.store import StateStore, open_store
from tests.conftest import MYSQL_URL, PG_URL
from tests.daemon.blackhole import BlackholeProxy
from tests.refusing import CASES, RefusableStore, refusable_store

QUICK = StoreTimeouts(connect_seconds=2.0, statement_seconds=5.0)
NOBODY = f"nobody_{uuid.uuid4().hex[:8]}"
NO_SUCH_DB = f"no_such_db_{uuid.uuid4().hex[:8]}"


def changed(url: str, **parts: str) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> str:
    """A fresh schema (PostgreSQL) or database (MariaDB) on each server: a store opened there
    migrates its own tables, whatever revision other branches left in the shared one."""
    fixture = "pg_schema_url" if request.param == "postgresql" else "mysql_database_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.mark.parametrize(
    "parts",
    [{"database": NO_SUCH_DB}, {"username": NOBODY, "password": "wrong"}],
    ids=["unknown-database", "unknown-user"],
)
def test_a_refused_connection_is_a_configuration_error(
    server: str, parts: dict[str, str], tmp_path: Path
):
    with pytest.raises(ConfigurationError, match=r"state\.url: the database server refused") as e:
        open_store(changed(server, **parts), tmp_path, timeouts=QUICK)
    shown = parts.get("database") or parts["username"]
    assert shown in str(e.value) and "wrong" not in str(e.value)


def test_a_wrong_password_on_mariadb_is_a_configuration_error(mysql_database_url: str, tmp_path):
    # Error 1045; PostgreSQL's test server trusts local connections, so asks for no password.
    url = changed(mysql_database_url, password="wrong-password")
    with pytest.raises(ConfigurationError, match=r"\(1045, .Access denied"):
        open_store(url, tmp_path, timeouts=QUICK)


def test_a_database_the_user_may_not_use_on_mariadb_is_a_configuration_error(
    mysql_database_url: str, tmp_path
):
    """Error 1044: the user exists and its password is right, but it has no rights there."""
    admin = create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE USER '{NOBODY}'@'%' IDENTIFIED BY 'secret'"))
        url = changed(mysql_database_url, username=NOBODY, password="secret")
        with pytest.raises(ConfigurationError, match=r"\(1044, .Access denied"):
            open_store(url, tmp_path, timeouts=QUICK)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP USER IF EXISTS '{NOBODY}'@'%'"))
        admin.dispose()


def test_a_closed_port_is_still_a_store_that_is_not_answering(server: str, tmp_path: Path):
    with pytest.raises(StoreUnavailableError, match="not answering"):
        open_store(changed(server, port="1"), tmp_path, timeouts=QUICK)


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        ('connection failed: … failed: FATAL:  password authentication failed for user "x"', True),
        (
            'connection failed: … failed: FATAL:  no pg_hba.conf entry for host "10.0.0.1", '
            'user "sync", database "sync", no encryption',
            True,
        ),
        (  # PostgreSQL 11's words
            'connection failed: … failed: FATAL:  no pg_hba.conf entry for host "10.0.0.1", '
            'user "sync", database "sync", SSL off',
            True,
        ),
        ('connection failed: … failed: FATAL:  permission denied for database "sync"', True),
        ('connection failed: … failed: FATAL:  role "sync" is not permitted to log in', True),
        ("connection failed: … failed: fe_sendauth: no password supplied", True),
        ("connection failed: … failed: FATAL:  the database system is starting up", False),
        ("connection failed: … failed: FATAL:  sorry, too many clients already", False),
    ],
)
def test_postgresql_refusals_the_test_server_cannot_show(message: str, refused: bool):
    """What the trusting test server never says, read from the server's wording."""
    error = exc.OperationalError("connect", {}, psycopg.OperationalError(message))
    assert is_refusal(error) is refused


#: As a server with `lc_messages` German, Russian or Japanese words them (the German ones as a
#: PostgreSQL 15 cluster initialised with `--lc-messages=de_DE.UTF-8` sent them to psycopg).
TRANSLATED = [
    ("failed: FATAL:  Datenbank »sync« existiert nicht", True),
    ("failed: FATAL:  Rolle »sync« hat keine Berechtigung zum Einloggen", True),
    ("failed: FATAL:  Passwort-Authentifizierung für Benutzer »sync« fehlgeschlagen", True),
    ("failed: FATAL:  keine Berechtigung für Datenbank »sync«", True),
    (
        "failed: FATAL:  pg_hba.conf lehnt Verbindung ab für Host »127.0.0.1«, Benutzer "
        "»sync«, Datenbank »sync«, keine Verschlüsselung",
        True,
    ),
    ('failed: ВАЖНО:  для роли "sync" вход запрещён', True),
    ('failed: FATAL:  ユーザー"sync"のパスワード認証に失敗しました', True),
    ("failed: FATAL:  l'authentification par mot de passe a échoué", False),  # not its words
    ("failed: FATAL:  das Datenbanksystem startet", False),
    ("failed: ВАЖНО:  извините, уже слишком много клиентов", False),
]


@pytest.mark.parametrize(("message", "refused"), TRANSLATED)
def test_postgresql_refusals_in_the_servers_language(message: str, refused: bool):
    """psycopg has no SQLSTATE for a connection the server refused (only libpq's text, in the
    server's `lc_messages`): the refusal is still told from the transient failures."""
    error = exc.OperationalError("connect", {}, psycopg.OperationalError(f"connection {message}"))
    assert is_refusal(error) is refused
    assert is_outage(error) is not refused


@pytest.mark.parametrize(
    ("sqlstate", "wrapper", "refused"),
    [
        ("28P01", exc.OperationalError, True),  # invalid_password
        ("28000", exc.OperationalError, True),  # invalid_authorization_specification
        ("3D000", exc.ProgrammingError, True),  # invalid_catalog_name
        ("57P01", exc.OperationalError, False),  # admin_shutdown: a session ended, an outage
        ("57P03", exc.OperationalError, False),  # cannot_connect_now: starting up
        ("53300", exc.OperationalError, False),  # too_many_connections
    ],
)
def test_a_postgresql_error_with_a_sqlstate_is_decided_by_it(
    sqlstate: str, wrapper: type[exc.DBAPIError], refused: bool
):
    """Where psycopg has the SQLSTATE, it decides, whatever the words say (here the words
    always say a refusal)."""
    original = psycopg.errors.lookup(sqlstate)('password authentication failed for user "x"')
    assert original.sqlstate == sqlstate
    assert is_refusal(wrapper("SELECT 1", {}, original)) is refused


def test_a_statement_refused_a_privilege_is_no_refusal_of_the_store(pg_schema_url: str):
    """42501 (insufficient_privilege) refuses a connection only before a session exists (no
    CONNECT right); a statement it refuses (a table the account may not read) is an error of
    that statement, neither a refusal nor an outage. On the real server."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    role = f"r_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE ROLE "{role}"'))
            connection.execute(text("CREATE TABLE IF NOT EXISTS refusal_private (x int)"))
            connection.execute(text("REVOKE ALL ON refusal_private FROM PUBLIC"))
            connection.execute(text(f'SET ROLE "{role}"'))
            with pytest.raises(exc.ProgrammingError) as raised:
                connection.execute(text("SELECT x FROM refusal_private"))
            connection.execute(text("RESET ROLE"))
        assert getattr(raised.value.orig, "sqlstate", None) == "42501"
        assert not is_refusal(raised.value) and not is_outage(raised.value)
    finally:
        with admin.connect() as connection:
            connection.execute(text("DROP TABLE IF EXISTS refusal_private"))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_the_command_line_exits_2_for_an_unknown_database(server: str, tmp_path: Path):
    config = tmp_path / "config.yaml"
    url = changed(server, database=NO_SUCH_DB)
    state = {"version": 1, "state": {"url": url}, "systems": {}, "routes": []}
    config.write_text(yaml.safe_dump(state))
    done = subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert re.search(
        f"Unknown database '{NO_SUCH_DB}'|database \"{NO_SUCH_DB}\" does not", done.stderr
    )


@pytest.fixture(params=sorted(CASES), ids=lambda case: "-".join(case))
def refusable(request: pytest.FixtureRequest) -> Iterator[RefusableStore]:
    server, case = request.param
    request.getfixturevalue("pg_schema_url" if server == "postgresql" else "mysql_database_url")
    yield from refusable_store(server, case)


def test_a_store_refused_mid_run_says_so_and_is_no_outage(
    refusable: RefusableStore, tmp_path: Path
):
    """The store opened and worked; then the server refuses its next connection (a rotated
    password, an account that may no longer log in, a dropped database): every call says so,
    as `StoreRefusedError` (exit 2), and its listeners hear of it; it is not waited out."""
    store = open_store(refusable.url, tmp_path, timeouts=QUICK)
    heard: list[StoreRefusedError] = []
    store.on_refusal(heard.append)
    try:
        assert store.lease_holder("route:r") is None
        refusable.refuse()
        error = next_refusal(store)
        assert str(error).startswith("state.url: ")
        assert re.search(CASES[(refusable.server, refusable.case)], str(error))
        assert refusable.secret not in str(error) and "rotated" not in str(error)
        assert isinstance(error, ConfigurationError) and not is_outage(error)
        assert heard and heard[0] is error and store.refusal is error
        with pytest.raises(StoreRefusedError):  # and again: nothing retries it into success
            store.take_lease("route:r", "me", dt.timedelta(seconds=10))
    finally:
        store.close()


def test_a_server_gone_mid_run_is_still_an_outage(server: str, tmp_path: Path):
    """Connection refused at the TCP level (the server, or here the proxy in front of it, is
    gone): an outage, which runs wait out, never a refusal."""
    real = make_url(server)
    default_port = 5432 if real.get_backend_name() == "postgresql" else 3306
    proxy = BlackholeProxy(real.host or "127.0.0.1", real.port or default_port)
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    store = open_store(proxied, tmp_path, timeouts=QUICK)
    try:
        assert store.ping()
        proxy.close()
        with pytest.raises(exc.DBAPIError) as raised:
            store.ping()
        assert is_outage(raised.value) and not is_refusal(raised.value)
        assert store.refusal is None
    finally:
        proxy.close()
        store.close()


async def test_a_renewal_the_server_refused_stops_the_run(tmp_path: Path) -> None:
    """The lease keeper's renewal met the refusal first: the run's next check raises it (no
    outage to wait out, whatever the lease's own state)."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    ttl = dt.timedelta(seconds=30)
    lease = store.take_lease("route:r", "me", ttl)
    assert lease is not None
    refusal = StoreRefusedError("state.url: the database server refused the connection: x")

    def refuse(*_args: object, **_kwargs: object) -> bool:
        raise refusal

    store.renew_lease = refuse  # type: ignore[method-assign]
    guard = RunLease(store, lease, ttl)
    assert await guard.renew() is False
    with pytest.raises(StoreRefusedError, match="refused the connection: x"):
        guard.check()
    store.close()


def next_refusal(store: StateStore) -> StoreRefusedError:
    """The refusal the store's next calls meet. A session the server ended may first fail its
    statement as a lost connection (an outage: the pool pings only connections idle for a
    while); the pool then drops its connections, and the next connection is refused."""
    for attempt in range(3):
        try:
            store.lease_holder("route:r")
        except StoreRefusedError as refusal:
            return refusal
        except exc.DBAPIError as lost:
            assert is_outage(lost), lost
            continue
        raise AssertionError(f"call {attempt + 1} went through")
    raise AssertionError("no refusal in three calls")
