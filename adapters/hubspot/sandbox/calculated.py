"""The line-item properties HubSpot computes itself: pre-discount amount, total discount, amount.

HubSpot's definitions, as its documentation and integrators describe them:

* `discount` is the **unit** discount, a currency amount taken off each unit ("Unit discount
  amount … e.g. 10 = $10 off per unit",
  https://www.nbh.co/hubspot-hacks/how-to-calculate-discounted-unit-price-on-line-items; the
  property list labels it "Unit discount", https://knowledge.hubspot.com/properties/hubspots-default-line-item-properties;
  "A discount that applies to an individual line item",
  https://knowledge.hubspot.com/payments/understand-payment-discounts);
* `hs_discount_percentage` is a percentage (10 = 10 %) applied to the line's total, not to the
  unit price: 10 * 234.56 less 20 % is 2,345.60 - 469.12 = 1,876.48
  (https://help.hubdo.com/how-does-hubspot-calculate-and-round-line-item-net-price-when-discounted-by-percentage);
  the discount is rounded to the currency's precision ("$1.785 will be rounded to $1.79",
  understand-payment-discounts above);
* `hs_pre_discount_amount` = quantity * price, `hs_total_discount` the discount in money, and
  `amount` ("Net price") = pre-discount amount - total discount. All three are calculated: a
  write to them is refused (`READ_ONLY_VALUE`), as integrators report ("CALCULATED by HubSpot
  … writing them is both rejected and pointless").

Unverified, so a guess no client should rely on: a line with both a unit discount and a
percentage uses the percentage (HubSpot's editor offers one or the other); cents are rounded
half-up; a line without a quantity counts one unit; a line without a price has no computed
values.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .values import plain_number

LINE_ITEMS = "line_items"
#: The computed line-item properties (read-only in the property registry).
CALCULATED: dict[str, frozenset[str]] = {
    LINE_ITEMS: frozenset({"amount", "hs_pre_discount_amount", "hs_total_discount"}),
}
CENT = Decimal("0.01")


def _number(values: MutableMapping[str, str], name: str) -> Decimal | None:
    raw = values.get(name)
    if not raw:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def line_amounts(
    quantity: Decimal, price: Decimal, unit_discount: Decimal | None, percentage: Decimal | None
) -> tuple[Decimal, Decimal, Decimal]:
    """(pre-discount amount, total discount, net amount) of one line item."""
    gross = quantity * price
    if percentage is not None:
        total_discount = (gross * percentage / 100).quantize(CENT, ROUND_HALF_UP)
    elif unit_discount is not None:
        total_discount = quantity * unit_discount
    else:
        total_discount = Decimal(0)
    return gross, total_discount, gross - total_discount


def calculate(object_name: str, values: MutableMapping[str, str], *, plain: bool) -> None:
    """Recompute an object's calculated properties in place (only line items have any here).

    `plain` renders them as a normalising portal does (`12.5`); otherwise with two decimals.
    """
    if object_name != LINE_ITEMS:
        return
    price = _number(values, "price")
    if price is None:
        for name in CALCULATED[LINE_ITEMS]:
            values.pop(name, None)
        return
    quantity = _number(values, "quantity")
    gross, discount, net = line_amounts(
        Decimal(1) if quantity is None else quantity,
        price,
        _number(values, "discount"),
        _number(values, "hs_discount_percentage"),
    )
    for name, amount in (
        ("hs_pre_discount_amount", gross),
        ("hs_total_discount", discount),
        ("amount", net),
    ):
        values[name] = plain_number(amount) if plain else str(amount.quantize(CENT))
