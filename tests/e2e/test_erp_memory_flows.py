"""The business flows through the real CLI with the in-memory CRM of `connector.testing`.

The same flows as `test_erp_hubspot.py`, against a CRM with no API quirks: the shipped routes
and the sample ERP's mapping files on one side, the in-memory system (kept in a JSON file so the
CLI and the test see one CRM) on the other. The CRM is master of `industry` and `owner`, as the
HubSpot mapping file declares for HubSpot. A failure here and not there points at the engine or
the ERP adapter; a failure there and not here points at the HubSpot adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.erp_generic.sample import create_sample_erp
from connector.model import Entity
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.e2e.conftest import counts, erp_now, erp_query, run_cli, save_config, shipped_config


@dataclass
class Flows:
    directory: Path
    config: Path
    crm_settings: MemorySettings

    def connector(self, *args: str, expect: int | None = 0) -> str:
        return run_cli(self.config, *args, expect=expect)

    def erp(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return erp_query(self.directory / "erp.db", sql, *params)

    @contextmanager
    def crm(self) -> Iterator[MemoryAdapter]:
        """The CRM as its file holds it now; what the block changes is saved at its end."""
        adapter = MemoryAdapter("crm", self.crm_settings, self.directory)
        asyncio.run(adapter.open())
        yield adapter
        asyncio.run(adapter.close())

    def crm_record(self, entity: Entity, **match: Any) -> tuple[str, dict[str, Any]]:
        """The one live CRM record whose fields include `match`: (id, fields)."""
        with self.crm() as crm:
            found = [
                (row.id, row.fields)
                for row in crm.records(entity)
                if all(row.fields.get(name) == value for name, value in match.items())
            ]
        assert len(found) == 1, f"{len(found)} {entity.value} records match {match}"
        return found[0]

    def first_customer(self) -> tuple[int, str]:
        [(customer_id, number)] = self.erp(
            "SELECT id, customer_no FROM customers WHERE deleted_at IS NULL ORDER BY id LIMIT 1"
        )
        return customer_id, number


@pytest.fixture
def flows(tmp_path: Path) -> Flows:
    create_sample_erp(tmp_path / "erp.db", customers=20, contacts=40, orders=30, products=10)
    config = shipped_config(tmp_path)
    crm_block = {"path": "crm.json", "owns": {"customer": ["industry", "owner"]}}
    config["systems"]["crm"] = {"adapter": "memory", "settings": crm_block}
    return Flows(tmp_path, save_config(tmp_path, config), MemorySettings.model_validate(crm_block))


def test_the_erp_fills_the_crm_and_a_second_run_changes_nothing(flows: Flows):
    out = flows.connector("sync", "erp-to-crm")
    assert [counts(out, "erp-to-crm", e)[0] for e in ("customer", "contact", "sale")] == [
        20,
        40,
        30,
    ]
    with flows.crm() as crm:
        numbers = sorted(row.fields["number"] for row in crm.records(Entity.CUSTOMER))
        writes = crm.write_calls
    assert numbers == sorted(n for (n,) in flows.erp("SELECT customer_no FROM customers"))

    again = flows.connector("sync", "erp-to-crm")
    back = flows.connector("sync", "crm-to-erp")
    for entity in ("customer", "contact", "sale"):
        assert counts(again, "erp-to-crm", entity)[:2] == [0, 0], again
        assert counts(back, "crm-to-erp", entity)[:2] == [0, 0], back
    with flows.crm() as crm:
        assert crm.write_calls == writes


def test_a_won_sale_becomes_an_erp_order_whose_number_and_status_flow_back(flows: Flows):
    flows.connector("sync", "erp-to-crm")
    customer_id, number = flows.first_customer()
    crm_customer, _ = flows.crm_record(Entity.CUSTOMER, number=number)
    with flows.crm() as crm:
        sale = crm.put(
            Entity.SALE,
            {
                "title": "Big pump order",
                "stage": "open",
                "customer": crm_customer,
                "currency": "EUR",
                "amount": "1490.00",
                "lines": [{"sku": "P-1", "description": "Pump", "quantity": "10",
                           "unit_price": "149.00"}],
            },
        )  # fmt: skip

    open_sale = flows.connector("sync", "crm-to-erp")
    assert counts(open_sale, "crm-to-erp", "sale")[4] == 1, "an open sale is no order yet"
    assert not flows.erp("SELECT id FROM sales_orders WHERE title = 'Big pump order'")

    with flows.crm() as crm:
        crm.put(Entity.SALE, {"stage": "won"}, sale)
    won = flows.connector("sync", "crm-to-erp")
    assert counts(won, "crm-to-erp", "sale")[0] == 1
    [(order_id, order_no, stage, owner_id)] = flows.erp(
        "SELECT id, order_no, stage, customer_id FROM sales_orders WHERE title = 'Big pump order'"
    )
    assert (stage, owner_id) == ("won", customer_id) and order_no
    assert flows.erp(
        "SELECT sku, description, quantity, unit_price FROM sales_order_lines WHERE order_id = ?",
        order_id,
    ) == [("P-1", "Pump", 10, 149)]

    flows.connector("sync", "erp-to-crm")
    _, fields = flows.crm_record(Entity.SALE, title="Big pump order")
    assert fields["number"] == order_no

    flows.erp(
        "UPDATE sales_orders SET status = 'shipped', updated_at = ? WHERE id = ?",
        erp_now(),
        order_id,
    )
    flows.connector("sync", "erp-to-crm")
    _, fields = flows.crm_record(Entity.SALE, title="Big pump order")
    assert fields["order_status"] == "shipped"
    assert flows.erp("SELECT COUNT(*) FROM sales_orders WHERE title = 'Big pump order'") == [(1,)]


def test_customer_history_reaches_the_crm_and_stays_current(flows: Flows):
    flows.connector("sync", "erp-to-crm")
    customer_id, number = flows.first_customer()
    [(revenue, open_orders)] = flows.erp(
        "SELECT lifetime_revenue, open_order_count FROM customers WHERE id = ?", customer_id
    )
    _, fields = flows.crm_record(Entity.CUSTOMER, number=number)
    assert Decimal(str(fields["history.lifetime_revenue"])) == Decimal(str(revenue))
    assert fields["history.open_order_count"] == open_orders

    [(order_id,)] = flows.erp(
        "SELECT id FROM sales_orders WHERE customer_id = ? ORDER BY id LIMIT 1", customer_id
    )
    flows.erp(
        "INSERT INTO invoices (invoice_no, order_id, customer_id, invoice_date, amount, paid, "
        "updated_at) VALUES ('INV-FLOW', ?, ?, '2026-11-01', 1000, 1, ?)",
        order_id,
        customer_id,
        erp_now(),
    )
    flows.connector("sync", "erp-to-crm")
    _, fields = flows.crm_record(Entity.CUSTOMER, number=number)
    assert Decimal(str(fields["history.lifetime_revenue"])) == Decimal(str(revenue)) + 1000


def test_conflicting_edits_end_with_each_field_from_its_owner(flows: Flows):
    flows.connector("sync", "erp-to-crm")
    flows.connector("sync", "crm-to-erp")
    customer_id, number = flows.first_customer()
    crm_customer, _ = flows.crm_record(Entity.CUSTOMER, number=number)

    # Both sides edit the billing city (the ERP's field) and the industry (the CRM's).
    flows.erp(
        "UPDATE customers SET billing_city = 'Erpstadt', industry = 'ERP says', updated_at = ? "
        "WHERE id = ?",
        erp_now(),
        customer_id,
    )
    with flows.crm() as crm:
        crm.put(
            Entity.CUSTOMER,
            {"billing_address.city": "Crmville", "industry": "Retail", "owner": "rep-7"},
            crm_customer,
        )

    flows.connector("sync", "erp-to-crm")
    flows.connector("sync", "crm-to-erp")
    flows.connector("sync", "erp-to-crm")

    _, fields = flows.crm_record(Entity.CUSTOMER, number=number)
    assert (fields["billing_address.city"], fields["industry"]) == ("Erpstadt", "Retail")
    assert flows.erp(
        "SELECT billing_city, industry, crm_owner FROM customers WHERE id = ?", customer_id
    ) == [("Erpstadt", "Retail", "rep-7")]


def test_deletes_follow_each_entitys_policy(flows: Flows):
    """Shipped policies, ERP → CRM: contacts propagate, customers deactivate, sales ignore."""
    flows.connector("sync", "erp-to-crm")
    customer_id, number = flows.first_customer()
    [(contact_id, email)] = flows.erp("SELECT id, email FROM contacts ORDER BY id LIMIT 1")
    [(order_id, order_no)] = flows.erp("SELECT id, order_no FROM sales_orders ORDER BY id LIMIT 1")
    now = erp_now()
    for table, row_id in (
        ("customers", customer_id),
        ("contacts", contact_id),
        ("sales_orders", order_id),
    ):
        flows.erp(
            f"UPDATE {table} SET deleted_at = ?, updated_at = ? WHERE id = ?", now, now, row_id
        )

    out = flows.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "contact")[3] == 1
    assert counts(out, "erp-to-crm", "customer")[3] == 1
    assert counts(out, "erp-to-crm", "sale")[3] == 0
    with flows.crm() as crm:
        contacts = {
            row.fields.get("email"): row
            for row in crm.records(Entity.CONTACT, include_deleted=True)
        }
        assert contacts[email].deleted
        [customer] = [r for r in crm.records(Entity.CUSTOMER) if r.fields["number"] == number]
        assert customer.fields["status"] == "inactive" and not customer.deleted
        [sale] = [r for r in crm.records(Entity.SALE) if r.fields.get("number") == order_no]
        assert not sale.deleted
