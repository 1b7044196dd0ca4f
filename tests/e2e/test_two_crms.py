"""The shipped example with one ERP and both CRMs (docs/examples/two-crms.yaml), over loopback:
each customer goes to its owner's team's CRM, and both teams' edits come back to the one ERP."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from adapters.erp_generic.sample import create_sample_erp
from tests.e2e import test_erp_salesforce as salesforce_e2e
from tests.e2e.conftest import Sandbox, counts, erp_query, run_cli
from tests.e2e.test_erp_salesforce import Org

org = salesforce_e2e.org  # the Salesforce sandbox fixture, shared with that module
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "two-crms.yaml"


def test_each_team_gets_its_customers_and_both_edit_the_one_erp(
    tmp_path: Path, sandbox: Sandbox, org: Org, monkeypatch: pytest.MonkeyPatch
):
    erp_db = tmp_path / "erp.db"
    create_sample_erp(erp_db, customers=30, contacts=0, orders=0, products=1)
    monkeypatch.setenv("CONNECTOR_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("ERP_DATABASE_URL", f"sqlite:///{erp_db}")
    monkeypatch.setenv("HUBSPOT_BASE_URL", sandbox.url)
    monkeypatch.setenv("SALESFORCE_LOGIN_URL", org.url)
    config = tmp_path / "config.yaml"
    shutil.copy(EXAMPLE, config)
    with org.admin() as client:
        client.post("/_sandbox/users", json={"email": "carol@example.com"}).raise_for_status()
    run_cli(config, "hubspot", "setup")

    owners = dict(erp_query(erp_db, "SELECT customer_no, crm_owner FROM customers"))
    to_hubspot = run_cli(config, "sync", "erp-to-hubspot")
    to_salesforce = run_cli(config, "sync", "erp-to-salesforce")
    hubspot_team = {n for n, o in owners.items() if o in ("alice@example.com", "bob@example.com")}
    carols = {n for n, o in owners.items() if o == "carol@example.com"}
    assert hubspot_team and carols
    assert counts(to_hubspot, "erp-to-hubspot", "customer")[0] == len(hubspot_team)
    assert counts(to_salesforce, "erp-to-salesforce", "customer")[0] == len(carols)
    with sandbox.client() as client:
        companies = client.get("/_sandbox/objects/companies").json()["results"]
    assert {c["properties"]["erp_customer_no"] for c in companies} == hubspot_team
    accounts = org.records("Account")
    assert {a["ERP_Customer_No__c"] for a in accounts} == carols

    company = companies[0]
    account = accounts[0]
    with sandbox.client() as client:
        client.patch(
            f"/_sandbox/ui/companies/{company['id']}",
            json={"properties": {"name": "Renamed in HubSpot"}},
        ).raise_for_status()
    with httpx.Client(base_url=org.url) as client:
        client.patch(
            f"/_sandbox/records/Account/{account['Id']}", json={"Name": "Renamed in Salesforce"}
        ).raise_for_status()
    run_cli(config, "sync", "hubspot-to-erp")
    run_cli(config, "sync", "salesforce-to-erp")
    names = dict(erp_query(erp_db, "SELECT customer_no, name FROM customers"))
    assert names[company["properties"]["erp_customer_no"]] == "Renamed in HubSpot"
    assert names[account["ERP_Customer_No__c"]] == "Renamed in Salesforce"
