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
    heavy |= modules & {"connector.runtime", "connector.model", "connector.config"}
    assert heavy == set()


def test_status_on_sqlite_loads_no_postgresql_adapter_or_engine(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "demo").mkdir()
    imported_by(["status"], tmp_path)  # the first run creates the store (Alembic migrates)
    modules = imported_by(["status"], tmp_path)
    assert "connector.state.store" in modules  # status did read the store
    assert "sqlalchemy.dialects.sqlite" in modules
    unused = {
        m
        for m in modules
        if m.startswith(("sqlalchemy.dialects.postgresql", "sqlalchemy.orm", "alembic"))
        or m.startswith(("adapters.", "httpx", "connector.http", "connector.runtime"))
    }
    assert unused == set()
