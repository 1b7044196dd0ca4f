"""End to end with real processes: a Salesforce Outbound Message through the daemon to the ERP.

`connector sandbox salesforce` and `connector daemon` run as separate processes on loopback. An
Account a sales rep creates, then renames, in the sandbox fires Outbound Messages (SOAP) at the
daemon, which acknowledges them once stored; the change must reach the sample ERP. The route
runs only at 03:00 and the inbox is polled once an hour, so the change can only come through
the message and the worker's wake-up (how fast: bench/, not a wall-clock bound here).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.erp_generic.sample import create_sample_erp, sample_config
from tests.daemon.processes import HANG_SECONDS, sandbox_url, serving_port
from tests.daemon.test_hubspot_e2e import CONNECTOR, arrive, erp_customers

pytestmark = pytest.mark.e2e
ORG = "00D5g000008aBcDEAU"


def test_an_outbound_message_reaches_the_erp_through_the_daemon(tmp_path: Path) -> None:
    erp = tmp_path / "erp.db"
    create_sample_erp(erp, customers=0, contacts=0, orders=0, products=1)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Port 0: the sandbox binds a free port itself and says which (`sandbox_url`).
    sandbox_log = tmp_path / "sandbox.log"
    sandbox = subprocess.Popen(
        [str(CONNECTOR), "sandbox", "salesforce", "--port", "0"],
        stderr=sandbox_log.open("wb"),
        env=env,
    )
    daemon = None
    try:
        salesforce = sandbox_url("salesforce", sandbox_log, sandbox)
        daemon = _daemon(tmp_path, erp, salesforce, env)
        daemon_port = serving_port(tmp_path / "daemon.log", daemon)
        with httpx.Client(base_url=salesforce, timeout=10) as http:
            target = {"url": f"http://127.0.0.1:{daemon_port}/webhooks/crm"}
            http.post("/_sandbox/outbound", json=target).raise_for_status()
            created = http.post(
                "/_sandbox/records/Account", json={"Name": "Acme", "ERP_Customer_No__c": "K-1"}
            )
            assert created.status_code == 201, created.text
            log = tmp_path / "daemon.log"
            arrive(lambda: erp_customers(erp) == [("K-1", "Acme")], daemon, log)
            account = created.json()["id"]
            http.patch(f"/_sandbox/records/Account/{account}", json={"Name": "Acme GmbH"})
            arrive(lambda: erp_customers(erp) == [("K-1", "Acme GmbH")], daemon, log)
            deadline = time.monotonic() + HANG_SECONDS  # only against a hang
            while http.get("/_sandbox/outbound").json()["queued"] and time.monotonic() < deadline:
                time.sleep(0.05)
            state = http.get("/_sandbox/outbound").json()
            assert state["delivered"] == 2 and state["queued"] == 0, "both were acknowledged"
    finally:
        for process in (daemon, sandbox):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)


def _daemon(
    tmp_path: Path, erp: Path, salesforce: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """`connector daemon` syncing the sandbox at `salesforce` into the ERP at `erp`."""
    config = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {
            "erp": {"adapter": "erp_generic", "settings": sample_config(f"sqlite:///{erp}")},
            "crm": {
                "adapter": "salesforce",
                "settings": {
                    "login_url": salesforce,
                    "auth": {
                        "kind": "client_credentials",
                        "client_id": "sandbox-consumer-key",
                        "client_secret": "sandbox-consumer-secret",
                    },
                    "outbound_messages": {"organization_id": ORG[:15]},
                },
            },
        },
        # The route runs only at 03:00: whatever arrives came through an Outbound Message.
        "routes": [
            {
                "name": "crm-to-erp",
                "from": "crm",
                "to": "erp",
                "schedule": "0 3 * * *",
                "entities": {"customer": {"match": ["number"]}},
            }
        ],
        # Port 0: the daemon binds a free port itself and logs it (`serving_port`). An hourly
        # poll: what arrives came through the worker's wake-up, not the poll.
        "daemon": {"port": 0, "inbox_poll_seconds": 3600},
    }
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [str(CONNECTOR), "--config", str(config_path), "daemon"],
        stderr=(tmp_path / "daemon.log").open("wb"),
        env=env,
    )
