"""HubSpot's own terms for a written value (the convergence check's view of a portal)."""

from __future__ import annotations

import pytest

from adapters.hubspot.terms import computed_native, normalize_native
from connector.model import Entity


@pytest.mark.parametrize(
    ("entity", "field", "written", "stored"),
    [
        (Entity.SALE, "amount", "1250.50", "1250.5"),
        (Entity.SALE, "amount", "100.00", "100"),
        (Entity.SALE, "closedate", "1714521600000", "2024-05-01T00:00:00.000Z"),
        (Entity.SALE, "dealname", "  Big order ", "Big order"),
        (Entity.CONTACT, "email", " Pat.Lee@ACME.example", "pat.lee@acme.example"),
        (Entity.CUSTOMER, "domain", "ACME.example", "acme.example"),
        (Entity.CUSTOMER, "name", "ACME GmbH", "ACME GmbH"),
        (Entity.CUSTOMER, "erp_lifetime_revenue", "10.10", "10.1"),
        (Entity.CUSTOMER, "erp_last_order_date", "2024-05-01", "2024-05-01T00:00:00.000Z"),
        (Entity.CUSTOMER, "phone", "", None),
    ],
)
def test_values_are_stored_as_a_portal_shows_them(
    entity: Entity, field: str, written: str, stored: str | None
) -> None:
    assert normalize_native(entity, field, written, line=False) == stored


def test_line_item_numbers_and_the_computed_amount() -> None:
    assert normalize_native(Entity.SALE, "quantity", "3.000", line=True) == "3"
    assert computed_native(
        Entity.SALE, {"quantity": "4", "price": "25", "discount": "2.5"}, line=True
    ) == {"amount": "90"}
    # A percentage applies to the line total, rounded to cents (HubSpot's documented example).
    line = {"quantity": "10", "price": "234.56", "hs_discount_percentage": "20"}
    assert computed_native(Entity.SALE, line, line=True) == {"amount": "1876.48"}
    assert computed_native(Entity.SALE, {"quantity": "2"}, line=True) == {"amount": None}
    assert computed_native(Entity.SALE, {"amount": "5"}, line=False) == {}
