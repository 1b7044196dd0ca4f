"""`./dev demo`: the product on its embedded defaults, start to finish, with nothing to set up.

1. creates the sample ERP (`demo/erp.db`) and a fresh state store (`demo/state.db`);
2. starts the local HubSpot sandbox on 127.0.0.1:8081 (or resets one already running there;
   `--port N` picks another port, as does a loopback `HUBSPOT_BASE_URL`);
3. `connector hubspot setup`, then `connector sync erp-to-crm`;
4. a sales rep creates a deal for an existing company in "HubSpot" and marks it won;
5. `connector sync crm-to-erp` turns the won deal into an ERP sales order with its lines,
   `connector sync erp-to-crm` sends the ERP's order number back to the deal;
6. `connector status`.

`--crm salesforce` runs the same story against the Salesforce sandbox (adapters/salesforce/
demo.py). Every step runs the real CLI against real HTTP on the loopback interface.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.sandbox import create_app
from connector.cli import app as cli

HOST, PORT = "127.0.0.1", 8081
BASE_URL_ENV = "HUBSPOT_BASE_URL"
TOKEN = {"Authorization": "Bearer sandbox-token"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class DemoError(Exception):
    """Something the person running the demo can fix; the message says how."""


def sandbox_port(requested: int | None) -> int:
    """`--port`, else the port of a loopback `HUBSPOT_BASE_URL`, else 8081."""
    if requested is not None:
        return requested
    configured = os.environ.get(BASE_URL_ENV)
    if not configured:
        return PORT
    parts = urlsplit(configured)
    if parts.hostname not in LOOPBACK:
        raise DemoError(
            f"{BASE_URL_ENV}={configured} is not the local sandbox: the demo creates deals "
            f"through the sandbox's own admin API. Unset {BASE_URL_ENV} for the demo (use "
            "`connector sync` against a real portal), or pick the sandbox port with --port N"
        )
    return parts.port or PORT


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def step(title: str) -> None:
    print(f"\n── {title}", flush=True)


def connector(config: Path, *args: str) -> int:
    """Run one `connector` command in this process, as the user would type it."""
    try:
        cli([*("--config", str(config)), *args], standalone_mode=False)
    except SystemExit as done:  # typer.Exit surfaces as SystemExit with standalone_mode off
        return int(done.code or 0)
    return 0


def sandbox_answers(sandbox: str) -> bool:
    try:
        httpx.get(f"{sandbox}/_sandbox/requests", timeout=2).raise_for_status()
    except httpx.HTTPError:
        return False
    return True


def start_sandbox(port: int) -> uvicorn.Server | None:
    """Start the sandbox in a thread; if one already answers on the port, reset that one."""
    sandbox = f"http://{HOST}:{port}"
    if sandbox_answers(sandbox):
        httpx.post(f"{sandbox}/_sandbox/reset", timeout=2).raise_for_status()
        print(f"A sandbox already runs at {sandbox}; it was reset.")
        return None
    server = uvicorn.Server(uvicorn.Config(create_app(), host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise DemoError(f"the HubSpot sandbox could not start on {sandbox} (port {port})")
        time.sleep(0.05)
    print(f"HubSpot sandbox listening on {sandbox}")
    return server


def win_a_deal(client: httpx.Client) -> str:
    """What a sales rep does in HubSpot: a deal for an existing company, with a line, won."""
    companies = client.get("/crm/v3/objects/companies", params={"limit": 1}).json()["results"]
    if not companies:
        raise DemoError("HubSpot has no company to win a deal for: the first sync synced none")
    company = companies[0]["id"]
    deal = client.post(
        "/crm/v3/objects/deals",
        json={
            "properties": {
                "dealname": "Demo: 40 pumps",
                "dealstage": "contractsent",
                "pipeline": "default",
                "amount": "5960.00",
                "deal_currency_code": "EUR",
                "closedate": "2026-12-15",
            },
            "associations": [
                {
                    "to": {"id": company},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        },
    ).json()["id"]
    client.post(
        "/crm/v3/objects/line_items",
        json={
            "properties": {
                "name": "Pump P-200",
                "hs_sku": "P-200",
                "quantity": "40",
                "price": "149.00",
            },
            "associations": [
                {
                    "to": {"id": deal},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 20}],
                }
            ],
        },
    ).raise_for_status()
    client.patch(
        f"/_sandbox/ui/deals/{deal}", json={"properties": {"dealstage": "closedwon"}}
    ).raise_for_status()
    print(f"Deal {deal} for company {company} created with one line and marked won.")
    return str(deal)


def show_order(erp_db: Path, deal: dict[str, Any]) -> None:
    with sqlite3.connect(erp_db) as db:
        row = db.execute(
            "SELECT order_no, title, stage, status, total_amount, "
            "(SELECT COUNT(*) FROM sales_order_lines l WHERE l.order_id = o.id) "
            "FROM sales_orders o WHERE title = ?",
            ("Demo: 40 pumps",),
        ).fetchone()
    if row is None:
        print("The won deal did not reach the ERP (see `connector failures list`).")
        return
    number, title, stage, status, total, lines = row
    print(
        f"ERP sales order {number}: {title!r}, stage {stage}, status {status}, "
        f"total {total}, {lines} line(s)."
    )
    print(f"HubSpot deal now carries erp_order_no={deal.get('erp_order_no')!r}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config.yaml"))
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--crm", choices=("hubspot", "salesforce"), default="hubspot")
    parser.add_argument(
        "--port", type=int, default=None, help="the HubSpot sandbox's port (default 8081)"
    )
    args = parser.parse_args()
    try:
        return run(args.config.resolve(), args.customers, sandbox_port(args.port), args.crm)
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(config: Path, customers: int, port: int, crm: str = "hubspot") -> int:
    sandbox = f"http://{HOST}:{port}"
    # The shipped config.yaml reads the sandbox's address from here.
    os.environ[BASE_URL_ENV] = sandbox
    demo = config.parent / "demo"
    if crm == "hubspot" and not sandbox_answers(sandbox) and not port_is_free(port):
        raise DemoError(
            f"port {port} on {HOST} is taken by another program (not a HubSpot sandbox); "
            f"free it, or run `./dev demo --port {port + 10}`"
        )

    step("1. Sample ERP and a fresh state store")
    for stale in demo.glob("state.db*"):
        stale.unlink()
    scale = customers / 1000
    stats = create_sample_erp(
        demo / "erp.db",
        customers=customers,
        contacts=int(3000 * scale),
        orders=int(5000 * scale),
    )
    print(f"Created {demo / 'erp.db'}: {stats}")
    if crm == "salesforce":
        from adapters.salesforce.demo import run as run_salesforce

        return run_salesforce(demo, connector, step)

    step("2. Local HubSpot sandbox")
    server = start_sandbox(port)
    try:
        step("3. connector hubspot setup, connector sync erp-to-crm")
        if connector(config, "hubspot", "setup") != 0:
            raise DemoError("`connector hubspot setup` failed (the reason is above)")
        first = connector(config, "sync", "erp-to-crm")
        if first == 2:
            raise DemoError("the first sync could not run (the reason is above)")

        step("4. A sales rep wins a deal in HubSpot")
        with httpx.Client(base_url=sandbox, headers=TOKEN, timeout=10) as client:
            deal = win_a_deal(client)

            step("5. connector sync crm-to-erp, then erp-to-crm")
            back = connector(config, "sync", "crm-to-erp")
            again = connector(config, "sync", "erp-to-crm")
            properties = client.get(
                f"/crm/v3/objects/deals/{deal}", params={"properties": "erp_order_no"}
            ).json()["properties"]
        show_order(demo / "erp.db", properties)

        step("6. connector status")
        connector(config, "status")
        return max(first, back, again)
    finally:
        if server is not None:
            server.should_exit = True


if __name__ == "__main__":
    raise SystemExit(main())
