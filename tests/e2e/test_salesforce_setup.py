"""`connector check` and `connector salesforce setup [--create]` against a fresh org, through the
real CLI in a subprocess, the Salesforce sandbox on loopback.

A fresh org has none of the connector's custom fields: `check` names the mapping file's line and
column of each one the org lacks (and of a value-map value a restricted picklist refuses) and
exits 2; `setup` prints what to create and exits 1 without changing the org; `setup --create`
creates the fields through the Tooling API and grants the integration user access, after which
`check` passes and a sync fills the new fields.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from adapters.erp_generic.sample import create_sample_erp
from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app
from tests.e2e.conftest import HANG_SECONDS, bound_port, save_config, shipped_config
from tests.salesforce.keys import make_key_pair

KEY_ENV = "SALESFORCE_TEST_PRIVATE_KEY"
#: The custom fields the shipped mapping files and the adapter use.
CUSTOM_FIELDS = {
    "Account": ("Connector_Key__c", "ERP_Customer_No__c", "ERP_Customer_Status__c",
                "ERP_Lifetime_Revenue__c", "ERP_Last_Order_Date__c", "ERP_Open_Orders__c"),
    "Contact": ("Connector_Key__c", "ERP_Contact_No__c"),
    "Opportunity": ("Connector_Key__c", "ERP_Order_No__c", "ERP_Order_Status__c"),
}  # fmt: skip


class Org:
    def __init__(self, key_pair: tuple[str, bytes], **options: Any) -> None:
        self.sandbox = Sandbox(
            SandboxOptions(
                certificate_pem=key_pair[1],
                seed_demo_accounts=False,
                custom_fields=False,
                **options,
            )
        )
        self.url = ""  # known once the server has bound a port of its own (port 0)
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(self.sandbox), host="127.0.0.1", port=0, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Org:
        self.thread.start()
        deadline = time.monotonic() + HANG_SECONDS
        while not self.server.started:
            assert self.thread.is_alive(), "sandbox did not start (see its log above)"
            assert time.monotonic() < deadline, "sandbox did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{bound_port(self.server)}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            rows = client.get(f"/_sandbox/records/{sobject}").json()["records"]
        return [row for row in rows if not row["IsDeleted"]]


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, bytes]:
    return make_key_pair()


def configure(directory: Path, org: Org, mappings: Path | None = None) -> Path:
    create_sample_erp(directory / "erp.db", customers=12, contacts=20, orders=10, products=8)
    config = shipped_config(directory)
    config["systems"]["crm"] = {
        "adapter": "salesforce",
        "settings": {
            "login_url": org.url,
            "auth": {
                "kind": "jwt",
                "client_id": "sandbox-consumer-key",
                "username": "integration@acme-corp.example",
                "private_key_env": KEY_ENV,
            },
        },
    }
    if mappings is not None:
        config["mappings"] = str(mappings)
    # The ERP's products, as an admin would have set them up (a sale's lines need them).
    with sqlite3.connect(directory / "erp.db") as db:
        products = db.execute("SELECT sku, name, unit_price FROM products").fetchall()
    with httpx.Client(base_url=org.url, timeout=30) as client:
        client.post(
            "/_sandbox/products",
            json=[
                {"code": sku, "name": name, "price": float(price)} for sku, name, price in products
            ],
        ).raise_for_status()
    return save_config(directory, config)


def connector(config: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`connector --config … args…` as its own process."""
    env = {**os.environ, KEY_ENV: key, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def position(text: str, needle: str, *, after: str) -> str:
    offset = text.index(needle, text.index(after))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def fresh_org(key_pair: tuple[str, bytes]) -> Iterator[Org]:
    with Org(key_pair) as org:
        yield org


def test_check_names_file_line_column_of_a_missing_field_and_a_refused_picklist_value(
    tmp_path: Path, key_pair: tuple[str, bytes]
):
    shipped = resources.files("mappings").joinpath("salesforce", "customer.yaml")
    text = shipped.read_text(encoding="utf-8").replace("Agriculture: Farming", "Agri-Food: Farming")
    user_mappings = tmp_path / "mappings"
    (user_mappings / "salesforce").mkdir(parents=True)
    customer = user_mappings / "salesforce" / "customer.yaml"
    customer.write_text(text, encoding="utf-8")
    with Org(key_pair, industry_restricted=True) as org:
        config = configure(tmp_path, org, user_mappings)
        offline = connector(config, key_pair[0], "check", "--offline")
        assert offline.returncode == 0, offline.stderr
        result = connector(config, key_pair[0], "check")
    assert result.returncode == 2, result.stdout + result.stderr
    errors = one_line(result.stderr)
    missing = position(text, "ERP_Customer_No__c", after="fields:")
    assert f"{customer}:{missing}: Account has no field `ERP_Customer_No__c`" in errors, errors
    refused = position(text, "Agri-Food", after="native: Industry")
    assert (
        f"{customer}:{refused}: Account.Industry is a restricted picklist without the value "
        "'Agri-Food'" in errors
    ), errors
    assert "connector salesforce setup" in errors  # how to add the missing fields
    # The key the adapter upserts by is in no mapping file: reported against the system.
    assert "systems.crm: Account lacks Connector_Key__c, ERP_Customer_No__c" in errors, errors
    # The shipped files are reported at their own positions too (the contact's key field).
    contact = resources.files("mappings").joinpath("salesforce", "contact.yaml")
    contact_text = contact.read_text(encoding="utf-8")
    where = position(contact_text, "ERP_Contact_No__c", after="fields:")
    assert f"mappings/salesforce/contact.yaml:{where}: Contact has no field" in errors, errors


def test_setup_prints_what_to_create_then_create_makes_check_and_sync_work(
    tmp_path: Path, fresh_org: Org, key_pair: tuple[str, bytes]
):
    config = configure(tmp_path, fresh_org)
    key = key_pair[0]

    shown = connector(config, key, "salesforce", "setup")
    assert shown.returncode == 1, shown.stdout + shown.stderr
    out = one_line(shown.stdout)
    for sobject, names in CUSTOM_FIELDS.items():
        for name in names:
            assert f"crm: {sobject}.{name}: missing — create it:" in out, (name, out)
    assert (
        "crm: Account.Connector_Key__c: missing — create it: 'Connector Key', Text(80), "
        "External ID, Unique" in out
    )
    assert "Account.ERP_Customer_Status__c: missing — create it: 'ERP Customer Status', " \
        "Picklist, restricted, values active, blocked, inactive" in out  # fmt: skip
    assert "setup --create` creates the 11 missing custom field(s)" in out
    assert fresh_org.sandbox.tooling.created == {}  # nothing was changed

    created = connector(config, key, "salesforce", "setup", "--create")
    assert created.returncode == 0, created.stdout + created.stderr
    out = one_line(created.stdout)
    assert "crm: Account.Connector_Key__c: created (id 00N" in out
    assert "crm: permission set Connector_Integration: assigned to the integration user" in out
    assert "the org has every field the mapping needs" in out
    assert len(fresh_org.sandbox.tooling.created) == 11

    again = connector(config, key, "salesforce", "setup", "--create")
    assert again.returncode == 0 and "created" not in again.stdout  # nothing left to do

    checked = connector(config, key, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "every system answered" in one_line(checked.stdout)

    synced = connector(config, key, "sync", "erp-to-crm")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    accounts = fresh_org.records("Account")
    assert len(accounts) == 12
    assert all(a["ERP_Customer_No__c"] and a["Connector_Key__c"] for a in accounts)
    assert {a["ERP_Customer_Status__c"] for a in accounts} <= {"active", "blocked", "inactive"}
    assert all(c["ERP_Contact_No__c"] for c in fresh_org.records("Contact"))
    assert len([o for o in fresh_org.records("Opportunity") if o["ERP_Order_No__c"]]) == 10
