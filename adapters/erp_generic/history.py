"""Customer history from the ERP's orders and invoices: the rule, and the refresh of its columns.

The rule (pure, `compute_history`): lifetime revenue is the sum of the customer's invoices;
the last order date is the latest `order_date` of an order that was placed (ordered, shipped,
invoiced or paid; not `none` or `cancelled`); open orders are those `ordered` or `shipped`,
not yet invoiced.

`refresh_history` is the SQL side for ERPs that keep these figures in the customer row (the
sample ERP does): it recomputes them for customers whose orders or invoices changed since a
time and bumps `updated_at` of the customers whose figures moved, so the history flows to the
CRM through the ordinary customer change feed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adapters.erp_generic.coerce import to_column_value

OPEN_STATUSES = frozenset({"ordered", "shipped"})
PLACED_STATUSES = frozenset({"ordered", "shipped", "invoiced", "paid"})
CENT = Decimal("0.01")
_CHUNK = 500
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class OrderFact:
    customer_id: Hashable
    status: str
    order_date: dt.date | None


@dataclass(frozen=True, slots=True)
class InvoiceFact:
    customer_id: Hashable
    amount: Decimal


@dataclass(frozen=True, slots=True)
class History:
    lifetime_revenue: Decimal = Decimal("0.00")
    last_order_date: dt.date | None = None
    open_order_count: int = 0


NO_HISTORY = History()


def compute_history(
    orders: Iterable[OrderFact], invoices: Iterable[InvoiceFact]
) -> dict[Hashable, History]:
    """History per customer id, for every customer that has an order or an invoice."""
    revenue: dict[Hashable, Decimal] = {}
    last: dict[Hashable, dt.date | None] = {}
    open_count: dict[Hashable, int] = {}
    for invoice in invoices:
        revenue[invoice.customer_id] = revenue.get(invoice.customer_id, Decimal(0)) + Decimal(
            invoice.amount
        )
    for order in orders:
        customer = order.customer_id
        open_count.setdefault(customer, 0)
        last.setdefault(customer, None)
        if order.status in OPEN_STATUSES:
            open_count[customer] += 1
        placed = order.status in PLACED_STATUSES
        if placed and order.order_date is not None:
            previous = last[customer]
            last[customer] = (
                order.order_date if previous is None else max(previous, order.order_date)
            )
    return {
        customer: History(
            lifetime_revenue=revenue.get(customer, Decimal(0)).quantize(CENT),
            last_order_date=last.get(customer),
            open_order_count=open_count.get(customer, 0),
        )
        for customer in revenue.keys() | open_count.keys()
    }


def same_history(current: History, computed: History) -> bool:
    """Equal figures (Decimals compared by value: 10.0 == 10.00)."""
    return (
        current.lifetime_revenue.quantize(CENT) == computed.lifetime_revenue.quantize(CENT)
        and current.last_order_date == computed.last_order_date
        and current.open_order_count == computed.open_order_count
    )


def changed_histories(
    current: Mapping[K, History], computed: Mapping[K, History]
) -> dict[K, History]:
    """The customers (of `current`) whose stored figures differ from the computed ones."""
    return {
        customer: computed.get(customer, NO_HISTORY)
        for customer, stored in current.items()
        if not same_history(stored, computed.get(customer, NO_HISTORY))
    }


def refresh_history(
    connection: Connection,
    customers: sa.Table,
    orders: sa.Table,
    invoices: sa.Table,
    *,
    since: dt.datetime | None,
    now: dt.datetime,
    customer_key: str = "id",
    updated_at: str = "updated_at",
) -> int:
    """Recompute history for customers whose orders or invoices changed at/after `since`
    (all customers when None); return how many customer rows changed."""
    key = customers.c[customer_key]
    if since is None:
        affected: Iterable[Any] = connection.execute(sa.select(key).order_by(key)).scalars()
    else:
        touched = sa.union(
            sa.select(orders.c.customer_id).where(
                orders.c.updated_at >= to_column_value(orders.c.updated_at, since)
            ),
            sa.select(invoices.c.customer_id).where(
                invoices.c.updated_at >= to_column_value(invoices.c.updated_at, since)
            ),
        )
        affected = connection.execute(touched).scalars().all()
    stamp = to_column_value(customers.c[updated_at], now)
    changed = 0
    ids = iter(list(affected))
    while chunk := [i for i in islice(ids, _CHUNK) if i is not None]:
        current = _stored(connection, customers, key, chunk)
        computed = _computed(connection, orders, invoices, chunk)
        for customer, history in changed_histories(current, computed).items():
            connection.execute(
                sa.update(customers)
                .where(key == customer)
                .values(
                    lifetime_revenue=history.lifetime_revenue,
                    last_order_date=history.last_order_date,
                    open_order_count=history.open_order_count,
                    **{updated_at: stamp},
                )
            )
            changed += 1
    return changed


def _stored(
    connection: Connection, customers: sa.Table, key: sa.Column[Any], chunk: list[Any]
) -> dict[Hashable, History]:
    rows = connection.execute(
        sa.select(
            key,
            customers.c.lifetime_revenue,
            customers.c.last_order_date,
            customers.c.open_order_count,
        ).where(key.in_(chunk))
    )
    return {
        customer: History(
            lifetime_revenue=Decimal(revenue or 0),
            last_order_date=last_order,
            open_order_count=int(open_orders or 0),
        )
        for customer, revenue, last_order, open_orders in rows
    }


def _computed(
    connection: Connection, orders: sa.Table, invoices: sa.Table, chunk: list[Any]
) -> dict[Hashable, History]:
    revenue_rows = connection.execute(
        sa.select(invoices.c.customer_id, sa.func.sum(invoices.c.amount))
        .where(invoices.c.customer_id.in_(chunk))
        .group_by(invoices.c.customer_id)
    )
    revenue = {customer: amount for customer, amount in revenue_rows}
    status = orders.c.status
    order_rows = connection.execute(
        sa.select(
            orders.c.customer_id,
            sa.func.max(sa.case((status.in_(PLACED_STATUSES), orders.c.order_date))),
            sa.func.sum(sa.case((status.in_(OPEN_STATUSES), 1), else_=0)),
        )
        .where(orders.c.customer_id.in_(chunk))
        .group_by(orders.c.customer_id)
    ).tuples()
    placed = {customer: (last, int(count or 0)) for customer, last, count in order_rows}
    return {
        customer: History(
            lifetime_revenue=Decimal(revenue.get(customer) or 0).quantize(CENT),
            last_order_date=_as_date(placed.get(customer, (None, 0))[0]),
            open_order_count=placed.get(customer, (None, 0))[1],
        )
        for customer in revenue.keys() | placed.keys()
    }


def _as_date(value: Any) -> dt.date | None:
    """MAX() over a DATE column comes back as text on SQLite (the type is lost in the CASE)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
