"""HubSpot's own terms for a written value: what a portal stores, so what a read returns.

The convergence check (`connector mappings check --convergence`) asks the adapter this through
`normalize_native`, so a value that HubSpot normalises (`"12.50"` is a number and reads back as
`"12.5"`) is compared the way HubSpot holds it. Facts (BEHAVIOR.md "Values come back
normalised"):

* every property value is a string; numbers are numbers, not the text sent (§1.3's `"17"`);
* contact e-mails are compared case-insensitively by HubSpot (§1.3, "Contact already exists")
  and come back lower-cased, as company domains do;
* `date` properties hold midnight UTC and `datetime` properties an instant; both read back as
  ISO-8601 text with milliseconds (`2024-05-01T00:00:00.000Z`) unless epoch ms were asked for;
* text comes back trimmed (an assumption; see the sandbox's `values.py`);
* a line item's `amount` ("Net price") is computed by HubSpot: quantity * price less the unit
  `discount` per unit, or less `hs_discount_percentage` of the line rounded to cents
  (BEHAVIOR.md "Line items"), so `computed_native` supplies it after every write.

The property types are HubSpot's for the built-in properties the shipped mappings use (its
default property lists) and ours for the properties `setup` creates (`objects.OWN_PROPERTIES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connector.model import Entity
from connector.timestamps import parse_timestamp

from .objects import LINE_ITEMS, OWN_PROPERTIES, spec

#: Built-in number, date and datetime properties per object type (the rest are text).
_NUMBERS: dict[str, frozenset[str]] = {
    "companies": frozenset({"numberofemployees", "annualrevenue"}),
    "contacts": frozenset(),
    "deals": frozenset({"amount"}),
    LINE_ITEMS: frozenset(
        {"quantity", "price", "discount", "hs_discount_percentage", "amount"}
        | {"hs_position_on_quote", "hs_pre_discount_amount", "hs_total_discount"}
    ),
}
_DATETIMES = frozenset({"closedate", "createdate", "hs_lastmodifieddate", "lastmodifieddate"})
_LOWER_CASED: dict[str, frozenset[str]] = {
    "contacts": frozenset({"email"}),
    "companies": frozenset({"domain"}),
}


def property_type(object_type: str, name: str) -> str:
    own = OWN_PROPERTIES.get(object_type, {}).get(name)
    if own is not None:
        return own.type
    if name in _NUMBERS.get(object_type, frozenset()):
        return "number"
    if name in _DATETIMES:
        return "datetime"
    return "string"


def normalize_native(entity: Entity, field: str, value: Any, *, line: bool) -> Any:
    """The value a portal returns after `value` was written to property `field`."""
    object_type = LINE_ITEMS if line else spec(entity).object_type
    if value is None or isinstance(value, dict | list):
        return value
    text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
    if text == "":
        return None
    kind = property_type(object_type, field)
    if kind == "number":
        return _number(text)
    if kind in ("date", "datetime"):
        return _instant(text)
    if field in _LOWER_CASED.get(object_type, frozenset()):
        return text.lower()
    return text


def _number(text: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text  # HubSpot would refuse it; the write fails and nothing is stored
    if number.is_zero():
        return "0"
    shown = format(number, "f")
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def _instant(text: str) -> str:
    moment = parse_timestamp(text)
    if moment is None:
        return text
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def computed_native(entity: Entity, fields: Mapping[str, Any], *, line: bool) -> dict[str, Any]:
    """The values HubSpot computes for a stored line item (its net `amount`)."""
    if not line:
        return {}
    try:
        price = Decimal(str(fields.get("price")))
        units = Decimal(str(fields.get("quantity") or 1))
        share = fields.get("hs_discount_percentage")
        unit_off = fields.get("discount")
        gross = units * price
        off = (
            (gross * Decimal(str(share)) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if share not in (None, "")
            else units * Decimal(str(unit_off or 0))
        )
    except InvalidOperation:
        return {"amount": None}
    return {"amount": _number(str(gross - off))}
