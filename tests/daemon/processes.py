"""Running `connector` as real processes for the daemon tests: a memory CRM in a JSON file
(seeded before any process starts, then only read) synced into the sample ERP (SQLite), so
several processes write one system and duplicates show as extra rows."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from adapters.erp_generic.sample import create_sample_erp, sample_config
from connector.model import Entity
from connector.testing.memory import MemoryAdapter, MemorySettings

CONNECTOR = Path(sys.executable).parent / "connector"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup(
    tmp_path: Path,
    state_url: str,
    customers: int,
    schedule: str | None,
    *,
    state: dict[str, Any] | None = None,
    daemon: dict[str, Any] | None = None,
    crm: dict[str, Any] | None = None,
) -> Path:
    """A config file for crm → erp (customers), with the CRM seeded with `customers` records."""
    create_sample_erp(tmp_path / "erp.db", customers=0, contacts=0, orders=0, products=1)
    # Filled in memory and written once (each `put` on a file-backed adapter rewrites the file).
    memory = MemoryAdapter("crm", MemorySettings())
    for n in range(customers):
        memory.put(Entity.CUSTOMER, {"number": f"C{n:05d}", "name": f"Customer {n}"})
    (tmp_path / "crm.json").write_text(memory.data.model_dump_json())
    config: dict[str, Any] = {
        "state": {"url": state_url, **(state or {})},
        "systems": {
            "crm": {
                "adapter": "memory",
                "settings": {"path": str(tmp_path / "crm.json"), "page_size": 50, **(crm or {})},
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
            **(daemon or {}),
        },
    }
    path = tmp_path / f"config-{config['daemon']['port']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def with_new_port(config: Path) -> Path:
    """A copy of `config` for a second daemon: the same everything on another port."""
    data = yaml.safe_load(config.read_text())
    data["daemon"]["port"] = free_port()
    copy = config.with_name(f"config-{data['daemon']['port']}.yaml")
    copy.write_text(yaml.safe_dump(data))
    return copy


def port_of(config: Path) -> int:
    return int(yaml.safe_load(config.read_text())["daemon"]["port"])


def start(
    config: Path, log: Path, *command: str, held: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`connector --config <config> <command>` (the daemon by default), stderr to `log`; with
    `held` (`stop N` or `hold GATE`), one whose ERP writes stop at that point (held_erp.py)."""
    program = [str(CONNECTOR)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if held:
        program = [sys.executable, "-m", "tests.daemon.held_erp", *held]
        env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [*program, "--config", str(config), *(command or ("daemon",))],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        cwd=config.parent,
        env=env,
    )


def wait_stopped(process: subprocess.Popen[bytes], what: str, seconds: float) -> None:
    """Wait until `process` has stopped itself (SIGSTOP); `seconds` only against a hang."""
    deadline = time.monotonic() + seconds
    while not (waited := os.waitpid(process.pid, os.WUNTRACED | os.WNOHANG))[0]:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    assert os.WIFSTOPPED(waited[1]), f"the process ended before {what}"


def erp_numbers(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "erp.db") as conn:
        return [row[0] for row in conn.execute("SELECT customer_no FROM customers")]


def wait(
    condition: Callable[[], object],
    seconds: float,
    what: str,
    processes: Iterable[subprocess.Popen[bytes]] = (),
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"process exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], seconds: float = 15) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(seconds)
