"""`./dev demo`: the product on its embedded defaults, start to finish, with nothing to set up.

1. creates the sample ERP (`demo/erp.db`) and a fresh state store (`demo/state.db`);
2. starts the local HubSpot sandbox on 127.0.0.1:8081 (or resets one already running there);
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
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.sandbox import create_app
from connector.cli import app as cli

HOST, PORT = "127.0.0.1", 8081
SANDBOX = f"http://{HOST}:{PORT}"
TOKEN = {"Authorization": "Bearer sandbox-token"}


def step(title: str) -> None:
    print(f"\n── {title}", flush=True)


def connector(config: Path, *args: str) -> int:
    """Run one `connector` command in this process, as the user would type it."""
    try:
        cli([*("--config", str(config)), *args], standalone_mode=False)
    except SystemExit as done:  # typer.Exit surfaces as SystemExit with standalone_mode off
        return int(done.code or 0)
    return 0


def start_sandbox() -> uvicorn.Server | None:
    """Start the sandbox in a thread; if one already answers on the port, reset that one."""
    try:
        httpx.post(f"{SANDBOX}/_sandbox/reset", timeout=2).raise_for_status()
        print(f"A sandbox already runs at {SANDBOX}; it was reset.")
        return None
    except httpx.HTTPError:
        pass
    server = uvicorn.Server(uvicorn.Config(create_app(), host=HOST, port=PORT, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit(f"the HubSpot sandbox did not start on {SANDBOX}")
        time.sleep(0.05)
    print(f"HubSpot sandbox listening on {SANDBOX}")
    return server


def win_a_deal(client: httpx.Client) -> str:
    """What a sales rep does in HubSpot: a deal for an existing company, with a line, won."""
    companies = client.get("/crm/v3/objects/companies", params={"limit": 1}).json()["results"]
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
    args = parser.parse_args()
    config: Path = args.config.resolve()
    demo = config.parent / "demo"

    step("1. Sample ERP and a fresh state store")
    for stale in demo.glob("state.db*"):
        stale.unlink()
    scale = args.customers / 1000
    stats = create_sample_erp(
        demo / "erp.db",
        customers=args.customers,
        contacts=int(3000 * scale),
        orders=int(5000 * scale),
    )
    print(f"Created {demo / 'erp.db'}: {stats}")
    if args.crm == "salesforce":
        from adapters.salesforce.demo import run

        return run(demo, connector, step)

    step("2. Local HubSpot sandbox")
    server = start_sandbox()
    try:
        step("3. connector hubspot setup, connector sync erp-to-crm")
        connector(config, "hubspot", "setup")
        first = connector(config, "sync", "erp-to-crm")

        step("4. A sales rep wins a deal in HubSpot")
        with httpx.Client(base_url=SANDBOX, headers=TOKEN, timeout=10) as client:
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
