"""`./dev demo --crm salesforce`: the demo against the local Salesforce sandbox.

1. the sample ERP (`demo/erp.db`), a fresh state store, and `demo/salesforce.yaml` written from
   `docs/examples/salesforce.yaml`;
2. the Salesforce sandbox on 127.0.0.1:8082, where an admin adds the ERP's sales reps as users
   and its products to the standard price book (a real org needs the same);
3. `connector salesforce setup` (the describe check), then `connector sync erp-to-crm`;
4. a sales rep creates an Opportunity with a product line for an existing Account and wins it;
5. `connector sync crm-to-erp` makes it an ERP sales order, `erp-to-crm` sends the order number
   back; 6. `connector status`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn
import yaml

from .sandbox import Sandbox, SandboxOptions, create_app

HOST, PORT = "127.0.0.1", 8082
SANDBOX = f"http://{HOST}:{PORT}"
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "salesforce.yaml"


def write_config(demo: Path) -> Path:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["state"] = {"url": f"sqlite:///{demo / 'state.db'}"}
    config["systems"]["erp"]["settings"]["url"] = f"sqlite:///{demo / 'erp.db'}"
    config["systems"]["crm"]["settings"]["login_url"] = SANDBOX
    path = demo / "salesforce.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_sandbox() -> uvicorn.Server:
    # Without Salesforce's demo accounts: they have no ERP customer number, which the sample
    # ERP requires, so they would end in `failures` (as they would with a real org).
    app = create_app(Sandbox(SandboxOptions(seed_demo_accounts=False)))
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=PORT, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit(f"the Salesforce sandbox did not start on {SANDBOX} (port in use?)")
        time.sleep(0.05)
    print(f"Salesforce sandbox listening on {SANDBOX}")
    return server


def prepare_org(client: httpx.Client, erp_db: Path) -> None:
    with sqlite3.connect(erp_db) as db:
        products = db.execute("SELECT sku, name, unit_price FROM products").fetchall()
        reps = [r[0] for r in db.execute("SELECT DISTINCT crm_owner FROM customers") if r[0]]
    client.post(
        "/_sandbox/products",
        json=[{"code": s, "name": n, "price": float(p)} for s, n, p in products],
    ).raise_for_status()
    for email in reps:
        client.post("/_sandbox/users", json={"email": email}).raise_for_status()
    print(f"Org prepared: {len(products)} products in the price book, users {', '.join(reps)}.")


def win_an_opportunity(client: httpx.Client) -> str:
    account = client.get("/_sandbox/records/Account").json()["records"][-1]
    entry = client.get("/_sandbox/records/PricebookEntry").json()["records"][0]
    created = client.post(
        "/_sandbox/records/Opportunity",
        json={"Name": "Demo: 40 pumps", "StageName": "Negotiation/Review",
              "CloseDate": "2026-12-15", "AccountId": account["Id"]},
    )  # fmt: skip
    created.raise_for_status()
    opportunity = str(created.json()["id"])
    client.post(
        "/_sandbox/records/OpportunityLineItem",
        json={"OpportunityId": opportunity, "PricebookEntryId": entry["Id"], "Quantity": 40},
    ).raise_for_status()
    client.patch(
        f"/_sandbox/records/Opportunity/{opportunity}", json={"StageName": "Closed Won"}
    ).raise_for_status()
    print(f"Opportunity {opportunity} for {account['Name']!r} created with one line and won.")
    return opportunity


def run(demo: Path, connector: Callable[..., int], step: Callable[[str], None]) -> int:
    config = write_config(demo)
    step("2. Local Salesforce sandbox, prepared by its admin")
    server = start_sandbox()
    try:
        with httpx.Client(base_url=SANDBOX, timeout=30) as client:
            prepare_org(client, demo / "erp.db")
            step("3. connector salesforce setup, connector sync erp-to-crm")
            checked = connector(config, "salesforce", "setup")
            first = connector(config, "sync", "erp-to-crm")
            step("4. A sales rep wins an opportunity in Salesforce")
            opportunity = win_an_opportunity(client)
            step("5. connector sync crm-to-erp, then erp-to-crm")
            back = connector(config, "sync", "crm-to-erp")
            again = connector(config, "sync", "erp-to-crm")
            rows = client.get("/_sandbox/records/Opportunity").json()["records"]
            number = next(r for r in rows if r["Id"] == opportunity).get("ERP_Order_No__c")
            print(f"The Opportunity now carries ERP_Order_No__c={number!r}.")
        step("6. connector status")
        connector(config, "status")
        return max(checked, first, back, again)
    finally:
        server.should_exit = True
