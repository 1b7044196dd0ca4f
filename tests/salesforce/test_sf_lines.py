"""Opportunity lines against the sandbox: replaced in the fewest calls, failures per sale."""

from __future__ import annotations

from typing import Any

from connector.adapter import NativeWrite
from connector.model import Entity
from tests.salesforce.test_sf_against_sandbox import accounts


def sale(key: str, account_id: str, lines: list[dict[str, Any]], bound: str | None = None):
    fields: dict[str, Any] = {"lines": lines}
    if bound is None:
        fields |= {"Name": key, "StageName": "Prospecting", "CloseDate": "2026-12-31",
                   "AccountId": account_id}  # fmt: skip
    return NativeWrite(key, bound, fields)


def line(code: str, quantity: int, price: int = 10) -> dict[str, Any]:
    return {"ProductCode": code, "Quantity": quantity, "UnitPrice": price}


def calls(sandbox, since: int) -> list[tuple[str, str]]:
    return [(e["method"], e["path"].split("/v62.0")[-1]) for e in sandbox.log[since:]]


async def test_a_page_of_opportunities_replaces_its_lines_in_the_fewest_calls(
    make_adapter, sandbox
):
    for code in ("A", "B", "C"):
        sandbox.add_product(code, f"Product {code}", 10)
    adapter = await make_adapter()
    [account] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
    first = [
        sale(f"s{i}", account.external_id, [line("A", 1), line("B", 2), line("C", i + 1)])
        for i in range(200)
    ]
    mark = len(sandbox.log)
    created = await adapter.upsert(Entity.SALE, first)
    assert all(r.ok for r in created)
    made = calls(sandbox, mark)
    composite = [c for c in made if c == ("POST", "/composite")]
    # 600 new lines: three Collections creates in one Composite call.
    assert len(composite) == 1
    assert len(list(sandbox.org.live("OpportunityLineItem"))) == 600

    # Every sale's lines change: 600 deletes and 400 creates are five Collections subrequests,
    # one Composite call; the current lines of all 200 are one query.
    second = [
        sale(f"s{i}", account.external_id, [line("A", 5), line("C", 7)], bound=r.external_id)
        for i, r in enumerate(created)
    ]
    mark = len(sandbox.log)
    updated = await adapter.upsert(Entity.SALE, second)
    assert all(r.ok for r in updated)
    made = calls(sandbox, mark)
    line_queries = [c for c in made if c[1].startswith("/query")]
    assert made.count(("POST", "/composite")) == 1
    assert len(line_queries) == 1, made
    assert len(made) == 3, made  # the sales update, the line query, one Composite call
    live = list(sandbox.org.live("OpportunityLineItem"))
    assert len(live) == 400
    assert sorted(r["Quantity"] for r in live if r["ProductCode"] == "A") == [5] * 200

    # Four lines each: 400 deletes and 800 creates are six subrequests: two calls.
    third = [
        sale(f"s{i}", account.external_id,
             [line("A", 5), line("B", 1), line("C", 8), line("B", 2)], bound=r.external_id)
        for i, r in enumerate(created)
    ]  # fmt: skip
    mark = len(sandbox.log)
    assert all(r.ok for r in await adapter.upsert(Entity.SALE, third))
    assert calls(sandbox, mark).count(("POST", "/composite")) == 2
    assert len(list(sandbox.org.live("OpportunityLineItem"))) == 800


async def test_a_refused_line_fails_its_own_sale_and_its_neighbours_land(make_adapter, sandbox):
    from adapters.salesforce.sandbox.org import ValidationRule

    sandbox.add_product("A", "Product A", 10)
    sandbox.org.rules.append(
        ValidationRule("OpportunityLineItem", "Description", "^forbidden", "No forbidden lines")
    )
    adapter = await make_adapter()
    [account] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
    writes = [sale(f"s{i}", account.external_id, [line("A", 1)]) for i in range(3)]
    writes[1].fields["lines"][0]["Description"] = "forbidden words"
    ok, refused, also_ok = await adapter.upsert(Entity.SALE, writes)
    assert ok.ok and also_ok.ok
    assert refused.error is not None and refused.error.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "No forbidden lines" in str(refused.error)
    by_opportunity = {r["OpportunityId"] for r in sandbox.org.live("OpportunityLineItem")}
    assert by_opportunity == {ok.external_id, also_ok.external_id}
