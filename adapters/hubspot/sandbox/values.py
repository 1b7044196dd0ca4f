"""How a portal stores a written value: the normalisation a real HubSpot applies on write.

A client that writes `"12.50"` and reads back `"12.5"` must not see a change; a sandbox that
echoes every value as written hides that from it. With the `normalize_values` switch on (the
default) the sandbox stores values as a portal shows them:

* numbers without trailing zeros or a leading `+` (`"12.50"` → `"12.5"`, `"100.00"` → `"100"`):
  HubSpot's number properties are numbers, not the text sent (its own examples show `"17"`,
  hubspot.md §1.3);
* strings trimmed of surrounding white space (an assumption: HubSpot does not document it for
  the API, but the independent emulator the product was checked against trims, and a client
  must cope with a portal that does);
* e-mail addresses and company domains lower-cased: HubSpot de-duplicates contacts on the e-mail
  case-insensitively (§1.3 "Contact already exists") and shows domains in lower case;
* date properties rendered as the midnight-UTC datetime they hold (`2024-05-01T00:00:00.000Z`),
  not the day alone (`properties.render_value`).

The exact rules of a live portal are not published in full; these are the ones a client must
survive, and each can be turned off with the switch to test the other way round.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: String properties whose values a portal lower-cases, by object type.
LOWER_CASED: dict[str, frozenset[str]] = {
    "contacts": frozenset({"email", "hs_additional_emails"}),
    "companies": frozenset({"domain"}),
}


def plain_number(value: Decimal) -> str:
    """`value` as a portal shows a number: no exponent, no trailing zeros, `0` not `-0`."""
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def normalize_number(text: str) -> str:
    """A valid number's stored form; the caller has checked it parses."""
    try:
        return plain_number(Decimal(text.strip()))
    except InvalidOperation:
        return text.strip()


def normalize_string(object_name: str, property_name: str, text: str) -> str:
    trimmed = text.strip()
    if property_name in LOWER_CASED.get(object_name, frozenset()):
        return trimmed.lower()
    return trimmed
