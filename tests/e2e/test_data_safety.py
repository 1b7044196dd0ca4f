"""Never harm the data: the push → no-op → CRM edits → reverse → forward sequence, end to end.

The real CLI against the HubSpot sandbox over loopback, with the sandbox's owners set (through
its admin API) so that they do NOT match the sample ERP's: Alice is there, Bob and Carol are not,
and two reps the ERP has never heard of are. The whole ERP database is dumped before and after
each step and compared row by row, so a single value the product touched without cause fails
the test. Comparisons with the CRM are made in HubSpot's own terms (numbers by value, e-mails
case-blind), so they hold with the sandbox's value normalisation on or off.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.sandbox import create_app
from tests.e2e.conftest import World, counts, serve, write_config
from tests.e2e.test_erp_hubspot import objects, write_calls

Dump = dict[str, dict[Any, tuple[Any, ...]]]

#: The portal's reps: only Alice is also in the sample ERP (whose reps are Alice, Bob, Carol).
PORTAL_OWNERS = [
    {"id": "72000001", "email": "alice@example.com", "first_name": "Alice"},
    {"id": "72000002", "email": "zoe@example.net", "first_name": "Zoe"},
    {"id": "72000003", "email": "yuri@example.net", "first_name": "Yuri"},
]


def dump(database: Path) -> Dump:
    """Every row of every table, by rowid, exactly as stored."""
    with sqlite3.connect(database) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: {row[0]: row[1:] for row in db.execute(f'SELECT rowid, * FROM "{table}"')}
            for table in tables
        }


def columns(database: Path, table: str) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]


def changes(database: Path, before: Dump, after: Dump) -> dict[tuple[str, Any], set[str]]:
    """(table, rowid) → the columns whose stored value differs; rows added or gone too."""
    found: dict[tuple[str, Any], set[str]] = {}
    for table in before.keys() | after.keys():
        names = columns(database, table)
        old, new = before.get(table, {}), after.get(table, {})
        for rowid in old.keys() | new.keys():
            if rowid not in old or rowid not in new:
                found[(table, rowid)] = {"<added>" if rowid in new else "<deleted>"}
            elif old[rowid] != new[rowid]:
                found[(table, rowid)] = {
                    name for name, a, b in zip(names, old[rowid], new[rowid], strict=True) if a != b
                }
    return found


def sandbox_call(world: World, method: str, path: str, **kwargs: Any) -> Any:
    with world.sandbox.client() as client:
        response = client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def ui_edit(world: World, object_type: str, object_id: str, **properties: str) -> None:
    sandbox_call(
        world, "PATCH", f"/_sandbox/ui/{object_type}/{object_id}", json={"properties": properties}
    )


def by_property(world: World, object_type: str, name: str) -> dict[str, dict[str, Any]]:
    return {str(o["properties"].get(name)): o for o in objects(world, object_type)}


def deal_line_items(world: World, deal_id: str) -> dict[int, dict[str, Any]]:
    """A deal's live line items by their ERP line number."""
    body = sandbox_call(
        world,
        "POST",
        "/crm/v4/associations/deals/line_items/batch/read",
        json={"inputs": [{"id": deal_id}]},
    )
    ids = {str(t["toObjectId"]) for r in body["results"] for t in r["to"]}
    items = [item for item in objects(world, "line_items") if str(item["id"]) in ids]
    return {int(Decimal(str(i["properties"]["erp_line_no"]))): i for i in items}


def line_item_writes(world: World) -> list[dict[str, Any]]:
    log = sandbox_call(world, "GET", "/_sandbox/requests")["results"]
    return [
        e
        for e in log
        if e["path"].startswith("/crm/v3/objects/line_items/batch/")
        and not e["path"].endswith("/read")
    ]


def erp_one(world: World, sql: str, *params: Any) -> Any:
    with sqlite3.connect(world.erp_db) as db:
        return db.execute(sql, params).fetchone()


def test_a_crm_the_product_did_not_write_changes_exactly_the_edited_records(world: World):
    sandbox_call(world, "PATCH", "/_sandbox/switches", json={"owners": PORTAL_OWNERS})
    db = world.erp_db

    # `connector check` names the ERP's reps the portal lacks, before any sync meets them.
    out = " ".join(world.connector("check").split())
    assert "customer owner value(s) in erp that crm does not know" in out, out
    assert "bob@example.com, carol@example.com" in out and "alice@" not in out

    # 1. Push ERP → CRM. Bob and Carol are unknown to the portal: their companies are created
    # without an owner, the rest of each company arrives.
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "customer")[5] == 0, out
    assert counts(out, "erp-to-crm", "sale")[5] == 0, out
    companies = by_property(world, "companies", "erp_customer_no")
    alice_id, alice_no = erp_one(
        world, "SELECT id, customer_no FROM customers WHERE crm_owner = 'alice@example.com'"
    )
    bob_id, bob_no = erp_one(
        world, "SELECT id, customer_no FROM customers WHERE crm_owner = 'bob@example.com'"
    )
    assert companies[alice_no]["properties"]["hubspot_owner_id"] == "72000001"
    assert not companies[bob_no]["properties"].get("hubspot_owner_id")
    pushed = dump(db)

    # 2. No-op rerun: nothing to write anywhere.
    calls = write_calls(world)
    out = world.connector("sync", "erp-to-crm")
    for entity in ("customer", "contact", "sale"):
        assert counts(out, "erp-to-crm", entity)[:2] == [0, 0], out
    assert write_calls(world) == calls

    # 3. The reverse sync after an unchanged push writes nothing into the ERP.
    out = world.connector("sync", "crm-to-erp")
    erp_writes = sum(sum(counts(out, "crm-to-erp", e)[:2]) for e in ("customer", "contact", "sale"))
    print(f"reverse sync after an unchanged push: {erp_writes} ERP writes")
    assert erp_writes == 0, out
    assert changes(db, pushed, dump(db)) == {}

    # 4. Five edits in the CRM, and Alice is deactivated there.
    contact_id, contact_email = erp_one(world, "SELECT id, email FROM contacts ORDER BY id")
    order_a_id, order_a_no = erp_one(world, "SELECT id, order_no FROM sales_orders ORDER BY id")
    order_b_id, order_b_no = erp_one(
        world,
        "SELECT o.id, o.order_no FROM sales_orders o WHERE o.id != ? AND "
        "(SELECT COUNT(*) FROM sales_order_lines l WHERE l.order_id = o.id) >= 2 ORDER BY o.id",
        order_a_id,
    )
    line_id, old_quantity, old_rebate = erp_one(
        world,
        "SELECT id, quantity, discount FROM sales_order_lines WHERE order_id = ? AND line_no = 2",
        order_b_id,
    )
    contacts = {str(c["properties"]["email"]).casefold(): c for c in objects(world, "contacts")}
    deals = by_property(world, "deals", "erp_order_no")
    ui_edit(world, "companies", companies[alice_no]["id"], name="Renamed in the CRM")
    ui_edit(world, "companies", companies[bob_no]["id"], phone="+49 30 1234567")
    ui_edit(world, "contacts", contacts[contact_email.casefold()]["id"], jobtitle="Head of Tests")
    ui_edit(world, "deals", deals[order_a_no]["id"], dealname="Renamed deal")
    items_b = deal_line_items(world, deals[order_b_no]["id"])
    new_quantity = Decimal(str(old_quantity)) + 3
    ui_edit(world, "line_items", items_b[2]["id"], quantity=str(new_quantity))
    sandbox_call(world, "DELETE", "/_sandbox/owners/72000001")

    # 5. Reverse sync: exactly the edited records change in the ERP, nothing else.
    out = world.connector("sync", "crm-to-erp")
    for entity in ("customer", "contact", "sale"):
        assert counts(out, "crm-to-erp", entity)[5] == 0, out
    reversed_ = dump(db)
    changed = changes(db, pushed, reversed_)
    stamp = {"updated_at", "sync_key"}
    assert changed.keys() == {
        ("customers", alice_id),
        ("customers", bob_id),
        ("contacts", contact_id),
        ("sales_orders", order_a_id),
        ("sales_orders", order_b_id),
        ("sales_order_lines", line_id),
    }, changed
    assert changed[("customers", alice_id)] - stamp == {"name"}
    assert changed[("customers", bob_id)] - stamp == {"phone"}
    assert changed[("contacts", contact_id)] - stamp == {"job_title"}
    assert changed[("sales_orders", order_a_id)] - stamp == {"title"}
    assert changed[("sales_orders", order_b_id)] - stamp == set(), "only its line changed"
    # One line: its quantity, and with it the line's rebate (HubSpot's discount is per unit, so
    # more units at the same unit discount are a larger rebate). The CRM's computed amount never
    # reaches the ERP's line total.
    assert changed[("sales_order_lines", line_id)] - {"discount"} == {"quantity"}
    quantity, rebate = erp_one(
        world, "SELECT quantity, discount FROM sales_order_lines WHERE id = ?", line_id
    )
    assert Decimal(str(quantity)) == new_quantity
    unit = Decimal(str(old_rebate or 0)) / Decimal(str(old_quantity))
    assert abs(Decimal(str(rebate or 0)) - unit * new_quantity) <= Decimal("0.01")
    # Alice, deactivated in the CRM, and Bob, whom the CRM never knew, are still the owners.
    assert erp_one(world, "SELECT name, crm_owner FROM customers WHERE id = ?", alice_id) == (
        "Renamed in the CRM",
        "alice@example.com",
    )
    assert erp_one(world, "SELECT crm_owner FROM customers WHERE id = ?", bob_id) == (
        "bob@example.com",
    )

    # 6. Forward sync: the echo of the reverse writes costs no CRM write and no ERP change.
    calls = write_calls(world)
    out = world.connector("sync", "erp-to-crm")
    for entity in ("customer", "contact", "sale"):
        assert counts(out, "erp-to-crm", entity)[:2] == [0, 0], out
    assert write_calls(world) == calls
    assert changes(db, reversed_, dump(db)) == {}

    # 7. A line-only edit in the ERP updates exactly one line item in the CRM; ids survive.
    before_items = deal_line_items(world, deals[order_b_no]["id"])
    with sqlite3.connect(db) as erp:
        erp.execute(
            "UPDATE sales_order_lines SET description = 'Edited in the ERP' "
            "WHERE order_id = ? AND line_no = 1",
            (order_b_id,),
        )
        erp.execute(
            "UPDATE sales_orders SET updated_at = ? WHERE id = ?",
            ("2099-01-01 00:00:00", order_b_id),
        )
    sandbox_call(world, "DELETE", "/_sandbox/requests")
    out = world.connector("sync", "erp-to-crm")
    assert counts(out, "erp-to-crm", "sale")[:2] == [0, 1], out
    writes = line_item_writes(world)
    assert [w["path"].rsplit("/", 1)[1] for w in writes] == ["update"], writes
    after_items = deal_line_items(world, deals[order_b_no]["id"])
    assert {n: i["id"] for n, i in after_items.items()} == {
        n: i["id"] for n, i in before_items.items()
    }
    assert after_items[1]["properties"]["name"] == "Edited in the ERP"
    assert [n for n in after_items if after_items[n] != before_items[n]] == [1]


def refuse_owners(app: Any) -> Any:
    """The sandbox as a token without `crm.objects.owners.read` sees it: the Owners API
    answers 403 MISSING_SCOPES, everything else works."""

    async def layer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and "/owners" in scope["path"]
            and "_sandbox" not in scope["path"]
        ):
            body = json.dumps(
                {"status": "error", "category": "MISSING_SCOPES", "message": "missing scopes"}
            ).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return layer


@pytest.fixture
def scopeless_world(tmp_path: Path) -> Iterator[World]:
    for sandbox in serve(refuse_owners(create_app())):
        create_sample_erp(tmp_path / "erp.db", customers=30, contacts=60, orders=40, products=20)
        world = World(tmp_path, write_config(tmp_path, sandbox.url), sandbox)
        world.connector("hubspot", "setup")
        yield world


def test_an_unreadable_owners_list_holds_the_owner_back_and_syncs_everything_else(
    scopeless_world: World, caplog: pytest.LogCaptureFixture
):
    # The token lacks the owners scope: the route still syncs every record, the owner field
    # waits, and one warning says why.
    world = scopeless_world
    with caplog.at_level(logging.WARNING, logger="adapters.hubspot.owners"):
        out = world.connector("sync", "erp-to-crm")
    for entity, total in (("customer", 30), ("contact", 60), ("sale", 40)):
        assert counts(out, "erp-to-crm", entity)[0] == total, out
        assert counts(out, "erp-to-crm", entity)[5] == 0, out
    warnings = [r for r in caplog.records if "owners could not be listed" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert not any(c["properties"].get("hubspot_owner_id") for c in objects(world, "companies"))

    # The reverse sync reads companies whose owner it cannot translate: the ERP keeps every rep.
    before = dump(world.erp_db)
    company = objects(world, "companies")[0]
    ui_edit(world, "companies", company["id"], name="Edited while owners are unreadable")
    world.connector("sync", "crm-to-erp")
    changed = changes(world.erp_db, before, dump(world.erp_db))
    assert len(changed) == 1 and next(iter(changed.values())) - {"updated_at", "sync_key"} == {
        "name"
    }
