"""Running `connector` as real processes for the daemon tests: a memory CRM in a JSON file
(seeded before any process starts, then only read) synced into the sample ERP (SQLite), so
several processes write one system and duplicates show as extra rows.

Each daemon binds port 0 and the test reads the port it got from its `daemon.start` event: a
port picked free beforehand can be taken by any other process before the daemon, started
seconds later on a loaded machine, binds it. Waits end on the event awaited; their deadlines
(`HANG_SECONDS`) only stop a hang: a daemon's start alone takes 10 to 25 s at load 10 on 2 cores."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from adapters.erp_generic.sample import create_sample_erp, sample_config
from connector.listen import announced_url
from connector.model import Entity
from connector.testing.memory import MemoryAdapter, MemorySettings

CONNECTOR = Path(sys.executable).parent / "connector"
REPO = Path(__file__).resolve().parents[2]
#: Only against a hang: on a loaded machine a step may take long; nothing here is timed.
HANG_SECONDS = 600
#: Each process `start` started → the file its stderr goes to (shown when it exits early).
LOGS: dict[int, Path] = {}


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
            "port": 0,  # the daemon's own choice: `serving_port` reads it from the log
            "inbox_poll_seconds": 0.1,
            "shutdown_grace_seconds": 5,
            # Long enough that a process the machine's load starves for a few seconds keeps its
            # lease (its renewals run a third of the way through it); a test where a killed
            # process's lease must run out passes a short one.
            "lease_seconds": 30,
            **(daemon or {}),
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serving_port(log: Path, process: subprocess.Popen[bytes]) -> int:
    """The port the daemon logging to `log` serves on, once it serves (its `daemon.start`)."""
    ports: list[int] = []

    def started() -> bool:
        for line in log.read_text(errors="replace").splitlines():
            if '"event":"daemon.start"' in line:
                try:
                    ports.append(int(json.loads(line)["port"]))
                except ValueError:  # the line is still being written
                    return False
                return True
        return False

    wait(started, HANG_SECONDS, "the daemon serving", [process])
    return ports[0]


def sandbox_url(name: str, log: Path, process: subprocess.Popen[bytes]) -> str:
    """The URL `connector sandbox <name> --port 0`, logging to `log`, listens on, once it has
    bound its port (the line `connector.listen.announce` writes)."""
    urls: list[str] = []

    def bound() -> bool:
        url = announced_url(log.read_text(errors="replace"), f"sandbox {name}")
        if url is not None:
            urls.append(url)
        return url is not None

    wait(bound, HANG_SECONDS, f"the {name} sandbox listening", [process])
    return urls[0]


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
    process = subprocess.Popen(
        [*program, "--config", str(config), *(command or ("daemon",))],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        cwd=config.parent,
        env=env,
    )
    LOGS[process.pid] = log
    return process


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
                log = LOGS.get(process.pid)
                said = f"; its log ends:\n{log.read_text()[-3000:]}" if log else ""
                raise AssertionError(
                    f"process exited with {process.returncode} before {what}{said}"
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], seconds: float = HANG_SECONDS) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(seconds)
