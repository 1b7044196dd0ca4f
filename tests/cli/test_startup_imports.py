"""`connector --help` and `connector status` stay fast: they do not import what they never use.

The time itself is measured in bench/cli_startup.py; these tests only catch an eager import
creeping back in (as the Salesforce commands' adapter import once did), which the
bench would show only when someone ran it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs the command in-process, then prints which modules it left imported.
PROBE = """
import json, sys
from connector.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def mounted_only(module: str) -> bool:
    """An adapter package or its CLI module: what listing the commands has to import."""
    parts = module.split(".")
    return parts[0] == "adapters" and (len(parts) <= 2 or parts[2:] == ["cli"])


def imported_by(args: list[str], cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    last_line = done.stdout.strip().splitlines()[-1]
    return set(json.loads(last_line))


def test_help_loads_no_adapter_engine_or_store(tmp_path: Path) -> None:
    modules = imported_by(["--help"], tmp_path)
    assert "connector.cli" in modules  # the probe did run the command list
    assert "adapters.salesforce.cli" in modules  # the adapters' commands were listed
    heavy = {m for m in modules if m.startswith(("adapters.", "sqlalchemy", "httpx"))}
    heavy -= {m for m in modules if mounted_only(m)}
    heavy |= modules & {"connector.runtime", "connector.model", "connector.config", "sqlite3"}
    assert heavy == set()


def shipped_folder(tmp_path: Path) -> Path:
    """The shipped config.yaml with its demo state store created (as after a first run)."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "demo").mkdir()
    imported_by(["status"], tmp_path)  # the first run creates the store (Alembic migrates)
    assert (tmp_path / "demo" / "state.db").is_file()
    return tmp_path


#: What `status` on a current SQLite store never needs: it reads the store with sqlite3
#: (`connector.cli.storepeek`), prints every-5-minutes schedules without APScheduler, and names
#: systems without loading their adapters (or the adapter protocols).
STATUS_NEVER_LOADS = (
    "sqlalchemy",
    "alembic",
    "apscheduler",
    "asyncio",
    "httpx",
    "adapters.",
    "connector.state.store",
    "connector.state.connect",
    "connector.adapter",
    "connector.runtime",
    "connector.http",
    "connector.mapping",
    "connector.model",
    "connector.engine.",
)


def test_status_on_sqlite_reads_the_store_without_sqlalchemy(tmp_path: Path) -> None:
    modules = imported_by(["status"], shipped_folder(tmp_path))
    assert "connector.cli.storepeek" in modules and "sqlite3" in modules
    assert "connector.config" in modules  # status did load the config
    heavy = {m for m in modules if m.startswith(STATUS_NEVER_LOADS) or m in STATUS_NEVER_LOADS}
    heavy -= {"connector.engine.blame"}  # why a run failed: a small module status prints from
    assert heavy == set()


def test_failures_list_on_sqlite_loads_no_postgresql_orm_or_alembic(tmp_path: Path) -> None:
    """The real store (what `status` falls back to, and `failures` uses) on SQLite."""
    modules = imported_by(["failures", "list"], shipped_folder(tmp_path))
    assert "connector.state.store" in modules  # the command did read the store
    assert "sqlalchemy.dialects.sqlite" in modules
    unused = {
        m
        for m in modules
        if m.startswith(("sqlalchemy.dialects.postgresql", "sqlalchemy.orm", "alembic"))
        or m.startswith(("adapters.", "httpx", "connector.http", "connector.runtime"))
    }
    assert unused == set()
