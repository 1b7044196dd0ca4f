"""Database URLs as people write them, turned into the SQLAlchemy URL of a shipped driver.

`postgresql://` (and `postgres://`) means psycopg 3, `mysql://` and `mariadb://` mean PyMySQL:
the drivers this product installs. SQLAlchemy's own defaults for the bare names (psycopg2,
mysqlclient) are not installed, and asking for them would fail with a missing-module error
that tells a user nothing about their configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from connector.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

SHIPPED_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}

MISSING_DATABASE_HINT = "run `connector erp sample` or `./dev demo` first"


def normalise_url(url: str, what: str) -> URL:
    """The URL with the shipped driver filled in; `what` names the setting in errors."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"{what} is not a database URL (e.g. sqlite:///demo/erp.db, "
            "postgresql://user@host/db, mysql://user@host/db)"
        ) from None
    driver = SHIPPED_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def sqlite_file(url: URL, base_dir: Path) -> Path | None:
    """The file of a SQLite URL (relative paths are relative to `base_dir`); None otherwise."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database or "")
    return path if path.is_absolute() else base_dir / path
