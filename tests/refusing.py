"""A store account and database of their own, that a test can make the server refuse mid-run.

`RefusableStore.refuse()` does what an administrator would: on PostgreSQL the role loses LOGIN
(`nologin`) or the database is dropped with its sessions (`dropped`); on MariaDB the password is
rotated and the account's sessions ended (as a server restart would), so the next connection is
refused (`password`), or the database is dropped, its sessions left open (`dropped`). The
password is a secret a test checks never shows in a message or a log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from tests.conftest import MYSQL_URL, PG_URL

#: What each server is made to refuse, and the words of its refusal (a pattern). MariaDB keeps
#: the sessions of a dropped database: they meet its tables gone (1146); a new one is refused.
CASES = {
    ("postgresql", "nologin"): "is not permitted to log in",
    ("postgresql", "dropped"): "does not exist",
    ("mariadb", "password"): "1045",
    ("mariadb", "dropped"): r"1146, .Table .* doesn't exist|1049",
}

_MYSQL_UNKNOWN_THREAD = 1094


@dataclass
class RefusableStore:
    server: str
    case: str
    url: str
    secret: str
    account: str
    database: str
    admin: Engine

    def refuse(self) -> None:
        with self.admin.connect() as conn:
            if self.server == "postgresql":
                if self.case == "nologin":
                    conn.execute(text(f'ALTER ROLE "{self.account}" NOLOGIN'))
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE usename = :account"
                        ),
                        {"account": self.account},
                    )
                else:
                    conn.execute(text(f'DROP DATABASE "{self.database}" WITH (FORCE)'))
                return
            if self.case == "dropped":
                conn.execute(text("SET SESSION lock_wait_timeout = 10"))
                conn.execute(text(f"DROP DATABASE `{self.database}`"))
                return  # its sessions stay, as MariaDB leaves them
            conn.execute(text(f"ALTER USER '{self.account}'@'%' IDENTIFIED BY 'rotated'"))
            sessions = conn.execute(
                text("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = :account"),
                {"account": self.account},
            ).scalars()
            for session in list(sessions):
                try:
                    conn.execute(text(f"KILL CONNECTION {int(session):d}"))
                except OperationalError as error:
                    # 1094, unknown thread: the session ended between the list and the KILL
                    # (the store's pool closed it): what the KILL was for.
                    if error.orig.args[0] != _MYSQL_UNKNOWN_THREAD:
                        raise


def refusable_store(server: str, case: str) -> Iterator[RefusableStore]:
    """A fresh account and database on `server` for a store, dropped afterwards."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    secret = f"secret-{uuid.uuid4().hex[:8]}"
    base = make_url(PG_URL if server == "postgresql" else MYSQL_URL)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if server == "postgresql":
            conn.execute(text(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{secret}'"))
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
        else:
            conn.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{secret}'"))
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            conn.execute(text(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'"))
    url = base.set(username=name, password=secret, database=name)
    try:
        yield RefusableStore(
            server, case, url.render_as_string(hide_password=False), secret, name, name, admin
        )
    finally:
        with admin.connect() as conn:
            if server == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
            else:
                conn.execute(text("SET SESSION lock_wait_timeout = 10"))
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                conn.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))
        admin.dispose()
