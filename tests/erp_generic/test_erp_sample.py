"""The sample ERP: deterministic, realistic, consistent."""

from __future__ import annotations

import hashlib
import re
import tracemalloc
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


# sha256 of `repr(dump(...))` of ERPs built by the generator before it streamed (whole tables
# in memory, then inserted): the chunked generator must write exactly the same rows.
BEFORE_STREAMING = {
    (40, 90, 70, 200): "5aa8e30ef5bbe17e1d41db51cdf988ffbc6649068335147c515bac6c1f80a44c",
    (50, 20, 30, 3): "c1149c05f4fd8e02f96f44e4bef6941005b5daa73454fc49af089e82a8a73a56",
    (2500, 0, 0, 200): "21530422d659ea59005c7b023b87eb9b2a27eed11c48ae107786d921ce21971e",
}


def test_chunks_write_what_the_whole_table_generator_wrote(tmp_path: Path) -> None:
    for (customers, contacts, orders, products), checksum in BEFORE_STREAMING.items():
        sizes = {"customers": customers, "contacts": contacts, "orders": orders}
        for chunk in (7, 10_000):  # chunks that split every table, and one chunk a table
            path = tmp_path / f"{customers}-{chunk}.db"
            create_sample_erp(path, products=products, chunk=chunk, **sizes)
            content = repr(dump(path)).encode()
            assert hashlib.sha256(content).hexdigest() == checksum, (sizes, chunk)


def test_memory_does_not_grow_with_the_customers(tmp_path: Path) -> None:
    def peak(customers: int) -> int:
        path = tmp_path / f"{customers}.db"
        tracemalloc.start(1)
        try:
            contacts = customers * 3 // 2
            create_sample_erp(path, customers=customers, contacts=contacts, orders=0, chunk=250)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(100)  # the imports and SQLAlchemy's caches, not counted below
    small, large = peak(1_000), peak(10_000)
    # Ten times the rows in the same memory (1.03 x; whole tables in memory took ~7 x): what
    # grows is a few bytes a customer.
    assert large < 1.2 * small, (small, large)
