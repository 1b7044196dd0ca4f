"""The sandbox org's records and the rules every write obeys.

One `Org` holds rows per sObject (deleted rows stay, with `IsDeleted`, as in the Recycle Bin)
and applies a write the way Salesforce does (salesforce.md §2, §4.3, §7):

* unknown fields refuse the whole request (`ApiFault` 400 `INVALID_FIELD`), undecodable values
  too (`JSON_PARSER_ERROR`); everything else is per record (`RecordFailure`): read-only fields
  (`INVALID_FIELD_FOR_INSERT_UPDATE`), missing required fields, restricted picklists, unique
  fields, dangling or mistyped references, deleted rows, validation rules, injected lock errors;
* an empty string is stored as null; currency keeps its field's scale (AnnualRevenue none);
* `SystemModstamp` has whole-second resolution and moves on every update, even one that changes
  nothing, and on roll-ups (an Opportunity's `Amount` when its lines change);
* `IsWon`/`IsClosed` come from the stage, `Contact.Name` from the name parts, a line's product
  code and list price from its PricebookEntry;
* deleting an Account deletes its Contacts and Opportunities, an Opportunity its lines.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from adapters.salesforce.ids import checksum, is_record_id, to18

from .schema import DEFAULT_STAGES, Field, SObject, add_currency_fields, build_schema

Row = dict[str, Any]
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist"})
_NUMBER_TYPES = frozenset({"double", "currency", "percent"})


class ApiFault(Exception):
    """A whole request refused: HTTP `status` with Salesforce's error array."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


@dataclass
class RecordFailure(Exception):
    """One record refused; the per-record `errors` entry of a Collections result."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


@dataclass(frozen=True)
class ValidationRule:
    """A stand-in for an org's validation rule: `field` matching `pattern` is refused."""

    sobject: str
    field: str
    pattern: str
    message: str


@dataclass
class WriteOutcome:
    id: str
    created: bool


class Org:
    """Records, indexes and write rules of one org."""

    def __init__(
        self,
        clock: Callable[[], dt.datetime],
        *,
        stages: tuple[tuple[str, bool, bool], ...] = DEFAULT_STAGES,
        industry_restricted: bool = True,
        org_id: str = "00D5g000008aBcDEAU",
        currencies: tuple[str, ...] = (),
    ) -> None:
        self._clock = clock
        self.stages = {name: (closed, won) for name, closed, won in stages}
        self.schema: dict[str, SObject] = build_schema(
            stages, industry_restricted=industry_restricted
        )
        #: Multi-currency: the org's active currencies, the corporate one first; () when off.
        self.currencies = currencies
        if currencies:
            add_currency_fields(self.schema, currencies)
        self.rows: dict[str, dict[str, Row]] = {name: {} for name in self.schema}
        self._unique: dict[tuple[str, str], dict[str, str]] = {}
        self._counter = itertools.count(1)
        self.org_id = to18(org_id[:15])
        self.rules: list[ValidationRule] = []
        #: Injected: the next this-many record writes fail with UNABLE_TO_LOCK_ROW.
        self.lock_next = 0
        #: Called after every write (tooling.py recomputes field-level security).
        self.listeners: list[Callable[[SObject, Row], None]] = []

    # -- basics -------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """Whole seconds: SystemModstamp and friends carry `.000` milliseconds."""
        return self._clock().astimezone(dt.UTC).replace(microsecond=0)

    def sobject(self, name: str) -> SObject:
        for candidate in self.schema.values():
            if candidate.name.lower() == name.lower():
                return candidate
        raise ApiFault(404, "NOT_FOUND", "The requested resource does not exist")

    def new_id(self, sobject: SObject) -> str:
        number = next(self._counter)
        digits = ""
        for _ in range(8):
            number, rest = divmod(number, 62)
            digits = _BASE62[rest] + digits
        id15 = f"{sobject.prefix}Rb{digits}"[:15].ljust(15, "0")
        return id15 + checksum(id15)

    def get(self, sobject: str, record_id: str) -> Row | None:
        try:
            key = to18(record_id)
        except ValueError:
            return None
        return self.rows[self.sobject(sobject).name].get(key)

    def live(self, sobject: str) -> Iterable[Row]:
        return (row for row in self.rows[sobject].values() if not row["IsDeleted"])

    def find_by(self, sobject: SObject, field_name: str, value: Any) -> list[Row]:
        """Live rows whose `field_name` equals `value` (case-insensitively for text)."""
        spec = sobject.field(field_name)
        if spec is None:
            return []
        if spec.unique:
            found = self._unique.get((sobject.name, spec.name), {}).get(_fold(value))
            return [self.rows[sobject.name][found]] if found else []
        wanted = _fold(value)
        return [row for row in self.live(sobject.name) if _fold(row.get(spec.name)) == wanted]

    # -- writes -------------------------------------------------------------------------------

    def check_fields(self, sobject: SObject, values: Mapping[str, Any]) -> None:
        """Unknown fields refuse the whole request, as the JSON deserializer does."""
        for name in values:
            if name == "attributes":
                continue
            if sobject.field(name) is None:
                raise ApiFault(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {sobject.name}",
                )

    def create(self, sobject: SObject, values: Mapping[str, Any], user_id: str) -> WriteOutcome:
        self.check_fields(sobject, values)
        if any(name.lower() == "id" for name in values):
            raise RecordFailure(
                "INVALID_FIELD", "The Id field should not be specified in the sobject data.", []
            )
        changes = self._coerce(sobject, values)
        row: Row = {spec: None for spec in sobject.fields}
        row.update(
            {
                "IsDeleted": False,
                "OwnerId": user_id if "OwnerId" in sobject.fields else None,
            }
        )
        if sobject.name == "User":
            row["IsActive"] = True
            if self.currencies:
                row["DefaultCurrencyIsoCode"] = self.currencies[0]
        if self.currencies and "CurrencyIsoCode" in sobject.fields:
            # A record created without a currency takes its creator's personal currency.
            creator = self.rows["User"].get(user_id) or {}
            row["CurrencyIsoCode"] = creator.get("DefaultCurrencyIsoCode") or self.currencies[0]
        if sobject.name in ("Product2", "Pricebook2", "PricebookEntry"):
            row["IsActive"] = True
        row.update(changes)
        self._validate(sobject, row, None)
        record_id = self.new_id(sobject)
        now = self.now()
        row.update(
            {
                "Id": record_id,
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
                "CreatedById": user_id,
                "LastModifiedById": user_id,
            }
        )
        if "OwnerId" not in sobject.fields:
            row.pop("OwnerId", None)
        self._derive(sobject, row)
        self.rows[sobject.name][record_id] = row
        self._index(sobject, row)
        self._after_write(sobject, row)
        return WriteOutcome(record_id, True)

    def update(
        self, sobject: SObject, record_id: str, values: Mapping[str, Any], user_id: str
    ) -> WriteOutcome:
        self.check_fields(sobject, values)
        try:
            key = to18(record_id)
        except ValueError:
            raise RecordFailure(
                "MALFORMED_ID", f"{sobject.name} ID: id value of incorrect type: {record_id}"
            ) from None
        row = self.rows[sobject.name].get(key)
        if row is None:
            raise RecordFailure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if row["IsDeleted"]:
            raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted")
        changes = self._coerce(sobject, {k: v for k, v in values.items() if k.lower() != "id"})
        candidate = {**row, **changes}
        self._validate(sobject, candidate, key)
        self._unindex(sobject, row)
        row.update(changes)
        now = self.now()
        row.update({"LastModifiedDate": now, "SystemModstamp": now, "LastModifiedById": user_id})
        self._derive(sobject, row)
        self._index(sobject, row)
        self._after_write(sobject, row)
        return WriteOutcome(key, False)

    def delete(self, sobject_name: str, record_id: str) -> str:
        sobject = self.sobject(sobject_name)
        try:
            key = to18(record_id)
        except ValueError:
            raise RecordFailure("MALFORMED_ID", f"malformed id {record_id}") from None
        row = self.rows[sobject.name].get(key)
        if row is None:
            raise RecordFailure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if row["IsDeleted"]:
            raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted")
        self._take_lock(key)
        self._soft_delete(sobject, row)
        return key

    def _soft_delete(self, sobject: SObject, row: Row) -> None:
        self._unindex(sobject, row)
        row["IsDeleted"] = True
        row["SystemModstamp"] = self.now()
        children = {"Account": ("Contact", "Opportunity"), "Opportunity": ("OpportunityLineItem",)}
        for child in children.get(sobject.name, ()):
            parent_field = "OpportunityId" if child == "OpportunityLineItem" else "AccountId"
            for other in list(self.live(child)):
                if other.get(parent_field) == row["Id"]:
                    self._soft_delete(self.schema[child], other)
        self._after_write(sobject, row)

    # -- rules --------------------------------------------------------------------------------

    def _coerce(self, sobject: SObject, values: Mapping[str, Any]) -> Row:
        out: Row = {}
        read_only = []
        for name, value in values.items():
            if name == "attributes":
                continue
            spec = sobject.field(name)
            assert spec is not None
            if not spec.writable:
                read_only.append(spec.name)
                continue
            out[spec.name] = self._value(sobject, spec, value)
        if read_only:
            raise RecordFailure(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                read_only,
            )
        return out

    def _value(self, sobject: SObject, spec: Field, value: Any) -> Any:
        if value is None or value == "":
            return None  # Salesforce stores an empty string as null
        kind = spec.type
        try:
            if kind in _TEXT_TYPES:
                if not isinstance(value, str):
                    raise TypeError
                return self._text(spec, value)
            if kind == "boolean":
                if not isinstance(value, bool):
                    raise TypeError
                return value
            if kind == "int":
                number = Decimal(str(value))
                if number != number.to_integral_value() or isinstance(value, bool):
                    raise TypeError
                return int(number)
            if kind in _NUMBER_TYPES:
                if isinstance(value, bool):
                    raise TypeError
                number = Decimal(str(value))
                return number.quantize(Decimal(1).scaleb(-spec.scale), rounding=ROUND_HALF_UP)
            if kind == "date":
                return dt.date.fromisoformat(str(value))
            if kind == "datetime":
                parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                return parsed.astimezone(dt.UTC)
            if kind == "reference":
                return self._reference(spec, str(value))
        except (TypeError, ValueError, InvalidOperation):
            raise ApiFault(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind} from value {str(value)[:40]!r} "
                f"for field {spec.name}",
            ) from None
        return value

    def _text(self, spec: Field, value: str) -> str:
        if spec.length is not None and len(value) > spec.length:
            raise RecordFailure(
                "STRING_TOO_LONG",
                f"{spec.name}: data value too large: {value[:40]} (max length={spec.length})",
                [spec.name],
            )
        if spec.type == "email" and not _EMAIL.match(value):
            raise RecordFailure(
                "INVALID_EMAIL_ADDRESS", f"{spec.name}: invalid email address: {value}", [spec.name]
            )
        if spec.type == "picklist" and spec.restricted and value not in spec.picklist:
            raise RecordFailure(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.name}: bad value for restricted picklist field: {value}",
                [spec.name],
            )
        return value

    def _reference(self, spec: Field, value: str) -> str:
        target = self.schema[spec.reference_to or ""]
        if not is_record_id(value) or not value.startswith(target.prefix):
            raise RecordFailure(
                "MALFORMED_ID",
                f"{spec.name}: id value of incorrect type: {value}",
                [spec.name],
            )
        key = to18(value)
        row = self.rows[target.name].get(key)
        if row is None:
            raise RecordFailure(
                "INVALID_CROSS_REFERENCE_KEY",
                f"invalid cross reference id: {value}",
                [spec.name],
            )
        if row["IsDeleted"]:
            raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted", [spec.name])
        return key

    def _validate(self, sobject: SObject, row: Row, own_id: str | None) -> None:
        missing = [name for name in sobject.required if row.get(name) is None]
        if missing:
            raise RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for spec in sobject.unique:
            if row.get(spec.name) is None:
                continue
            holder = self._unique.get((sobject.name, spec.name), {}).get(_fold(row[spec.name]))
            if holder is not None and holder != own_id:
                raise RecordFailure(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {spec.name} duplicates value on record with id: "
                    f"{holder}",
                    [spec.name],
                )
        for rule in self.rules:
            if rule.sobject != sobject.name:
                continue
            value = row.get(rule.field)
            if value is not None and re.search(rule.pattern, str(value)):
                raise RecordFailure("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [rule.field])
        if sobject.name == "OpportunityLineItem":
            self._check_line(row)
        self._take_lock(own_id or "new record")

    def _take_lock(self, what: str) -> None:
        if self.lock_next > 0:
            self.lock_next -= 1
            raise RecordFailure(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {what}",
            )

    def _check_line(self, row: Row) -> None:
        entry = self.rows["PricebookEntry"][row["PricebookEntryId"]]
        opportunity = self.rows["Opportunity"][row["OpportunityId"]]
        if not entry.get("IsActive"):
            raise RecordFailure(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: PricebookEntryId (pricebook entry is inactive)",
                ["PricebookEntryId"],
            )
        book = opportunity.get("Pricebook2Id")
        if book is not None and book != entry["Pricebook2Id"]:
            raise RecordFailure(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: PricebookEntryId (pricebook entry is in a different "
                "pricebook than the one assigned to the opportunity)",
                ["PricebookEntryId"],
            )
        if self.currencies and entry.get("CurrencyIsoCode") != opportunity.get("CurrencyIsoCode"):
            raise RecordFailure(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: PricebookEntryId (pricebook entry currency code does "
                "not match opportunity currency code)",
                ["PricebookEntryId"],
            )
        if row.get("UnitPrice") is not None and row.get("TotalPrice") is not None:
            raise RecordFailure(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: TotalPrice (only one of unit price or total price "
                "may be specified)",
                ["TotalPrice"],
            )

    def _derive(self, sobject: SObject, row: Row) -> None:
        if sobject.name in ("Contact", "User"):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        elif sobject.name == "Opportunity":
            closed, won = self.stages.get(row.get("StageName") or "", (False, False))
            row["IsClosed"], row["IsWon"] = closed, won
        elif sobject.name == "PricebookEntry":
            product = self.rows["Product2"].get(row["Product2Id"]) or {}
            row["ProductCode"] = product.get("ProductCode")
        elif sobject.name == "OpportunityLineItem":
            entry = self.rows["PricebookEntry"][row["PricebookEntryId"]]
            row["Product2Id"] = entry["Product2Id"]
            row["ProductCode"] = entry.get("ProductCode")
            if self.currencies:
                row["CurrencyIsoCode"] = entry.get("CurrencyIsoCode")
            row["ListPrice"] = entry["UnitPrice"]
            quantity = Decimal(row["Quantity"])
            discount = Decimal(row.get("Discount") or 0) / 100
            if row.get("TotalPrice") is not None and row.get("UnitPrice") is None:
                row["UnitPrice"] = (Decimal(row["TotalPrice"]) / quantity).quantize(Decimal("0.01"))
            elif row.get("UnitPrice") is None:
                row["UnitPrice"] = entry["UnitPrice"]
            total = Decimal(row["UnitPrice"]) * quantity * (1 - discount)
            row["TotalPrice"] = total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def _after_write(self, sobject: SObject, row: Row) -> None:
        """Roll-ups: an Opportunity's Amount and price book follow its lines."""
        for listener in self.listeners:
            listener(sobject, row)
        if sobject.name != "OpportunityLineItem":
            return
        opportunity = self.rows["Opportunity"].get(row["OpportunityId"])
        if opportunity is None:
            return
        lines = [
            r for r in self.live("OpportunityLineItem") if r["OpportunityId"] == opportunity["Id"]
        ]
        opportunity["HasOpportunityLineItem"] = bool(lines)
        if lines:
            opportunity["Amount"] = sum((Decimal(r["TotalPrice"]) for r in lines), Decimal(0))
            if opportunity.get("Pricebook2Id") is None:
                entry = self.rows["PricebookEntry"][row["PricebookEntryId"]]
                opportunity["Pricebook2Id"] = entry["Pricebook2Id"]
        opportunity["SystemModstamp"] = self.now()

    def _index(self, sobject: SObject, row: Row) -> None:
        if row.get("IsDeleted"):
            return
        for spec in sobject.unique:
            if row.get(spec.name) is not None:
                self._unique.setdefault((sobject.name, spec.name), {})[_fold(row[spec.name])] = row[
                    "Id"
                ]

    def _unindex(self, sobject: SObject, row: Row) -> None:
        for spec in sobject.unique:
            if row.get(spec.name) is not None:
                index = self._unique.get((sobject.name, spec.name), {})
                if index.get(_fold(row[spec.name])) == row["Id"]:
                    del index[_fold(row[spec.name])]


def _fold(value: Any) -> str:
    """External ids and unique text match case-insensitively (salesforce.md §2.2, unverified)."""
    return str(value).casefold() if value is not None else ""
