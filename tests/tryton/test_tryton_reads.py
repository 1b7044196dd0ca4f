"""Tryton → HubSpot with the shipped preset (examples/tryton/), run as an operator would: the
real CLI (`connector sync`), Tryton's database read by SQL on its PostgreSQL and SQLite backends
(decimals as BLOBs there), the HubSpot sandbox on loopback. Only customers become companies,
contact persons become contacts linked to their employer, every sale (drafts included) becomes
a deal with its amount, currency and product codes, an address edited through Tryton's API is
seen on the next run, and Tryton's database is left exactly as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from adapters.erp_generic.api.tryton import TrytonWriter
from adapters.erp_generic.settings import ApiSettings
from tests.e2e.conftest import TOKEN, Sandbox, counts, run_cli, serve_sandbox
from tests.tryton.conftest import Tryton
from tests.tryton.test_tryton_writes import PRESET, environment, snapshot

pytestmark = [pytest.mark.tryton, pytest.mark.postgres]


@pytest.fixture
def hubspot() -> Iterator[Sandbox]:
    with serve_sandbox() as sandbox:
        yield sandbox


def hubspot_config(directory: Path, sandbox: Sandbox) -> Path:
    """The shipped preset as is, but for the sandbox's address and token and the state store."""
    config = yaml.safe_load((PRESET / "config.yaml").read_text())
    config["mappings"] = str(PRESET / "mappings")
    config["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    crm = config["systems"]["crm"]["settings"]
    crm["base_url"] = sandbox.url
    crm["auth"] = {"kind": "token", "token": TOKEN}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def listed(sandbox: Sandbox, kind: str, properties: str, associations: str = "") -> list[Any]:
    """Every record of `kind` through HubSpot's list API, with its associations."""
    params = {"limit": "100", "properties": properties}
    if associations:
        params["associations"] = associations
    with sandbox.client() as client:
        response = client.get(f"/crm/v3/objects/{kind}", params=params)
    response.raise_for_status()
    results: list[Any] = response.json()["results"]
    return results


def linked(record: dict[str, Any], kind: str) -> set[str]:
    return {
        str(link["id"]) for link in record.get("associations", {}).get(kind, {}).get("results", [])
    }


def erp_state(url: str, sales: list[int]) -> tuple[dict[str, list[str]], dict[str, int], Any]:
    """Tryton's schema (tables and their columns), every table's row count, and the sales'
    rows byte for byte."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        schema = {
            table: sorted(column["name"] for column in inspector.get_columns(table))
            for table in inspector.get_table_names()
        }
        with engine.connect() as connection:
            rows = {
                table: connection.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in schema
            }
    finally:
        engine.dispose()
    return schema, rows, snapshot(url, sales)


def edit_in_tryton(tryton: Tryton, party: int, city: str, quote: int) -> None:
    """Change a party's address and quote a draft sale through Tryton's own API (its rules
    and write_date apply)."""

    async def edit() -> None:
        settings = ApiSettings(
            plugin="tryton",
            url=tryton.url,
            database=tryton.database,
            user="admin",
            password="admin",
        )
        writer = TrytonWriter(settings)
        await writer.open()
        try:
            ids = await writer.call(
                "party.address", "search", [["party", "=", party]], 0, None, None
            )
            await writer.call("party.address", "write", ids, {"city": city})
            await writer.call("sale.sale", "quote", [quote])
        finally:
            await writer.close()

    asyncio.run(edit())


def test_tryton_customers_contacts_and_sales_reach_hubspot_and_tryton_is_untouched(
    tryton: Tryton, hubspot: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment(tryton).items():
        monkeypatch.setenv(name, value)
    sales = [tryton.made["sales"]["confirmed"], tryton.made["sales"]["draft"]]
    config = hubspot_config(tmp_path, hubspot)
    run_cli(config, "hubspot", "setup")
    # The preset's SQL (the contacts' and sales' queries, the history query) checks out live.
    run_cli(config, "check")
    before = erp_state(tryton.database_url, sales)

    out = run_cli(config, "sync", "tryton-to-crm")
    assert counts(out, "tryton-to-crm", "customer")[0] == 2, out
    assert counts(out, "tryton-to-crm", "sale")[-1] == 0, out  # no failures

    # Only the two customers: neither the contact persons nor Tryton's own company party.
    companies = listed(hubspot, "companies", "name,erp_customer_no,phone,address,city,zip")
    by_name = {company["properties"]["name"]: company for company in companies}
    assert set(by_name) == {"Kunde Eins", "Kunde Zwei"}
    for number, name in enumerate(("Kunde Eins", "Kunde Zwei"), 1):
        properties = by_name[name]["properties"]
        assert properties["phone"] and properties["phone"].replace(" ", "").endswith(
            f"1000{number}"
        )
        assert properties["address"] == f"Weg {number}" and properties["zip"] == "1000"
        assert properties["erp_customer_no"]
    assert by_name["Kunde Zwei"]["properties"]["city"] == "Wien"

    # Contact persons, named, each linked to its employer.
    contacts = listed(hubspot, "contacts", "firstname,lastname,email,phone", "companies")
    people = {(c["properties"]["firstname"], c["properties"]["lastname"]): c for c in contacts}
    assert set(people) == {("Anna", "Schmidt"), ("Ben", "Meier"), ("Clara", "Huber")}
    assert people["Anna", "Schmidt"]["properties"]["email"] == "anna.schmidt@example.de"
    assert people["Ben", "Meier"]["properties"]["phone"]
    eins, zwei = by_name["Kunde Eins"]["id"], by_name["Kunde Zwei"]["id"]
    assert linked(people["Anna", "Schmidt"], "companies") == {eins}
    assert linked(people["Ben", "Meier"], "companies") == {eins}
    assert linked(people["Clara", "Huber"], "companies") == {zwei}

    # Every sale, the draft (never written: no write_date) included, with amount, currency and
    # the products' codes.
    deals = listed(
        hubspot, "deals", "erp_order_no,amount,deal_currency_code", "line_items,companies"
    )
    assert len(deals) == 2
    assert {deal["properties"]["deal_currency_code"] for deal in deals} == {"EUR"}
    amounts = {Decimal(deal["properties"]["amount"]) for deal in deals}
    assert amounts == {Decimal("37.50"), Decimal("99.00")}  # 3 x 12.50; 1 x 99.00
    assert {frozenset(linked(deal, "companies")) for deal in deals} == {
        frozenset({eins}),
        frozenset({zwei}),
    }
    items = listed(hubspot, "line_items", "hs_sku,quantity")
    assert sorted(item["properties"]["hs_sku"] for item in items) == ["P-0001", "P-0002"]

    # Customer history from Tryton's sales: the confirmed sale is Kunde Eins's revenue and
    # open order; Kunde Zwei's draft is neither.
    figures = "erp_lifetime_revenue,erp_last_order_date,erp_open_orders"
    history = {c["id"]: c["properties"] for c in listed(hubspot, "companies", figures)}
    assert Decimal(history[eins]["erp_lifetime_revenue"]) == Decimal("37.50")
    assert history[eins]["erp_last_order_date"].startswith("2026-01-15")
    assert history[eins]["erp_open_orders"] == "1"
    assert not history[zwei]["erp_lifetime_revenue"] and history[zwei]["erp_open_orders"] == "0"

    # The run left Tryton's database as it was: no DDL, no row added or removed, the sales,
    # their lines, moves and invoices byte for byte.
    after = erp_state(tryton.database_url, sales)
    assert after[0] == before[0]
    assert {t: n for t, n in after[1].items() if before[1][t] != n} == {}
    assert after[2] == before[2]

    # An address edited in Tryton is seen on the next run; so is a customer's history when
    # only its sale changed (the draft quoted: an open order now).
    edit_in_tryton(tryton, tryton.made["customers"][0], "Hamburg", tryton.made["sales"]["draft"])
    edited = erp_state(tryton.database_url, sales)
    out = run_cli(config, "sync", "tryton-to-crm")
    assert counts(out, "tryton-to-crm", "customer")[:2] == [0, 2], out
    assert counts(out, "tryton-to-crm", "sale")[:2] == [0, 1], out
    now = {c["id"]: c["properties"] for c in listed(hubspot, "companies", f"city,{figures}")}
    assert (now[eins]["city"], now[zwei]["city"]) == ("Hamburg", "Wien")
    assert now[zwei]["erp_open_orders"] == "1"
    assert erp_state(tryton.database_url, sales) == edited


def test_the_preset_mappings_converge(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Contacts and history included, every field the preset maps agrees both ways (or is
    mapped one way), so no run writes the same value again."""
    for name in ("TRYTON_DATABASE", "TRYTON_PASSWORD", "HUBSPOT_TOKEN"):
        monkeypatch.setenv(name, "unused")
    monkeypatch.setenv("TRYTON_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    out = run_cli(PRESET / "config.yaml", "mappings", "check", "--convergence")
    assert "converge" in out
