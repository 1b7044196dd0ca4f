"""A real Tryton for the tests, on PostgreSQL and on SQLite: a small database built through
Tryton's own tools (build_tryton.py), served by the `trytond` server over JSON-RPC on a loopback
port.

The build (35 s to a few minutes on a loaded machine, most of it activating the sale module and
its dependencies) runs once per machine: on PostgreSQL into a template database named after the
build script's and Tryton's versions, of which each test module gets a copy (about a second);
on SQLite into a file in the temporary folder, copied likewise. PostgreSQL is reached as in the
rest of the suite (`CONNECTOR_TEST_PG_URL`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, unreachable
from tests.e2e.conftest import free_port
from tests.tryton.build_tryton import write_conf


@dataclass
class Tryton:
    directory: Path
    url: str
    database: str
    #: The SQLAlchemy URL of Tryton's database (what the connector reads).
    database_url: str
    made: dict[str, Any]


def _template_name() -> str:
    """The template database for this build script and Tryton version."""
    from importlib.metadata import version

    script = Path(__file__).with_name("build_tryton.py").read_bytes()
    digest = hashlib.sha256(script + version("trytond").encode()).hexdigest()[:12]
    return f"tryton_tpl_{digest}"


#: The advisory lock (a fixed key of our own) that serialises building and copying the template
#: across processes: several worktrees, or a rerun while another run is going, share one
#: PostgreSQL. Without it two processes both find no template and each drops the other's build.
_TEMPLATE_LOCK = 0x7472_7974_6F6E  # "tryton"


@contextmanager
def _template_locked(admin: sa.Engine) -> Iterator[sa.Connection]:
    """An admin connection holding `_TEMPLATE_LOCK` (a session-level advisory lock, so it
    outlasts the autocommitted statements and ends with the session if the process dies:
    postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS)."""
    with admin.connect() as connection:
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _TEMPLATE_LOCK})
        try:
            yield connection
        finally:
            try:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _TEMPLATE_LOCK}
                )
            except sa.exc.DBAPIError:
                # Closed instead of pooled: the session, and the lock with it, ends here.
                connection.invalidate()


def _template(
    admin: sa.Engine, connection: sa.Connection, directory: Path
) -> tuple[str, dict[str, Any]]:
    """A PostgreSQL template holding the built Tryton database, built once per machine (the
    build takes a minute or two; a copy of the template takes a second). What the build made
    is kept as the template's comment, set last: a template without one is an unfinished build.

    `connection` holds `_TEMPLATE_LOCK`, so the comment read here cannot change under us."""
    name = _template_name()
    comment = connection.execute(
        sa.text(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :name"
        ),
        {"name": name},
    ).first()
    if comment is not None and comment[0]:
        return name, json.loads(comment[0])
    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server = sa.make_url(PG_URL).set(drivername="postgresql", database="")
    try:
        made = _build(directory, name, server.render_as_string(hide_password=False))
    except BaseException:
        # Another connection: this one may be the one an interrupt left mid-statement.
        with admin.connect() as other:
            other.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        raise
    # A fixed statement with our own JSON as a literal (COMMENT takes no parameters).
    literal = json.dumps(made).replace("'", "''")
    connection.execute(sa.text(f"COMMENT ON DATABASE \"{name}\" IS '{literal}'"))
    return name, made


def _build(directory: Path, name: str, uri: str) -> dict[str, Any]:
    """Run build_tryton.py in a process of its own; what it made."""
    built = subprocess.run(
        [sys.executable, "-m", "tests.tryton.build_tryton", str(directory), name, uri],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert built.returncode == 0, built.stderr[-3000:]
    made: dict[str, Any] = json.loads(built.stdout.strip().splitlines()[-1])
    return made


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def tryton(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tryton]:
    directory = tmp_path_factory.mktemp("tryton")
    if request.param == "sqlite":
        yield from _sqlite(directory)
    else:
        yield from _postgresql(directory)


def _sqlite(directory: Path) -> Iterator[Tryton]:
    """Tryton's SQLite backend (decimals stored as BLOBs): the database file is built once per
    machine into the temporary folder and copied for each test module."""
    cache = Path(tempfile.gettempdir()) / _template_name()
    cache.mkdir(exist_ok=True)
    # Built and copied by one process at a time, as the PostgreSQL template is; made.json is
    # written last, so it marks a finished build.
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "made.json").exists():
            made = _build(cache, "tryton", "sqlite://")
            (cache / "made.json").write_text(json.dumps(made))
        made = json.loads((cache / "made.json").read_text())
        shutil.copyfile(cache / "tryton.sqlite", directory / "tryton.sqlite")
    conf = write_conf(directory, "sqlite://")
    yield from _serve(directory, conf, "tryton", f"sqlite:///{directory / 'tryton.sqlite'}", made)


def _postgresql(directory: Path) -> Iterator[Tryton]:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        admin.dispose()
        unreachable(
            f"PostgreSQL is not reachable at {PG_URL} ({error.orig})", "CONNECTOR_TEST_PG_URL"
        )
    name = f"tryton_{uuid.uuid4().hex[:10]}"
    # The copy under the same lock: no other process is building (connected to) the template
    # or dropping it meanwhile, which CREATE DATABASE … TEMPLATE would refuse or fail on.
    with _template_locked(admin) as connection:
        template, made = _template(admin, connection, directory)
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    database_url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    server_uri = sa.make_url(PG_URL).set(drivername="postgresql", database="")
    conf = write_conf(directory, server_uri.render_as_string(hide_password=False))
    try:
        yield from _serve(directory, conf, name, database_url, made)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _serve(
    directory: Path, conf: Path, name: str, database_url: str, made: dict[str, Any]
) -> Iterator[Tryton]:
    port = free_port()
    conf = directory / "trytond.conf"
    conf.write_text(conf.read_text() + f"\n[web]\nlisten = 127.0.0.1:{port}\n")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("trytond")), "-c", str(conf), "-d", name],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "server.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (directory / "server.log").read_text()[-3000:]
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "trytond did not start"
                time.sleep(0.1)
        yield Tryton(directory, url, name, database_url, made)
    finally:
        server.terminate()
        server.wait(timeout=10)
