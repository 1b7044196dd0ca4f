"""A real `connector sync`, SIGKILLed mid-run, then run again: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector.state.store import open_store

CONFIG = """\
state:
  url: {state_url}
systems:
  erp:
    adapter: memory
    settings: {{path: erp.json, seed_customers: 300, page_size: 40}}
  crm:
    adapter: memory
    settings: {{path: crm.json, batch_size: 10, max_in_flight: 2, write_delay_seconds: 0.03}}
routes:
  - name: erp-to-crm
    from: erp
    to: crm
    entities: [customer]
"""


def connector(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=config.parent,
    )


def crm_numbers(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [row["fields"]["number"] for row in data["entities"]["customer"].values()]


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"])
def test_killed_sync_resumes_without_loss_or_duplicates(tmp_path, database, request):
    servers = {"postgresql": "pg_schema_url", "mariadb": "mysql_database_url"}
    state_url = (
        f"sqlite:///{tmp_path / 'state.db'}"
        if database == "sqlite"
        else request.getfixturevalue(servers[database])
    )
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(state_url=state_url))
    crm_file = tmp_path / "crm.json"

    first = connector(config, "sync")
    deadline = time.monotonic() + 60
    while len(crm_numbers(crm_file)) < 60:
        assert first.poll() is None, first.stdout.read().decode() if first.stdout else ""
        assert time.monotonic() < deadline, "the first run made no progress"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    written_before_kill = len(crm_numbers(crm_file))
    assert 60 <= written_before_kill < 300, "the kill should land mid-run"

    second = connector(config, "sync")
    output = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, output

    numbers = crm_numbers(crm_file)
    assert sorted(numbers) == sorted(f"C{n:05d}" for n in range(1, 301)), "lost or doubled records"

    store = open_store(state_url, tmp_path)
    erp = json.loads((tmp_path / "erp.json").read_text())
    newest = max(row["updated_at"] for row in erp["entities"]["customer"].values())
    watermark = store.cursor("erp-to-crm", "customer")
    assert watermark is not None and watermark.isoformat().replace("+00:00", "Z") >= newest.replace(
        "+00:00", "Z"
    )
    assert store.count_bindings("customer", "crm") == 300
    store.close()
