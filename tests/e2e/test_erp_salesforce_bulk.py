"""A Bulk API 2.0 run of 50,000 customers through the CLI: sample ERP → Salesforce sandbox.

The ERP is read in one page of 50,000 and the adapter's Bulk threshold (10,000) is crossed, so
the customers go as one ingest job. A validation rule refuses seven of them and the org locks
three more rows mid-job: every other customer lands exactly once, the failures table holds
exactly those ten with Salesforce's reasons, a second run with nothing changed writes nothing,
and retrying the failures lands the three locked ones while the seven stay failed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from adapters.erp_generic.sample import create_sample_erp
from tests.e2e.conftest import counts, erp_query, run_cli, save_config, shipped_config
from tests.e2e.test_erp_salesforce import KEY_ENV, Org, org

__all__ = ["org"]
N = 50_000
REJECTED = 7
LOCKED = 3


def test_fifty_thousand_customers_land_once_through_one_bulk_job(tmp_path: Path, org: Org):
    from adapters.salesforce.sandbox.org import ValidationRule

    erp_db = tmp_path / "erp.db"
    create_sample_erp(erp_db, customers=N, contacts=1, orders=1)
    rejected = [n for (n,) in erp_query(erp_db, "SELECT customer_no FROM customers")][::7001][
        :REJECTED
    ]
    assert len(rejected) == REJECTED
    config = shipped_config(tmp_path)
    config["systems"]["erp"]["settings"]["page_size"] = N
    config["systems"]["crm"] = {
        "adapter": "salesforce",
        "settings": {
            "login_url": org.url,
            "auth": {"kind": "jwt", "client_id": "sandbox-consumer-key",
                     "username": "integration@acme-corp.example", "private_key_env": KEY_ENV},
            "write_batch": N,
            "bulk_threshold": 10_000,
        },
    }  # fmt: skip
    route = next(r for r in config["routes"] if r["name"] == "erp-to-crm")
    route["entities"] = {"customer": {}}
    config["routes"] = [route]
    path = save_config(tmp_path, config)
    sandbox = org.sandbox
    sandbox.org.rules.append(
        ValidationRule(
            "Account",
            "ERP_Customer_No__c",
            "^(" + "|".join(rejected) + ")$",
            "Customer number reserved by the sales team",
        )
    )
    sandbox.org.lock_next = LOCKED

    out = run_cli(path, "sync", "erp-to-crm", expect=1)
    created, _, _, _, _, failed = counts(out, "erp-to-crm", "customer")
    assert (created, failed) == (N - REJECTED - LOCKED, REJECTED + LOCKED)
    paths = Counter((e["method"], e["path"].split("/v62.0")[-1]) for e in sandbox.log)
    assert paths[("POST", "/jobs/ingest")] == 1, "one ingest job for the 50,000"
    assert not [p for p in paths if p[1].startswith("/composite")], "no Collections calls"

    landed = Counter(a["ERP_Customer_No__c"] for a in sandbox.org.live("Account"))
    assert len(landed) == N - REJECTED - LOCKED and set(landed.values()) == {1}
    assert not set(rejected) & set(landed)
    keys = Counter(a["Connector_Key__c"] for a in sandbox.org.live("Account"))
    assert set(keys.values()) == {1}

    listing = json.loads(run_cli(path, "failures", "list", "--json", "--limit", "1000"))
    rows = listing["failures"] if isinstance(listing, dict) else listing
    assert len(rows) == REJECTED + LOCKED, rows
    text = json.dumps(rows)
    assert text.count("FIELD_CUSTOM_VALIDATION_EXCEPTION") >= REJECTED
    assert "Customer number reserved by the sales team" in text
    assert text.count("UNABLE_TO_LOCK_ROW") >= LOCKED

    sandbox.log.clear()
    again = run_cli(path, "sync", "erp-to-crm")
    assert counts(again, "erp-to-crm", "customer")[:2] == [0, 0]
    writes = [e for e in sandbox.log if e["method"] in ("POST", "PATCH", "PUT", "DELETE")]
    assert writes == [], "a second run with nothing changed writes nothing"

    run_cli(path, "failures", "retry", "--all", expect=None)
    landed = Counter(a["ERP_Customer_No__c"] for a in sandbox.org.live("Account"))
    assert len(landed) == N - REJECTED and set(landed.values()) == {1}, "the locked ones land"
    left = json.loads(run_cli(path, "failures", "list", "--json", "--limit", "1000"))
    rows = left["failures"] if isinstance(left, dict) else left
    assert len(rows) == REJECTED and "UNABLE_TO_LOCK_ROW" not in json.dumps(rows)
