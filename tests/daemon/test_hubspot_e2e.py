"""End to end with real processes: webhooks through the daemon, both directions.

`connector sandbox hubspot` and `connector daemon` run as separate processes on loopback. A
company created, then edited, in the sandbox's "UI" fires signed v3 webhooks and must reach the
sample ERP (SQLite); a Standard Webhook signed by "the ERP" must bring that customer's change to
the sandbox. The route runs only at 03:00 and the inbox is polled once an hour, so a change can
only arrive through its webhook and the worker's wake-up: nothing in the path waits on a timer.
How fast that path is belongs to bench/ (bench/webhooks.py); a wall-clock bound here would
measure the machine's load as well, so the waits below end on the change and their deadline only
stops a hang.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.erp_generic.sample import create_sample_erp, sample_config
from tests.daemon.processes import HANG_SECONDS, sandbox_url, serving_port

pytestmark = pytest.mark.e2e

CONNECTOR = Path(sys.executable).parent / "connector"
SECRET = "e2e-client-secret"


def erp_customers(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT customer_no, name FROM customers ORDER BY id"))


def arrive(condition: Callable[[], bool], daemon: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until `condition` holds: the change has arrived (the deadline only stops a hang)."""
    deadline = time.monotonic() + HANG_SECONDS
    while not condition():
        assert daemon.poll() is None, f"the daemon exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"nothing arrived: {log.read_text()[-3000:]}"
        time.sleep(0.02)


@dataclass
class Running:
    hubspot: str
    daemon: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(HANG_SECONDS)


@contextmanager
def sandbox_and_daemon(
    tmp_path: Path, systems: dict[str, Any], route: dict[str, Any]
) -> Iterator[Running]:
    """`connector sandbox hubspot`, `connector hubspot setup`, then `connector daemon`, as
    separate processes on loopback; the CRM system's base URL is pointed at the sandbox and the
    route only runs at 03:00, so whatever arrives came through a webhook. The sandbox and the
    daemon bind port 0 and say which port they got (`sandbox_url`, `serving_port`): a port
    picked free beforehand may be taken by another process before they bind it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started: list[subprocess.Popen[bytes]] = []
    try:
        sandbox_log = tmp_path / "sandbox.log"
        command = [str(CONNECTOR), "sandbox", "hubspot", "--port", "0"]
        started.append(subprocess.Popen(command, stderr=sandbox_log.open("wb"), env=env))
        hubspot = sandbox_url("hubspot", sandbox_log, started[0])
        systems["crm"]["settings"]["base_url"] = hubspot
        config = {
            "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "systems": systems,
            "routes": [{**route, "schedule": "0 3 * * *"}],
            # An hourly poll: what arrives came through the worker's wake-up, not the poll.
            "daemon": {"port": 0, "inbox_poll_seconds": 3600},
        }
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        setup = subprocess.run(
            [str(CONNECTOR), "--config", str(config_path), "hubspot", "setup"],
            capture_output=True,
            env=env,
            timeout=HANG_SECONDS,
        )
        assert setup.returncode == 0, setup.stderr[-2000:]
        log = tmp_path / "daemon.log"
        command = [str(CONNECTOR), "--config", str(config_path), "daemon"]
        started.append(subprocess.Popen(command, stderr=log.open("wb"), env=env))
        daemon_port = serving_port(log, started[1])
        yield Running(hubspot, f"http://127.0.0.1:{daemon_port}", started[1], log)
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_sandbox_change_reaches_the_erp_through_its_webhooks(tmp_path: Path) -> None:
    erp = tmp_path / "erp.db"
    create_sample_erp(erp, customers=0, contacts=0, orders=0, products=1)
    systems = {
        "erp": {"adapter": "erp_generic", "settings": sample_config(f"sqlite:///{erp}")},
        "crm": {
            "adapter": "hubspot",
            "settings": {
                "auth": {"kind": "token", "token": "sandbox-token", "token_env": None},
                "webhooks": {"client_secrets": [SECRET], "client_secret_envs": []},
            },
        },
    }
    route = {
        "name": "crm-to-erp",
        "from": "crm",
        "to": "erp",
        "entities": {"customer": {"match": ["number"]}},
    }
    with (
        sandbox_and_daemon(tmp_path, systems, route) as running,
        httpx.Client(base_url=running.hubspot) as http,
    ):
        switches = {
            "webhooks": {
                "target_url": f"{running.daemon}/webhooks/crm",
                "client_secret": SECRET,
                "retry_delays_s": [0.5, 1.0],
            }
        }
        assert http.patch("/_sandbox/switches", json=switches).status_code == 200

        created = http.post(
            "/_sandbox/ui/companies",
            json={"properties": {"name": "Acme", "erp_customer_no": "K-1"}},
        )
        assert created.status_code == 201, created.text
        arrive(lambda: erp_customers(erp) == [("K-1", "Acme")], running.process, running.log)

        company = created.json()["id"]
        edited = http.patch(
            f"/_sandbox/ui/companies/{company}", json={"properties": {"name": "Acme GmbH"}}
        )
        assert edited.status_code == 200, edited.text
        arrive(lambda: erp_customers(erp) == [("K-1", "Acme GmbH")], running.process, running.log)

        deliveries = http.get("/_sandbox/webhooks").json()
        assert {attempt["status"] for attempt in deliveries["attempts"]} == {202}
        assert running.stop() == 0


ERP_SECRET_KEY = b"erp-e2e-webhook-key-of-32-bytes!"


def standard_webhook(event_id: str, body: bytes) -> dict[str, str]:
    """Headers a Standard Webhooks sender puts on `body` (written from the spec, not our code)."""
    timestamp = str(int(time.time()))
    mac = hmac.new(ERP_SECRET_KEY, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
    }


def hubspot_companies(hubspot: str) -> dict[str, str]:
    body = httpx.get(f"{hubspot}/_sandbox/objects/companies", timeout=5).json()
    return {
        row["properties"].get("erp_customer_no"): row["properties"].get("name")
        for row in body["results"]
        if not row.get("archived")
    }


def test_an_erp_webhook_change_reaches_hubspot_through_the_daemon(tmp_path: Path) -> None:
    """The other direction: the ERP signs a Standard Webhook, the daemon pushes to HubSpot."""
    erp = tmp_path / "erp.db"
    create_sample_erp(erp, customers=3, contacts=0, orders=0, products=1)
    erp_settings = sample_config(f"sqlite:///{erp}")
    erp_settings["webhooks"] = {"secrets": ["whsec_" + base64.b64encode(ERP_SECRET_KEY).decode()]}
    systems = {
        "erp": {"adapter": "erp_generic", "settings": erp_settings},
        "crm": {
            "adapter": "hubspot",
            "settings": {"auth": {"kind": "token", "token": "sandbox-token", "token_env": None}},
        },
    }
    route = {
        "name": "erp-to-crm",
        "from": "erp",
        "to": "crm",
        "entities": {"customer": {"match": ["number"]}},
    }
    with sandbox_and_daemon(tmp_path, systems, route) as running:
        receiver = f"{running.daemon}/webhooks/erp"
        with sqlite3.connect(erp) as db:
            (customer_id, number) = db.execute(
                "SELECT id, customer_no FROM customers ORDER BY id LIMIT 1"
            ).fetchone()
            db.execute(
                "UPDATE customers SET name = 'Hooked GmbH', updated_at = ? WHERE id = ?",
                (time.strftime("%Y-%m-%d %H:%M:%S"), customer_id),
            )
        assert number not in hubspot_companies(running.hubspot), "nothing is pushed before the hint"

        body = json.dumps({"type": "customer.updated", "data": {"id": customer_id}}).encode()
        tampered = standard_webhook("evt_bad", body)
        tampered["webhook-signature"] = "v1," + base64.b64encode(b"0" * 32).decode()
        assert httpx.post(receiver, content=body, headers=tampered).status_code == 401

        accepted = httpx.post(receiver, content=body, headers=standard_webhook("evt_1", body))
        assert accepted.status_code == 202, accepted.text
        arrive(
            lambda: hubspot_companies(running.hubspot).get(number) == "Hooked GmbH",
            running.process,
            running.log,
        )
        # Only the record the hint named was synced: the other customers stay for the schedule.
        assert set(hubspot_companies(running.hubspot)) == {number}

        replayed = httpx.post(receiver, content=body, headers=standard_webhook("evt_1", body))
        assert replayed.status_code in (200, 202), "a redelivery is acknowledged, not an error"
        assert running.stop() == 0
