"""The generated `flatten` writes a `Decimal`'s text inline: it must give what the general rule
(`_jsonable`, the one `path_value` and custom fields use) gives, at the top level and inside a
value object, for every form a decimal can take."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.model import Entity, _jsonable, flatten, record_type

AMOUNTS = ["0", "-0.00", "10.00", "1000.50", "1E+3", "0.000001", "-12.3400", "123456789012.99"]


@pytest.mark.parametrize("amount", AMOUNTS)
def test_a_decimal_flattens_to_the_general_rules_text(amount: str):
    value = Decimal(amount)
    customer = record_type(Entity.CUSTOMER).model_validate(
        {
            "name": "Acme",
            "credit_limit": value,
            "history": {"lifetime_revenue": value, "open_order_count": 1},
        }
    )
    flat = flatten(customer)
    assert flat["credit_limit"] == _jsonable(value) == format(value.normalize(), "f")
    assert flat["history.lifetime_revenue"] == _jsonable(value)
    assert flat["history.open_order_count"] == 1


def test_a_decimal_subclass_still_takes_the_general_rule():
    class Amount(Decimal):
        pass

    customer = record_type(Entity.CUSTOMER).model_construct(
        name="Acme", credit_limit=Amount("2.50")
    )
    assert flatten(customer)["credit_limit"] == "2.5"
