"""`connector daemon` as real processes: SIGTERM, SIGKILL mid-drain, two daemons on one store.

The source is an in-memory CRM kept in a JSON file (seeded before the daemons start, then only
read); the target is the sample ERP, a SQLite database, so several processes write one system
and duplicates would show as extra rows.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from adapters.erp_generic.sample import create_sample_erp, sample_config
from connector.model import Entity
from connector.state import schema
from connector.state.store import open_store
from connector.testing.memory import MemoryAdapter, MemorySettings

pytestmark = pytest.mark.e2e

CONNECTOR = Path(sys.executable).parent / "connector"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup(tmp_path: Path, state_url: str, customers: int, schedule: str | None) -> Path:
    create_sample_erp(tmp_path / "erp.db", customers=0, contacts=0, orders=0, products=1)

    # Filled in memory and written once (each `put` on a file-backed adapter rewrites the file).
    crm = MemoryAdapter("crm", MemorySettings())
    for n in range(customers):
        crm.put(Entity.CUSTOMER, {"number": f"C{n:05d}", "name": f"Customer {n}"})
    (tmp_path / "crm.json").write_text(crm.data.model_dump_json())
    config: dict[str, Any] = {
        "state": {"url": state_url},
        "systems": {
            "crm": {
                "adapter": "memory",
                "settings": {"path": str(tmp_path / "crm.json"), "page_size": 50},
            },
            "erp": {
                "adapter": "erp_generic",
                "settings": sample_config(f"sqlite:///{tmp_path / 'erp.db'}"),
            },
        },
        "routes": [
            {
                "name": "crm-to-erp",
                "from": "crm",
                "to": "erp",
                "entities": {"customer": {"match": ["number"]}},
                "schedule": schedule,
            }
        ],
        "daemon": {
            "port": free_port(),
            "inbox_poll_seconds": 0.1,
            "shutdown_grace_seconds": 5,
            "lease_seconds": 3,  # a killed daemon's leases free up quickly
        },
    }
    path = tmp_path / f"config-{config['daemon']['port']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CONNECTOR), "--config", str(config), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        cwd=config.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def erp_numbers(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "erp.db") as conn:
        return [row[0] for row in conn.execute("SELECT customer_no FROM customers")]


def wait(condition, seconds: float, what: str, processes=()) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"daemon exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], seconds: float = 15) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(seconds)


def test_sigkill_while_draining_the_inbox_loses_and_doubles_nothing(tmp_path: Path) -> None:
    total = 1200
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    config = setup(tmp_path, state_url, total, schedule=None)
    store = open_store(state_url, tmp_path)
    crm_ids = [f"cu-{n}" for n in range(1, total + 1)]  # the memory adapter's own ids
    store.enqueue_events(
        [
            {"source": "crm", "event_id": f"evt-{i}", "entity": "customer", "external_id": i}
            for i in crm_ids
        ]
    )
    daemon = start(config, tmp_path / "first.log")
    try:
        wait(lambda: len(erp_numbers(tmp_path)) > 0, 30, "the first synced records", [daemon])
        daemon.kill()
        daemon.wait(10)
        synced_before = len(erp_numbers(tmp_path))
        assert 0 < synced_before < total, "the kill must land mid-drain"
        daemon = start(config, tmp_path / "second.log")
        wait(lambda: store.inbox_depth() == 0, 60, "an empty inbox", [daemon])
        assert stop(daemon) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    with store.engine.connect() as conn:
        statuses = {row[0] for row in conn.execute(select(schema.inbox.c.status))}
    assert statuses == {"done"}
    assert store.failures() == []
    store.close()


def test_two_daemons_on_one_postgresql_store(tmp_path: Path, pg_url: str) -> None:
    total = 400
    first_config = setup(tmp_path, pg_url, total, schedule="every 1s")
    data = yaml.safe_load(first_config.read_text())
    data["daemon"]["port"] = free_port()
    second_config = tmp_path / "second.yaml"
    second_config.write_text(yaml.safe_dump(data))
    daemons = [
        start(first_config, tmp_path / "a.log"),
        start(second_config, tmp_path / "b.log"),
    ]
    store = open_store(pg_url, tmp_path)
    try:
        wait(lambda: len(erp_numbers(tmp_path)) == total, 90, "every record in the ERP", daemons)
        # Let both keep competing for the route for a few more scheduled runs.
        wait(lambda: len(store.last_runs(50)) >= 4, 30, "more scheduled runs", daemons)
        assert [stop(daemon) for daemon in daemons] == [0, 0]
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.kill()
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    runs = sorted(store.last_runs(500), key=lambda run: run.started_at)
    store.close()
    assert all(run.finished_at is not None for run in runs)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at <= later.started_at, "two runs of the route overlapped"
    logs = [(tmp_path / name).read_text() for name in ("a.log", "b.log")]
    assert all('"event":"daemon.stop"' in log for log in logs)
    assert any('"event":"run.skipped"' in log for log in logs)
