"""The flat form the engine diffs and stores: `flatten` and its one-path shortcut `path_value`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from connector.model import Entity, flatten, path_value, record_type

CUSTOMER = record_type(Entity.CUSTOMER).model_validate(
    {
        "number": "C1",
        "name": "Acme",
        "credit_limit": Decimal("1000.50"),
        "billing_address": {"city": "Berlin", "country": "DE"},
        "custom": {"tier": "gold", "rank": 3},
        "updated_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
)


def test_flatten_normalises_decimals_and_nests_paths():
    flat = flatten(CUSTOMER)
    assert flat["credit_limit"] == "1000.5"
    assert flat["billing_address.city"] == "Berlin"
    assert flat["custom.tier"] == "gold"
    assert "updated_at" not in flat and "shipping_address.city" not in flat


def test_path_value_agrees_with_flatten_for_every_path_and_for_absent_ones():
    flat = flatten(CUSTOMER)
    for path, value in flat.items():
        assert path_value(CUSTOMER, path) == value, path
    for absent in ("phone", "shipping_address.city", "billing_address.street", "custom.none"):
        assert path_value(CUSTOMER, absent) is None
        assert flat.get(absent) is None


def test_every_kind_of_field_flattens_by_the_same_rule():
    customer = record_type(Entity.CUSTOMER).model_validate(
        {
            "name": "Acme",
            "status": "active",
            "billing_address": None,  # cleared: one path holding None
            "shipping_address": {},  # set, but none of its fields
            "history": {"last_order_date": dt.date(2026, 1, 2), "open_order_count": 0},
            "custom": {"tags": [Decimal("1.50"), "x"], "meta": {"b": 1, "a": None}},
            "key": "k1",
            "deleted": True,
        }
    )
    assert flatten(customer) == {
        "name": "Acme",
        "status": "active",
        "billing_address": None,
        "history.last_order_date": "2026-01-02",
        "history.open_order_count": 0,
        "custom.tags": ["1.5", "x"],
        "custom.meta": {"a": None, "b": 1},
    }
    sale = record_type(Entity.SALE).model_validate(
        {"amount": "10.00", "lines": [{"number": 1, "quantity": "2.0"}], "stage": "won"}
    )
    assert flatten(sale) == {
        "amount": "10",
        "lines": [{"number": 1, "quantity": "2"}],
        "stage": "won",
    }
