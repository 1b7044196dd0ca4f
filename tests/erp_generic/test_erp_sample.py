"""The sample ERP: deterministic, realistic, consistent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.erp_generic.sample import create_sample_erp, sample_metadata

TABLES = ("customers", "contacts", "products", "sales_orders", "sales_order_lines", "invoices")


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata = sample_metadata()
    with engine.connect() as connection:
        content = {
            name: [tuple(row) for row in connection.execute(
                sa.select(metadata.tables[name]).order_by(metadata.tables[name].c.id))]
            for name in TABLES
        }  # fmt: skip
    engine.dispose()
    return content


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    sizes = {"customers": 40, "contacts": 90, "orders": 70}
    first = create_sample_erp(tmp_path / "a.db", **sizes)
    second = create_sample_erp(tmp_path / "b.db", **sizes)
    create_sample_erp(tmp_path / "c.db", seed=7, **sizes)
    assert first == second
    assert first.customers == 40 and first.contacts == 90 and first.orders == 70
    assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")
    assert dump(tmp_path / "a.db")["customers"] != dump(tmp_path / "c.db")["customers"]


def test_data_is_realistic_and_consistent(tmp_path: Path) -> None:
    stats = create_sample_erp(tmp_path / "erp.db", customers=50, contacts=120, orders=100)
    content = dump(tmp_path / "erp.db")
    columns = sample_metadata().tables["customers"].c.keys()
    customers = [dict(zip(columns, row, strict=True)) for row in content["customers"]]
    assert all(re.fullmatch(r"[A-Z]{2}", c["billing_country"]) for c in customers)
    assert all(c["email"].startswith("info@") and c["name"] for c in customers)
    assert len({c["website"] for c in customers}) == len(customers)
    assert {c["status"] for c in customers} <= {"active", "blocked", "inactive"}
    order_columns = sample_metadata().tables["sales_orders"].c.keys()
    orders = [dict(zip(order_columns, row, strict=True)) for row in content["sales_orders"]]
    invoiced = {o["id"] for o in orders if o["status"] in ("invoiced", "paid")}
    invoice_orders = [row[2] for row in content["invoices"]]
    assert sorted(invoice_orders) == sorted(invoiced) and stats.invoices == len(invoiced)
    lines_per_order: dict[object, int] = {}
    for line in content["sales_order_lines"]:
        lines_per_order[line[1]] = lines_per_order.get(line[1], 0) + 1
    assert set(lines_per_order) == {o["id"] for o in orders}
    assert set(lines_per_order.values()) <= {1, 2, 3, 4, 5}
    assert stats.order_lines == sum(lines_per_order.values())


def test_default_size_matches_the_issue(tmp_path: Path) -> None:
    stats = create_sample_erp(tmp_path / "erp.db")
    assert (stats.customers, stats.contacts, stats.orders) == (1000, 3000, 5000)
