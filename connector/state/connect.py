"""Opening the store's database so that a silent store is a timeout, never a hang.

Every connection gets a bound on each way it could wait:

* **SQLite** — the busy timeout (how long a writer waits for another process's transaction).
* **PostgreSQL** — `connect_timeout` for the connection itself; server-side
  `statement_timeout` (a slow statement) and `idle_in_transaction_session_timeout` (a client
  that froze inside a transaction — a paused lease holder — stops holding its row locks);
  TCP keepalives and `tcp_user_timeout` for a peer that vanished. None of these helps when the
  server's side of the socket stays open but nothing comes back (a proxy or a half-open
  partition: the kernel still acknowledges every packet), so the client also gives each reply
  a deadline: psycopg 3.3's `Connection.wait` takes a `timeout`, and every blocking
  exchange on a connection (statements, commit, rollback, the pool's pre-ping) goes through it.
  A connection whose reply did not come in time is closed, which SQLAlchemy reads as a
  disconnect: the pool drops it and the next checkout connects afresh.
* **MariaDB** — PyMySQL's `connect_timeout`, and `read_timeout` as the client's deadline for
  any reply (a socket timeout: PyMySQL closes the connection, which SQLAlchemy counts as a
  disconnect). Server-side, per session: `max_statement_time` (a slow statement, lock waits
  included), `innodb_lock_wait_timeout`, and `idle_transaction_timeout` (MariaDB 10.3+): a
  client frozen inside a transaction loses it, and with it its row locks, as on PostgreSQL;
  `net_read_timeout` bounds one frozen in the middle of sending a statement. The session is
  also made strict (`sql_mode`: a value that does not fit is an error, never silently cut or
  replaced — the bindings upsert relies on it, see `connector.state.upserts`) and READ
  COMMITTED (see `MYSQL_ISOLATION`).
* **The pool** — a connection that has waited in the pool for a while is pinged before use,
  so one that died while idle (a server restart, a firewall's idle cut) is replaced instead of
  failing the statement (`_ping_after_idle`); and a checkout timeout.

libpq parameters: postgresql.org/docs/current/libpq-connect.html (`connect_timeout`,
`keepalives*`, `tcp_user_timeout`, `options`); server settings: runtime-config-client.html.
MariaDB's: mariadb.com/kb/en/server-system-variables (`max_statement_time`,
`idle_transaction_timeout`, `net_read_timeout`) and innodb-system-variables.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.engine import ExceptionContext

from connector.errors import ConfigurationError, StoreRefusedError
from connector.state.base import MYSQL_FAMILY
from connector.state.pgrefusals import postgres_refused
from connector.state.snapshots import decode_json_bytes

#: MariaDB's oldest release with what the store uses: `FOR UPDATE SKIP LOCKED` (the inbox
#: claim) and `JSON_TABLE` (id lists, `connector.state.hotpath`), both new in 10.6.
MARIADB_MINIMUM = (10, 6)

#: InnoDB defaults to REPEATABLE READ, whose locking reads also lock the gaps between rows:
#: two processes taking a lease that has no row yet both lock the gap, then each one's INSERT
#: waits for the other's gap lock, and one of them dies in a deadlock. READ COMMITTED takes no
#: gap locks for searches, and each statement reads what is committed when it starts — what the
#: store's statements were written for on PostgreSQL (its default).
MYSQL_ISOLATION = "READ COMMITTED"

#: Strict, and nothing that changes how SQL is parsed (no ANSI_QUOTES, no PIPES_AS_CONCAT).
_MYSQL_SQL_MODE = (
    "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
    "NO_ENGINE_SUBSTITUTION"
)


@dataclass(frozen=True)
class StoreTimeouts:
    """How long the store may take: to connect, to run one statement, and through an outage."""

    connect_seconds: float = 5.0
    statement_seconds: float = 30.0

    @property
    def reply_seconds(self) -> float:
        """The client's deadline for any one reply: the server's own limit, plus slack."""
        return self.statement_seconds + 2.0


def is_outage(error: BaseException) -> bool:
    """True for errors that say the store is not answering, not that a statement is wrong.

    Connection refused (at the TCP level) or lost, a reply that did not come in time, a
    statement cancelled by the server's timeout, SQLite's busy timeout, and no free connection
    in the pool. A server that answered and refused the login (`is_refusal`) is not one.
    """
    if isinstance(error, exc.DBAPIError):
        if is_refusal(error):
            return False
        return error.connection_invalidated or isinstance(
            error, exc.OperationalError | exc.InterfaceError
        )
    return isinstance(error, exc.TimeoutError)


#: MariaDB's errors for a connection refused for what `state.url` says: retrying cannot help
#: (MariaDB's error code reference: mariadb.com/kb/en/mariadb-error-code-reference).
_MYSQL_REFUSALS = frozenset(
    {
        1044,  # ER_DBACCESS_DENIED_ERROR: the user may not use that database
        1045,  # ER_ACCESS_DENIED_ERROR: bad user or password
        1049,  # ER_BAD_DB_ERROR: unknown database
        1698,  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR: an unknown user, or one without a password
    }
)

_MYSQL_NO_SUCH_TABLE = 1146
_POSTGRES_UNDEFINED_TABLE = "42P01"


def is_refusal(error: BaseException) -> bool:
    """True when the server answered, and refused the store's connection for what `state.url`
    says (an unknown database, user or password, no right to connect): not an outage."""
    original = getattr(error, "orig", None)
    if not isinstance(error, exc.DBAPIError) or original is None:
        return False
    module = type(original).__module__.partition(".")[0]
    if module == "pymysql":  # by error number: the same in every `lc_messages`
        return (
            isinstance(error, exc.OperationalError)
            and bool(original.args)
            and original.args[0] in _MYSQL_REFUSALS
        )
    if module == "psycopg":  # by SQLSTATE where psycopg has one (`connector.state.pgrefusals`)
        return postgres_refused(original)
    return False


def is_store_gone(error: BaseException) -> bool:
    """True when the server says a table of the store does not exist: its database (or, on
    PostgreSQL, its schema) was dropped under a running process. MariaDB keeps the sessions
    of a dropped database open, and their pings answer, so this is how a store there learns
    of it (error 1146, ER_NO_SUCH_TABLE); PostgreSQL's is SQLSTATE 42P01, undefined_table.
    Migrations run before a store is used, so its own tables are never missing after them."""
    original = getattr(error, "orig", None)
    if not isinstance(error, exc.ProgrammingError) or original is None:
        return False
    module = type(original).__module__.partition(".")[0]
    if module == "pymysql":
        return bool(original.args) and original.args[0] == _MYSQL_NO_SUCH_TABLE
    if module == "psycopg":
        return getattr(original, "sqlstate", None) == _POSTGRES_UNDEFINED_TABLE
    return False


def refused(error: BaseException) -> StoreRefusedError:
    """The `StoreRefusedError` for a refusal or a store gone: the server's words, not the URL."""
    if is_store_gone(error):
        return StoreRefusedError(
            "state.url: the state store's tables are gone (its database or schema dropped?): "
            f"{outage_reason(error)}"
        )
    return StoreRefusedError(
        f"state.url: the database server refused the connection: {outage_reason(error)}"
    )


def raise_refusals(
    engine: Engine,
    notify: Callable[[StoreRefusedError], None],
    migrated: Callable[[], bool],
) -> None:
    """Make every refusal `engine` meets a `StoreRefusedError`, after telling `notify`; the
    store's tables gone (`is_store_gone`) as well, once `migrated()` (before, a missing table
    is what the migrations look for and make).

    Mid-run too: a password rotated or a database dropped under a running process shows when
    the pool opens its next connection (after a lost one, or to grow), wherever that happens.
    A refusal then stops the process (exit 2) instead of being waited out as an outage.
    SQLAlchemy calls `handle_error` for errors on connecting as well as in statements, and
    raises what a listener raises in the driver error's place (Core events, `handle_error`).
    """

    def listener(context: ExceptionContext) -> None:
        error = context.sqlalchemy_exception
        if error is not None and (is_refusal(error) or (is_store_gone(error) and migrated())):
            refusal = refused(error)
            notify(refusal)
            raise refusal from None

    event.listen(engine, "handle_error", listener)


def outage_reason(error: BaseException) -> str:
    """The driver's own first line (never the URL, so no password), or the error's class."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0][:200] if lines else type(original).__name__


def create_store_engine(url: str, timeouts: StoreTimeouts) -> Engine:
    options: dict[str, Any] = {}
    backend = make_url(url).get_backend_name()
    if backend in MYSQL_FAMILY:
        options = {"isolation_level": MYSQL_ISOLATION, "connect_args": _pymysql_args(timeouts)}
    elif backend == "postgresql":
        # psycopg decodes JSON itself: as the store's snapshots are decoded elsewhere.
        options = {"json_deserializer": decode_json_bytes}
    engine = create_engine(url, pool_timeout=timeouts.reply_seconds, future=True, **options)
    if engine.dialect.name == "sqlite":
        # No ping: a SQLite connection is a file the process holds open, with no server
        # session to lose while idle (see `_ping_after_idle`).
        event.listen(engine, "connect", _sqlite_pragmas(timeouts))
        return engine
    _ping_after_idle(engine)
    if engine.dialect.driver == "psycopg":
        event.listen(engine, "do_connect", _psycopg_connect(timeouts))
    elif engine.dialect.driver == "pymysql":
        event.listen(engine, "do_connect", _pymysql_connect)
    return engine


#: A connection back in the pool for longer than this is pinged before it is used again.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection before use if it has been idle for `PING_AFTER_IDLE_SECONDS`
    (PostgreSQL and MariaDB: a server session can end while the connection waits in the pool).

    SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip to the server, ~40 µs of
    the client's CPU (bench/README.md, "pgstore2"), for each of the dozens of checkouts of a
    run, taken milliseconds apart. A connection that answered a moment ago is alive; one that
    waited between runs, or between webhook events, is pinged as before. A ping that finds the
    connection dead raises `InvalidatePoolError` from the pool's checkout event: the pool then
    drops it and every connection older than it, and hands out a fresh one
    (docs.sqlalchemy.org/en/20/core/events.html#sqlalchemy.events.PoolEvents.checkout). A
    connection that dies within a second of its last use fails its next statement instead,
    which SQLAlchemy reads as a disconnect (the pool is emptied the same way) and the store
    reports as an outage (`is_outage`), as it does a server lost in the middle of a statement:
    docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-optimistic.

    Not on SQLite: its connection is the database file opened in this process, with no session
    that can end while it waits, and pysqlite's ping (`SELECT 1`) only finds a connection this
    process closed itself. Skipping it saves a new engine's first ping — `SELECT 1` compiled for
    its dialect, 0.3 to 0.56 M instructions (bench/README.md, "fixedcost-2"), in the first run of a
    `connector sync` whose adapters took more than a second to open — the warm ping of every
    daemon run after a pause, and two listener calls at every checkout.
    """
    dialect = engine.dialect

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)  # none: connected just now
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(f"the connection died while idle: {error}") from error
            raise

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _sqlite_pragmas(timeouts: StoreTimeouts) -> Any:
    busy_ms = int(timeouts.statement_seconds * 1000)

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the CLI read status while a daemon writes; the busy timeout makes two
        # processes wait for each other's short transactions instead of failing at once.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        # Bindings are keyed by random canonical keys, so index inserts land all over the
        # file: a 64 MiB page cache (default 2 MiB) keeps a large store's indexes in memory.
        cursor.execute("PRAGMA cache_size=-65536")
        # The statement journal of `BindingTx._flush_binds`'s savepoint (the original of each
        # page the savepoint changes, to roll it back) in memory: on disk it spills past 64 KiB
        # into an unlinked temp file, two writes a page, ~4 a record of an update (bench/README,
        # "sqlio"). It is dropped when the savepoint ends, so it is bounded by the pages one
        # flush changes (a page of records). The same setting keeps temp tables (the store
        # has none), transient indexes and sorts in memory: the store's sorts follow an index,
        # keep a LIMIT's rows, or group the `failures` rows; it never runs VACUUM, whose copy
        # of the file this would put in memory too
        # (sqlite.org/pragma.html#pragma_temp_store, sqlite.org/tempfiles.html).
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    return pragmas


def _psycopg_connect(timeouts: StoreTimeouts) -> Any:
    from connector.state.pgwait import connect_with_deadline

    statement_ms = int(timeouts.statement_seconds * 1000)
    settings = (
        f"-c statement_timeout={statement_ms:d} "
        f"-c idle_in_transaction_session_timeout={2 * statement_ms:d}"
    )

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        # libpq treats a connect_timeout under 2 s as 2 s; it takes whole seconds.
        cparams.setdefault("connect_timeout", max(2, math.ceil(timeouts.connect_seconds)))
        cparams.setdefault("keepalives", 1)
        cparams.setdefault("keepalives_idle", 10)
        cparams.setdefault("keepalives_interval", 5)
        cparams.setdefault("keepalives_count", 3)
        cparams.setdefault("tcp_user_timeout", int(timeouts.reply_seconds * 1000))
        # The URL may carry its own `options` (a search_path): ours are added, not swapped in.
        cparams["options"] = " ".join(filter(None, [cparams.get("options"), settings]))
        return connect_with_deadline(timeouts.reply_seconds, *cargs, **cparams)

    return connect


def _pymysql_connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    # PyMySQL's connection with its string escaping made fast (`connector.state.mysqlquote`).
    from connector.state.mysqlquote import connect

    return connect(*cargs, **cparams)


def _pymysql_args(timeouts: StoreTimeouts) -> dict[str, Any]:
    statement = timeouts.statement_seconds
    # Whole seconds where MariaDB takes only those; never 0, which would mean "no wait at all"
    # for a lock and "no limit" for an idle transaction.
    lock_wait = max(1, math.ceil(statement))
    idle = max(1, math.ceil(2 * statement))
    session = (
        f"SET SESSION sql_mode = '{_MYSQL_SQL_MODE}', "
        f"max_statement_time = {statement:.3f}, "
        f"innodb_lock_wait_timeout = {lock_wait:d}, "
        f"idle_transaction_timeout = {idle:d}, "
        f"net_read_timeout = {idle:d}"
    )
    return {
        # Every character the columns take (utf8mb4), whatever the URL or server default says.
        "charset": "utf8mb4",
        "connect_timeout": timeouts.connect_seconds,
        "read_timeout": timeouts.reply_seconds,
        "write_timeout": timeouts.reply_seconds,
        "init_command": session,
    }


def check_server(engine: Engine) -> None:
    """Refuse a server the store does not run on (connecting to see which it is).

    MariaDB 10.6 or later only: MySQL has no `idle_transaction_timeout` (a frozen lease holder
    would keep its row locks until `wait_timeout`), names its collations differently and is not
    tested here; older MariaDB lacks SKIP LOCKED and JSON_TABLE.
    """
    if engine.dialect.name not in MYSQL_FAMILY:
        return
    with engine.connect():
        pass
    dialect: Any = engine.dialect
    version = tuple(dialect.server_version_info or ())
    if not dialect.is_mariadb:
        shown = ".".join(map(str, version)) or "unknown"
        raise ConfigurationError(
            f"state.url: the state store runs on MariaDB 10.6 or later, not MySQL {shown} "
            "(MySQL ends no idle transaction, so a frozen lease holder would keep its locks)"
        )
    if version < MARIADB_MINIMUM:
        raise ConfigurationError(
            "state.url: the state store needs MariaDB 10.6 or later (SKIP LOCKED, JSON_TABLE); "
            f"this server is {'.'.join(map(str, version))}"
        )
