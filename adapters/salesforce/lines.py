"""Opportunity lines (OpportunityLineItem): read with their sale, replaced as a whole on write.

Facts (salesforce.md §7): a line names a `PricebookEntryId` of the opportunity's price book
(the API sets the opportunity's price book from the first line's entry); `ProductCode`,
`ListPrice` and `TotalPrice` are computed; send `UnitPrice` or `TotalPrice`, never both. The
native `lines` carry `ProductCode`, which the adapter turns into the entry of the configured
price book (`settings.pricebook`); a code with no active entry there fails the whole sale, naming
the product, before anything is written.

Replacing costs one query for the current lines of up to 200 sales, then Collections deletes
and creates of at most 200 rows each across sales, sent five to a Composite call
(composite.py); a sale whose lines already equal the wanted ones is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from connector.batching import chunked
from connector.errors import RecordError

from . import composite
from .client import SalesforceClient
from .composite import Subrequest
from .errors import record_error
from .objects import LINE_FIELDS, LINE_OBJECT, LINE_READ_ONLY
from .soql import in_list, quote, select

#: Opportunity ids per line query: 200 quoted ids are about 4 KB, far under the 16 KB URI cap.
IN_CHUNK = 200
COLLECTION = 200
#: Product codes per PricebookEntry query (codes may be long).
CODE_CHUNK = 100
#: A delete of a line that is already gone did what was asked.
ALREADY_GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"})


DISCOUNT_AMOUNT = "DiscountAmount"
CENT = Decimal("0.01")


def native_line(row: Mapping[str, Any]) -> dict[str, Any]:
    """A line as read, with `DiscountAmount`: the percent `Discount` as an amount."""
    line = {k: v for k, v in row.items() if k != "attributes"}
    try:
        gross = Decimal(str(line["Quantity"])) * Decimal(str(line["UnitPrice"]))
        percent = Decimal(str(line.get("Discount") or 0))
    except (KeyError, InvalidOperation, ValueError):
        return line
    line[DISCOUNT_AMOUNT] = float((gross * percent / 100).quantize(CENT))
    return line


def discount_percent(line: Mapping[str, Any]) -> float | None:
    """`DiscountAmount` as Salesforce's `Discount` percent (two decimals), or None."""
    amount = line.get(DISCOUNT_AMOUNT)
    if amount in (None, ""):
        return None
    try:
        gross = Decimal(str(line["Quantity"])) * Decimal(str(line["UnitPrice"]))
        rebate = Decimal(str(amount))
    except (KeyError, InvalidOperation, ValueError):
        return None
    if gross == 0 or rebate == 0:
        return 0.0
    return float((rebate / gross * 100).quantize(CENT))


async def read_lines(
    client: SalesforceClient, opportunity_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in opportunity_ids}
    for batch in chunked(list(opportunity_ids), IN_CHUNK):
        soql = (
            f"{select(LINE_FIELDS, LINE_OBJECT)} WHERE {in_list('OpportunityId', list(batch))}"
            " ORDER BY OpportunityId, CreatedDate, Id"
        )
        async for row in client.query(soql):
            found.setdefault(str(row["OpportunityId"]), []).append(native_line(row))
    return found


class PriceBook:
    """(ProductCode, currency) → PricebookEntry id in the configured price book, cached.

    In a multi-currency org a price book holds one entry per product *and currency*, and a
    line's entry must be in its opportunity's currency (salesforce.md §7); elsewhere there is
    no `CurrencyIsoCode` field at all, and the currency is None throughout. Which kind of org
    this is comes from `multi_currency`, or (None) from whether PricebookEntry's describe lists
    the field: one call, the first time it matters.
    """

    def __init__(
        self, client: SalesforceClient, name: str, multi_currency: bool | None = None
    ) -> None:
        self._client = client
        self.name = name
        self._multi_currency = multi_currency
        self._fetched: set[str] = set()
        self._entries: dict[tuple[str, str | None], str] = {}

    async def multi_currency(self) -> bool:
        if self._multi_currency is None:
            described = await self._client.call("GET", "/sobjects/PricebookEntry/describe")
            names = {str(f.get("name")) for f in (described or {}).get("fields") or []}
            self._multi_currency = "CurrencyIsoCode" in names
        return self._multi_currency

    async def _fetch(self, codes: Sequence[str]) -> None:
        wanted = sorted({c for c in codes if c not in self._fetched})
        multi = await self.multi_currency() if wanted else False
        fields = ["Id", "ProductCode", *(["CurrencyIsoCode"] if multi else [])]
        for batch in chunked(wanted, CODE_CHUNK):
            soql = (
                f"{select(fields, 'PricebookEntry')} WHERE Pricebook2.Name = {quote(self.name)} "
                f"AND IsActive = true AND {in_list('ProductCode', list(batch))}"
            )
            async for row in self._client.query(soql):
                currency = str(row["CurrencyIsoCode"]).upper() if multi else None
                self._entries.setdefault((str(row["ProductCode"]), currency), str(row["Id"]))
            self._fetched.update(batch)

    async def missing(
        self, lines: Sequence[Mapping[str, Any]], currency: str | None = None
    ) -> RecordError | None:
        """A failure naming the products without an entry (in `currency`, for a multi-currency
        org), or None when all resolve."""
        codes = [str(line.get("ProductCode") or "") for line in lines]
        if "" in codes:
            return RecordError("an opportunity line has no ProductCode", code="PRODUCT_MISSING")
        await self._fetch(codes)
        key = currency.upper() if currency else None
        absent = [code for code in codes if (code, key) not in self._entries]
        if absent:
            names = ", ".join(dict.fromkeys(absent))
            where = f"price book {self.name!r}" + (f" for currency {key}" if key else "")
            return RecordError(
                f"product {names} has no active entry in {where}",
                code="PRICEBOOK_ENTRY_MISSING",
            )
        return None

    def entry(self, code: str, currency: str | None = None) -> str:
        found = self._entries.get((code, currency.upper() if currency else None))
        assert found is not None, "missing() is called first"
        return found


def _wanted_row(
    opportunity_id: str, line: Mapping[str, Any], book: PriceBook, currency: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "attributes": {"type": LINE_OBJECT},
        "OpportunityId": opportunity_id,
        "PricebookEntryId": book.entry(str(line["ProductCode"]), currency),
    }
    row.update(
        {
            k: v
            for k, v in line.items()
            if k not in LINE_READ_ONLY and k not in ("Id", DISCOUNT_AMOUNT)
        }
    )
    percent = discount_percent(line)
    if percent is not None:
        row["Discount"] = percent
    return row


def _same(current: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> bool:
    if len(current) != len(wanted):
        return False
    for have, want in zip(current, wanted, strict=True):
        for name, value in want.items():
            if name == "attributes":
                continue
            if not _equal(have.get(name), value):
                return False
    return True


def _equal(left: Any, right: Any) -> bool:
    if left in (None, "") and right in (None, ""):
        return True
    try:
        return Decimal(str(left)) == Decimal(str(right))
    except (InvalidOperation, ValueError):
        return str(left) == str(right)


async def replace_lines(
    client: SalesforceClient,
    book: PriceBook,
    wanted: Mapping[str, Sequence[Mapping[str, Any]]],
    currencies: Mapping[str, str | None] | None = None,
) -> dict[str, RecordError]:
    """Makes each opportunity's lines the wanted ones, priced in the opportunity's currency
    (`currencies`, multi-currency orgs only); errors by opportunity id.

    One query reads the current lines of up to 200 opportunities; the deletes and creates of
    every opportunity that changed then go as Collections subrequests (200 rows each), five to
    a Composite call: a page of 200 opportunities with 1,000 changed lines is one query and two
    or three calls.
    """
    current = await read_lines(client, list(wanted))
    doomed: list[str] = []
    owners = {str(line["Id"]): o for o, lines in current.items() for line in lines}
    creates: list[tuple[str, dict[str, Any]]] = []
    for opportunity_id, lines in wanted.items():
        currency = (currencies or {}).get(opportunity_id)
        rows = [_wanted_row(opportunity_id, line, book, currency) for line in lines]
        if _same(current.get(opportunity_id, []), rows):
            continue
        doomed += [str(line["Id"]) for line in current.get(opportunity_id, [])]
        creates += [(opportunity_id, row) for row in rows]
    subrequests: list[Subrequest] = []
    owners_of: list[list[str]] = []
    for ids in chunked(doomed, COLLECTION):
        query = urlencode({"ids": ",".join(ids), "allOrNone": "false"})
        subrequests.append(Subrequest("DELETE", f"/composite/sobjects?{query}"))
        owners_of.append([owners[i] for i in ids])
    for batch in chunked(creates, COLLECTION):
        body = {"allOrNone": False, "records": [row for _, row in batch]}
        subrequests.append(Subrequest("POST", "/composite/sobjects", body))
        owners_of.append([o for o, _ in batch])
    errors: dict[str, RecordError] = {}
    answers = await composite.send(client, subrequests)
    for sub, answer, opportunities in zip(subrequests, answers, owners_of, strict=True):
        if not answer.ok:
            for opportunity_id in opportunities:
                errors.setdefault(opportunity_id, answer.error())
            continue
        results = answer.body if isinstance(answer.body, list) else []
        for opportunity_id, result in zip(opportunities, results, strict=False):
            if result.get("success"):
                continue
            error = record_error(result.get("errors") or [])
            if sub.method == "DELETE" and error.code in ALREADY_GONE:
                continue
            errors.setdefault(opportunity_id, error)
    return errors
