"""A write batch of sales reads their stored lines in one query (line_sync.read_lines), and
writes exactly what reading each sale's lines alone wrote: every sale gets its own lines (none
mixed with another sale's, none missed, line ids kept), a sale twice in a batch sees its own
first write, and a batch larger than one `IN (...)` is read in chunks. On SQLite, PostgreSQL
and MariaDB."""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic import line_sync
from adapters.erp_generic.adapter import ErpGenericAdapter
from connector.adapter import NativeWrite
from connector.model import Entity
from tests.erp_generic.test_erp_sql_writes import TABLES, a_sale, engine_of, rows
from tests.erp_generic.test_erp_write_batch import selects_of

ORDERS = TABLES["sales_orders"]
LINES = TABLES["sales_order_lines"]


def line_selects(adapter: ErpGenericAdapter) -> AbstractContextManager[list[str]]:
    """The SELECTs the adapter sends to the lines table while the block runs."""
    return selects_of(adapter, "sales_order_lines")


def stored(adapter: ErpGenericAdapter, order_id: int) -> list[dict[str, Any]]:
    """A sale's stored lines in line order."""
    found = rows(adapter, "sales_order_lines", LINES.c.order_id == order_id)
    return sorted(found, key=lambda line: (line["line_no"], line["id"]))


def sale_ids(adapter: ErpGenericAdapter, count: int) -> list[int]:
    """The first `count` sales that have at least two stored lines."""
    ids = sorted({line["order_id"] for line in rows(adapter, "sales_order_lines")})
    with_two = [i for i in ids if len(stored(adapter, i)) >= 2]
    assert len(with_two) >= count, "the sample has too few sales with lines"
    return with_two[:count]


def own_lines(order_id: int, stored_lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wanted lines unique to this sale: its stored line numbers with a quantity and sku that
    name the sale, so a line written to the wrong sale, or a sale given another's, shows."""
    return [
        {
            "line_no": line["line_no"],
            "sku": f"S{order_id}-{line['line_no']}",
            "quantity": str(order_id * 10 + line["line_no"]),
        }
        for line in stored_lines
    ]


async def test_a_batch_of_sales_reads_their_lines_in_one_query_and_keeps_them_apart(
    erp: ErpGenericAdapter,
) -> None:
    ids = sale_ids(erp, 8)
    before = {i: stored(erp, i) for i in ids}
    writes = [NativeWrite(f"s{i}", str(i), {"lines": own_lines(i, before[i])}) for i in ids]
    with line_selects(erp) as selects:
        results = await erp.upsert(Entity.SALE, writes)
    assert [r.ok for r in results] == [True] * len(ids)
    assert len(selects) == 1 and " in " in selects[0], selects
    for i in ids:
        after = stored(erp, i)
        # Each sale's own lines, in place: same rows (ids), its own values, nothing added.
        assert [line["id"] for line in after] == [line["id"] for line in before[i]]
        assert [(line["sku"], line["quantity"]) for line in after] == [
            (f"S{i}-{line['line_no']}", Decimal(i * 10 + line["line_no"])) for line in before[i]
        ]
        # What the write did not bring is the ERP's and stays (line totals included).
        assert [line["line_total"] for line in after] == [line["line_total"] for line in before[i]]


async def test_no_sale_of_the_batch_misses_its_lines(erp: ErpGenericAdapter) -> None:
    """Sales that keep their lines as they are: a sale whose stored lines the batched read
    missed would see none, insert its lines again and change; none may change at all."""
    ids = sale_ids(erp, 6)
    before = {i: stored(erp, i) for i in ids}
    orders_before = {i: rows(erp, "sales_orders", ORDERS.c.id == i)[0] for i in ids}
    same = {
        i: [
            {k: line[k] for k in ("line_no", "sku", "quantity", "unit_price", "line_total")}
            for line in before[i]
        ]
        for i in ids
    }
    writes = [NativeWrite(f"s{i}", str(i), {"lines": same[i]}) for i in ids]
    results = await erp.upsert(Entity.SALE, writes)
    assert all(r.ok for r in results)
    for i in ids:
        assert stored(erp, i) == before[i]
        assert rows(erp, "sales_orders", ORDERS.c.id == i)[0] == orders_before[i]


async def test_sales_found_by_sync_key_get_their_own_lines(erp: ErpGenericAdapter) -> None:
    lines: dict[str, list[dict[str, Any]]] = {
        key: [
            {"sku": f"{key}-A", "quantity": "1", "unit_price": "2", "line_total": "2"},
            {"sku": f"{key}-B", "quantity": "3", "unit_price": "4", "line_total": "12"},
        ]
        for key in ("one", "two", "three")
    }
    created = await erp.upsert(
        Entity.SALE, [NativeWrite(key, None, a_sale(1, wanted)) for key, wanted in lines.items()]
    )
    assert all(r.ok and r.created for r in created)
    order_of = {r.key: int(r.external_id or "0") for r in created}
    ids_before = {key: [line["id"] for line in stored(erp, order_of[key])] for key in lines}
    # Unbound again (found by sync key, read ahead): the second line of each changes.
    changed = {
        key: [wanted[0], {**wanted[1], "sku": f"{key}-B2", "quantity": "5"}]
        for key, wanted in lines.items()
    }
    with line_selects(erp) as selects:
        again = await erp.upsert(
            Entity.SALE,
            [NativeWrite(key, None, a_sale(1, wanted)) for key, wanted in changed.items()],
        )
    assert [(r.external_id, r.created) for r in again] == [
        (str(order_of[key]), False) for key in lines
    ]
    assert len(selects) == 1, selects
    for key in lines:
        after = stored(erp, order_of[key])
        assert [line["id"] for line in after] == ids_before[key]
        assert [(line["sku"], line["quantity"]) for line in after] == [
            (f"{key}-A", Decimal(1)),
            (f"{key}-B2", Decimal(5)),
        ]
        assert [line["line_total"] for line in after] == [Decimal(2), Decimal(12)]


async def test_a_sale_twice_in_a_batch_sees_its_first_write(erp: ErpGenericAdapter) -> None:
    """The second write brings back the lines the sale had before the first: they must be
    written back (lines read ahead of both would say they are already there), and a write
    without lines between them uses up the read-ahead too."""
    [first_id, other_id] = sale_ids(erp, 2)
    before = stored(erp, first_id)
    original = [{"line_no": line["line_no"], "sku": line["sku"]} for line in before]
    edited = [{**line, "sku": f"EDIT-{line['line_no']}"} for line in original]
    writes = [
        NativeWrite("a", str(first_id), {"lines": edited}),
        NativeWrite("a", str(first_id), {"lines": original}),
        NativeWrite("b", str(other_id), {"title": "Header only"}),
        NativeWrite("b", str(other_id), {"lines": own_lines(other_id, stored(erp, other_id))}),
    ]
    results = await erp.upsert(Entity.SALE, writes)
    assert all(r.ok for r in results)
    after = stored(erp, first_id)
    assert [(line["id"], line["sku"]) for line in after] == [
        (line["id"], line["sku"]) for line in before
    ]
    assert [line["sku"] for line in stored(erp, other_id)][:1] == [f"S{other_id}-1"]


async def test_a_batch_larger_than_one_in_list_is_read_in_chunks(
    erp: ErpGenericAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(line_sync, "CHUNK", 3)
    ids = sale_ids(erp, 8)
    before = {i: stored(erp, i) for i in ids}
    writes = [NativeWrite(f"s{i}", str(i), {"lines": own_lines(i, before[i])}) for i in ids]
    with line_selects(erp) as selects:
        results = await erp.upsert(Entity.SALE, writes)
    assert all(r.ok for r in results)
    assert len(selects) == 3, selects  # 8 sales, 3 to a query
    for i in ids:
        after = stored(erp, i)
        assert [line["id"] for line in after] == [line["id"] for line in before[i]]
        assert {line["sku"] for line in after} == {f"S{i}-{n['line_no']}" for n in before[i]}


async def test_a_sale_without_stored_lines_gets_new_ones_once(erp: ErpGenericAdapter) -> None:
    """A sale of the batch with no line yet (read ahead as none) gets its lines inserted, once,
    beside sales that have lines."""
    [with_lines] = sale_ids(erp, 1)
    with engine_of(erp).begin() as connection:
        empty = connection.execute(
            sa.select(ORDERS.c.id)
            .where(~ORDERS.c.id.in_(sa.select(LINES.c.order_id)))
            .order_by(ORDERS.c.id)
            .limit(1)
        ).scalar_one_or_none()
    if empty is None:  # every sample sale has lines: empty one
        [empty] = sale_ids(erp, 2)[1:]
        with engine_of(erp).begin() as connection:
            connection.execute(sa.delete(LINES).where(LINES.c.order_id == empty))
    new = [{"sku": "NEW-1", "quantity": "1"}, {"sku": "NEW-2", "quantity": "2"}]
    writes = [
        NativeWrite("e", str(empty), {"lines": new}),
        NativeWrite(
            "w", str(with_lines), {"lines": own_lines(with_lines, stored(erp, with_lines))}
        ),
    ]
    assert all(r.ok for r in await erp.upsert(Entity.SALE, writes))
    assert [(line["line_no"], line["sku"]) for line in stored(erp, empty)] == [
        (1, "NEW-1"),
        (2, "NEW-2"),
    ]
    assert all(line["sku"].startswith(f"S{with_lines}-") for line in stored(erp, with_lines))
