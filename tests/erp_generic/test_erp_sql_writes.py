"""SQL mode writes on SQLite, PostgreSQL and MariaDB: idempotent upserts, atomic sales with lines,
per-record failure isolation, rollback on a lost connection, soft deletes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.erp_generic.adapter import ErpGenericAdapter, SqlBackend
from adapters.erp_generic.sample import sample_metadata
from connector.adapter import NativeWrite
from connector.errors import TransientError
from connector.model import Entity
from tests.erp_generic.conftest import StepClock, build_adapter

TABLES = sample_metadata().tables


def engine_of(adapter: ErpGenericAdapter) -> sa.Engine:
    backend = adapter._backend
    assert isinstance(backend, SqlBackend)
    return backend.store.engine


def rows(adapter: ErpGenericAdapter, table: str, *where: Any) -> list[dict[str, Any]]:
    with engine_of(adapter).connect() as connection:
        result = connection.execute(sa.select(TABLES[table]).where(*where))
        return [dict(row._mapping) for row in result]


def new_customer(number: str, **extra: Any) -> dict[str, Any]:
    return {"customer_no": number, "name": f"Customer {number}", "status": "active", **extra}


def a_sale(customer_id: int, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "title": "Won in the CRM",
        "stage": "won",
        "status": "ordered",
        "currency": "EUR",
        "order_date": "2030-02-03",
        "lines": lines,
        **extra,
    }


async def test_same_write_twice_leaves_one_row(erp: ErpGenericAdapter) -> None:
    write = NativeWrite("key-1", None, new_customer("N-1", credit_limit="2500.50"))
    first = await erp.upsert(Entity.CUSTOMER, [write])
    second = await erp.upsert(Entity.CUSTOMER, [write])
    assert first[0].ok and first[0].created
    assert second[0].ok and not second[0].created
    assert first[0].external_id == second[0].external_id
    stored = rows(erp, "customers", TABLES["customers"].c.sync_key == "key-1")
    assert len(stored) == 1
    assert stored[0]["credit_limit"] == Decimal("2500.50")


async def test_update_by_external_id_moves_updated_at(erp: ErpGenericAdapter) -> None:
    before = rows(erp, "customers", TABLES["customers"].c.id == 4)[0]
    [result] = await erp.upsert(Entity.CUSTOMER, [NativeWrite("k4", "4", {"industry": "Mining"})])
    assert result.ok and result.external_id == "4" and not result.created
    after = rows(erp, "customers", TABLES["customers"].c.id == 4)[0]
    assert after["industry"] == "Mining"
    assert after["name"] == before["name"]
    assert after["sync_key"] == "k4"
    assert after["updated_at"] > before["updated_at"]
    # Our write is visible in the ERP's own change feed.
    assert result.updated_at is not None
    feed = [r async for page in erp.read_changes(Entity.CUSTOMER, result.updated_at)
            for r in page.records]  # fmt: skip
    assert [r.id for r in feed] == ["4"]


async def test_missing_row_is_a_record_error(erp: ErpGenericAdapter) -> None:
    [result] = await erp.upsert(Entity.CUSTOMER, [NativeWrite("k", "99999", {"name": "x"})])
    assert result.error is not None and result.error.code == "NOT_FOUND"


async def test_sale_with_lines_is_written_whole_and_lines_replaced(
    erp: ErpGenericAdapter,
) -> None:
    lines: list[dict[str, Any]] = [
        {"sku": "P-00001", "quantity": "2", "unit_price": "10.00", "line_total": "20.00"},
        {"sku": "P-00002", "quantity": 1, "unit_price": Decimal("5.5"), "line_total": "5.50"},
    ]
    [created] = await erp.upsert(Entity.SALE, [NativeWrite("sale-1", None, a_sale(1, lines))])
    assert created.ok and created.created
    order_id = int(created.external_id or "0")
    order = rows(erp, "sales_orders", TABLES["sales_orders"].c.id == order_id)[0]
    # The ERP numbered the order itself (its trigger), from the new id.
    assert order["order_no"] == f"SO-{order_id:06d}"
    assert order["order_date"] == dt.date(2030, 2, 3)
    stored = rows(erp, "sales_order_lines", TABLES["sales_order_lines"].c.order_id == order_id)
    assert sorted((line["line_no"], line["sku"]) for line in stored) == [
        (1, "P-00001"),
        (2, "P-00002"),
    ]
    replacement: list[dict[str, Any]] = [
        {"sku": "P-00003", "quantity": 4, "unit_price": "1", "line_total": "4"}
    ]
    [updated] = await erp.upsert(Entity.SALE, [NativeWrite("sale-1", None, a_sale(1, replacement))])
    assert updated.ok and not updated.created and updated.external_id == created.external_id
    stored = rows(erp, "sales_order_lines", TABLES["sales_order_lines"].c.order_id == order_id)
    assert [(line["line_no"], line["sku"]) for line in stored] == [(1, "P-00003")]
    [read_back] = await erp.read(Entity.SALE, [str(order_id)])
    assert [line["sku"] for line in read_back.fields["lines"]] == ["P-00003"]


async def test_a_bad_line_fails_its_sale_without_leaving_half_of_it(
    erp: ErpGenericAdapter,
) -> None:
    good = NativeWrite("good", None, a_sale(2, [{"sku": "A", "quantity": 1}]))
    # quantity is NOT NULL in the lines table: the sale row must not survive without lines.
    bad = NativeWrite("bad", None, a_sale(3, [{"sku": "B", "quantity": 1}, {"sku": "C"}]))
    results = {r.key: r for r in await erp.upsert(Entity.SALE, [good, bad])}
    assert results["good"].ok
    assert results["bad"].error is not None
    assert results["bad"].error.code == "CONSTRAINT_VIOLATION"
    assert rows(erp, "sales_orders", TABLES["sales_orders"].c.sync_key == "bad") == []
    assert len(rows(erp, "sales_orders", TABLES["sales_orders"].c.sync_key == "good")) == 1


async def test_refused_rows_fail_alone_and_neighbours_are_written(erp: ErpGenericAdapter) -> None:
    writes = [
        NativeWrite("ok-1", None, new_customer("OK-1")),
        NativeWrite("no-number", None, {"name": "No number"}),  # NOT NULL customer_no
        NativeWrite("ok-2", None, new_customer("OK-2")),
        NativeWrite("dup", None, new_customer("C100001")),  # UNIQUE customer_no taken
        NativeWrite("bad-date", None, new_customer("OK-3", last_order_date="31/12/2030")),
        NativeWrite("bad-col", None, new_customer("OK-4", colour="red")),
    ]
    results = {r.key: r for r in await erp.upsert(Entity.CUSTOMER, writes)}
    assert len(results) == len(writes)
    assert results["ok-1"].ok and results["ok-2"].ok
    refused = {key: results[key].error for key in ("no-number", "dup", "bad-date", "bad-col")}
    assert {key: error.code for key, error in refused.items() if error} == {
        "no-number": "CONSTRAINT_VIOLATION",
        "dup": "CONSTRAINT_VIOLATION",
        "bad-date": "INVALID_VALUE",
        "bad-col": "UNKNOWN_COLUMN",
    }
    assert "last_order_date" in str(refused["bad-date"])
    assert "colour" in str(refused["bad-col"])
    keys = TABLES["customers"].c.sync_key
    assert {r["sync_key"] for r in rows(erp, "customers", keys.is_not(None))} == {"ok-1", "ok-2"}


async def test_foreign_key_violation_fails_only_that_contact(erp: ErpGenericAdapter) -> None:
    writes = [
        NativeWrite("c-ok", None, {"customer_id": 1, "first_name": "Ada", "last_name": "L"}),
        NativeWrite(
            "c-orphan", None, {"customer_id": 424242, "first_name": "No", "last_name": "P"}
        ),
    ]
    results = {r.key: r for r in await erp.upsert(Entity.CONTACT, writes)}
    assert results["c-ok"].ok
    assert results["c-orphan"].error is not None
    assert results["c-orphan"].error.code == "CONSTRAINT_VIOLATION"


async def test_lost_connection_mid_batch_rolls_everything_back(erp: ErpGenericAdapter) -> None:
    engine = engine_of(erp)
    seen = {"inserts": 0}

    def drop_connection(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen["inserts"] += 1
            if seen["inserts"] == 3:
                # On a server, really kill our own session, as a restart or a network cut would.
                if engine.dialect.name == "postgresql":
                    with sa.create_engine(engine.url).connect() as killer:
                        pid = connection.connection.dbapi_connection.info.backend_pid
                        killer.execute(sa.select(sa.func.pg_terminate_backend(pid)))
                elif engine.dialect.name in ("mysql", "mariadb"):
                    killer_engine = sa.create_engine(engine.url)
                    with killer_engine.connect() as killer:
                        thread = connection.connection.dbapi_connection.thread_id()
                        killer.exec_driver_sql(f"KILL CONNECTION {int(thread)}")
                    killer_engine.dispose()
                else:
                    raise sa.exc.OperationalError(statement, {}, Exception("connection lost"))

    event.listen(engine, "before_cursor_execute", drop_connection)
    writes = [NativeWrite(f"lost-{i}", None, new_customer(f"L-{i}")) for i in range(5)]
    try:
        with pytest.raises(TransientError) as raised:
            await erp.upsert(Entity.CUSTOMER, writes)
    finally:
        event.remove(engine, "before_cursor_execute", drop_connection)
    assert "L-" not in str(raised.value)  # no row data in the message
    assert rows(erp, "customers", TABLES["customers"].c.sync_key.like("lost-%")) == []
    # The engine retries the batch: it then goes through whole.
    results = await erp.upsert(Entity.CUSTOMER, writes)
    assert all(r.ok for r in results)
    assert len(rows(erp, "customers", TABLES["customers"].c.sync_key.like("lost-%"))) == 5


async def test_soft_delete_marks_the_row_and_feeds_the_deletion(erp: ErpGenericAdapter) -> None:
    [result] = await erp.delete(Entity.CONTACT, ["7"])
    assert result.ok and result.updated_at is not None
    stored = rows(erp, "contacts", TABLES["contacts"].c.id == 7)[0]
    assert stored["deleted_at"] is not None
    feed = [r async for page in erp.read_changes(Entity.CONTACT, result.updated_at)
            for r in page.records]  # fmt: skip
    assert [(r.id, r.deleted) for r in feed] == [("7", True)]
    assert (await erp.delete(Entity.CONTACT, ["not-an-id"]))[0].ok


async def test_portable_fallback_without_on_conflict(sample_url: str, tmp_path: Path) -> None:
    adapter = build_adapter(sample_url, tmp_path, clock=StepClock())
    await adapter.open()
    try:
        backend = adapter._backend
        assert isinstance(backend, SqlBackend)
        # Behave like MySQL / SQL Server (MariaDB really is).
        backend.store.writer._on_conflict = None
        write = NativeWrite("fallback", None, new_customer("F-1"))
        first = await adapter.upsert(Entity.CUSTOMER, [write])
        second = await adapter.upsert(Entity.CUSTOMER, [write])
        assert first[0].created and not second[0].created
        assert first[0].external_id == second[0].external_id
        assert len(rows(adapter, "customers", TABLES["customers"].c.sync_key == "fallback")) == 1
    finally:
        await adapter.close()


async def test_a_won_sale_without_status_becomes_an_order(erp: ErpGenericAdapter) -> None:
    sale = a_sale(5, [{"sku": "W", "quantity": 1}], status="none", order_date=None)
    [result] = await erp.upsert(Entity.SALE, [NativeWrite("won-none", None, sale)])
    assert result.ok
    order = rows(erp, "sales_orders", TABLES["sales_orders"].c.sync_key == "won-none")[0]
    assert order["status"] == "ordered"
    assert order["order_date"] is not None
    assert order["order_no"].startswith("SO-")
    open_sale = a_sale(5, [], stage="open", status="none")
    [kept] = await erp.upsert(Entity.SALE, [NativeWrite("open-none", None, open_sale)])
    assert kept.ok
    stored = rows(erp, "sales_orders", TABLES["sales_orders"].c.sync_key == "open-none")[0]
    assert stored["status"] == "none"


async def test_a_write_of_what_the_row_holds_leaves_it_untouched(erp: ErpGenericAdapter) -> None:
    """Compared in the ERP's own terms (10.5 is 10.50 in a money column): no UPDATE, so the
    ERP's change column does not move and the row never re-enters anyone's change feed."""
    before = rows(erp, "customers", TABLES["customers"].c.id == 4)[0]
    same = {"name": before["name"], "credit_limit": str(before["credit_limit"]) + "0"}
    [result] = await erp.upsert(Entity.CUSTOMER, [NativeWrite("k4", "4", same)])
    assert result.ok and not result.created
    assert rows(erp, "customers", TABLES["customers"].c.id == 4)[0] == before


async def test_lines_are_matched_by_line_number_and_keep_their_ids(erp: ErpGenericAdapter) -> None:
    lines: list[dict[str, Any]] = [
        {"line_no": 1, "sku": "P-00001", "quantity": "2", "unit_price": "10", "line_total": "20"},
        {"line_no": 2, "sku": "P-00002", "quantity": "1", "unit_price": "5", "line_total": "5"},
        {"line_no": 3, "sku": "P-00003", "quantity": "1", "unit_price": "1", "line_total": "1"},
    ]
    [created] = await erp.upsert(Entity.SALE, [NativeWrite("s-1", None, a_sale(1, lines))])
    order_id = int(created.external_id or "0")
    table = TABLES["sales_order_lines"]
    ids = {
        r["line_no"]: r["id"] for r in rows(erp, "sales_order_lines", table.c.order_id == order_id)
    }
    order_before = rows(erp, "sales_orders", TABLES["sales_orders"].c.id == order_id)[0]

    # Line 2 edited (without the line total, which the other side computes), line 3 gone, a
    # new line without a number (created in the CRM): line 1 is not touched at all.
    wanted = [
        {"line_no": 1, "sku": "P-00001", "quantity": "2.000", "unit_price": "10.00"},
        {"line_no": 2, "sku": "P-00002", "quantity": "7"},
        {"sku": "P-00009", "quantity": "1"},
    ]
    [updated] = await erp.upsert(
        Entity.SALE, [NativeWrite("s-1", str(order_id), {"lines": wanted})]
    )
    assert updated.ok
    after = {r["line_no"]: r for r in rows(erp, "sales_order_lines", table.c.order_id == order_id)}
    assert sorted(after) == [1, 2, 4], "the new line is numbered after the last"
    assert after[1]["id"] == ids[1] and after[2]["id"] == ids[2]
    assert after[2]["quantity"] == Decimal(7) and after[2]["line_total"] == Decimal(5)
    assert after[4]["sku"] == "P-00009"
    order_after = rows(erp, "sales_orders", TABLES["sales_orders"].c.id == order_id)[0]
    assert order_after["updated_at"] != order_before["updated_at"], "its lines really changed"

    # The same lines again: nothing changes, not even the order's change time.
    again = [{k: v for k, v in line.items()} for line in wanted[:2]] + [
        {"line_no": 4, "sku": "P-00009", "quantity": "1"}
    ]
    await erp.upsert(Entity.SALE, [NativeWrite("s-1", str(order_id), {"lines": again})])
    assert rows(erp, "sales_orders", TABLES["sales_orders"].c.id == order_id)[0] == order_after
    assert {
        r["line_no"]: r for r in rows(erp, "sales_order_lines", table.c.order_id == order_id)
    } == after
