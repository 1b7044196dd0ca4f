"""Customer history: the pure rule, and its refresh in the database feeding the change feed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.history import (
    History,
    InvoiceFact,
    OrderFact,
    changed_histories,
    compute_history,
)
from adapters.erp_generic.sample import sample_metadata
from connector.adapter import NativeWrite
from connector.model import Entity

D = dt.date


def test_history_rule() -> None:
    orders = [
        OrderFact(1, "paid", D(2024, 1, 5)),
        OrderFact(1, "ordered", D(2024, 3, 1)),
        OrderFact(1, "shipped", D(2024, 2, 1)),
        OrderFact(1, "cancelled", D(2025, 1, 1)),  # never placed: not the last order
        OrderFact(2, "none", D(2025, 1, 1)),
    ]
    invoices = [InvoiceFact(1, Decimal("10.10")), InvoiceFact(1, Decimal("5")),
                InvoiceFact(3, Decimal("7.005"))]  # fmt: skip
    history = compute_history(orders, invoices)
    assert history[1] == History(Decimal("15.10"), D(2024, 3, 1), 2)
    assert history[2] == History(Decimal("0.00"), None, 0)
    assert history[3] == History(Decimal("7.00"), None, 0)


def test_only_changed_figures_count_as_changes() -> None:
    current = {1: History(Decimal("10.0"), D(2024, 1, 1), 1), 2: History(Decimal("3"), None, 0)}
    computed = {1: History(Decimal("10.00"), D(2024, 1, 1), 1)}
    # Customer 2 has no orders or invoices any more: back to zero.
    assert changed_histories(current, computed) == {2: History()}


async def test_refresh_flows_new_history_through_the_customer_feed(
    erp: ErpGenericAdapter, sample_url: str
) -> None:
    sale = {
        "customer_id": 6,
        "stage": "won",
        "status": "ordered",
        "order_date": "2031-07-01",
        "currency": "EUR",
        "lines": [{"sku": "X", "quantity": 1, "line_total": "100.00"}],
    }
    [written] = await erp.upsert(Entity.SALE, [NativeWrite("won-sale", None, sale)])
    assert written.ok and written.updated_at is not None
    customers = sample_metadata().tables["customers"]
    engine = sa.create_engine(sample_url)
    with engine.connect() as connection:
        before = connection.execute(sa.select(customers).where(customers.c.id == 6)).one()
    feed = [r async for page in erp.read_changes(Entity.CUSTOMER, written.updated_at)
            for r in page.records]  # fmt: skip
    assert [r.id for r in feed] == ["6"]
    fields = feed[0].fields
    assert fields["last_order_date"] == D(2031, 7, 1)
    assert fields["open_order_count"] == (before.open_order_count or 0) + 1
    assert Decimal(fields["lifetime_revenue"]) == Decimal(before.lifetime_revenue)
    # Nothing changed since: a second read refreshes nothing and bumps nobody.
    again = [r async for page in erp.read_changes(Entity.CUSTOMER, feed[0].updated_at)
             for r in page.records]  # fmt: skip
    assert [r.id for r in again] == ["6"]
    assert again[0].updated_at == feed[0].updated_at
    engine.dispose()


async def test_sample_history_matches_the_rule(sample_url: str, tmp_path: Path) -> None:
    tables = sample_metadata().tables
    engine = sa.create_engine(sample_url)
    with engine.connect() as connection:
        orders = [OrderFact(r.customer_id, r.status, r.order_date)
                  for r in connection.execute(sa.select(tables["sales_orders"]))]  # fmt: skip
        invoices = [InvoiceFact(r.customer_id, r.amount)
                    for r in connection.execute(sa.select(tables["invoices"]))]  # fmt: skip
        stored = {
            r.id: History(r.lifetime_revenue, r.last_order_date, r.open_order_count)
            for r in connection.execute(sa.select(tables["customers"]))
        }
    engine.dispose()
    assert changed_histories(stored, compute_history(orders, invoices)) == {}
    assert any(h.lifetime_revenue > 0 for h in stored.values())
