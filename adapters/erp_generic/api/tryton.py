"""The Tryton writer: customers and sales created through Tryton's JSON-RPC API, so Tryton's
own rules, defaults, sequences and workflow apply (never its tables behind its back).

* **sale** (`sale.sale`): the header with its lines in one `create`; then the workflow calls
  that make it a real order (`quote` — Tryton numbers it from the sale sequence — and
  `confirm`, which schedules shipments and invoices per the sale's methods); then the number
  Tryton assigned is read. Lines name their product by id or by its `code` (`product` or
  `product_code`); the line's unit is the product's sale unit, the addresses are the party's
  first address, as Tryton's client would fill them. An existing sale is only updated while it
  is in one of `update_states` (draft): a quoted or confirmed order is Tryton's, and lines are
  never rewritten by an update.
* **customer** (`party.party`): name and code, with e-mail, phone and website as contact
  mechanisms and an address, created together; updates write the name only.

Crash safety: with `reference_field` (a Char field on the model, e.g. the sale's `reference`)
the canonical key is stored there and looked for before a create, so a write replayed after a
crash finishes the earlier sale's workflow instead of creating a second one. Without it, a sale
whose workflow fails is deleted again while still a draft, so nothing half-made stays behind.

Options per entity (`api:` in the entity's settings): `model`, `workflow` (method names),
`reference_field`, `update_states`, `number_field`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from adapters.erp_generic.api.jsonrpc import ErpRefused, JsonRpcSession
from adapters.erp_generic.settings import ApiSettings
from connector.adapter import NativeWrite, WriteResult
from connector.errors import ConfigurationError, RecordError
from connector.model import Entity

DEFAULTS: dict[Entity, dict[str, Any]] = {
    Entity.SALE: {
        "model": "sale.sale",
        "workflow": ["quote", "confirm"],
        "reference_field": None,
        "update_states": ["draft"],
        "number_field": "number",
    },
    Entity.CUSTOMER: {"model": "party.party", "workflow": [], "reference_field": None},
}

#: Fields Tryton computes or owns: never sent, whatever a mapping file writes.
COMPUTED = frozenset(
    {
        "id",
        "number",
        "state",
        "create_date",
        "write_date",
        "create_uid",
        "write_uid",
        "total_amount",
        "untaxed_amount",
        "tax_amount",
        "total_amount_cache",
        "untaxed_amount_cache",
        "tax_amount_cache",
    }
)

#: Workflow states in order, so a replay resumes where the earlier attempt stopped.
_REACHED_BY = {"quote": "quotation", "confirm": "confirmed", "process": "processing"}
_STATE_ORDER = ["draft", "quotation", "confirmed", "processing", "done"]

_MECHANISMS = {"email": "email", "phone": "phone", "mobile": "mobile", "website": "website"}
_ADDRESS = ("street", "postal_code", "city")


class TrytonWriter:
    """`connector.erp_writers` plugin `tryton`."""

    def __init__(self, settings: ApiSettings, *, transport: Any = None) -> None:
        if not settings.database or not settings.user:
            raise ConfigurationError("the tryton writer needs api.database and api.user")
        self._session = JsonRpcSession(
            settings.url,
            settings.database,
            settings.user,
            settings.password or SecretStr(""),
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self._context: dict[str, Any] | None = None

    async def open(self) -> None:
        await self._session.login()
        # The user's preferences are the context Tryton's own client sends (company, language).
        preferences = await self._session.call("model.res.user.get_preferences", True, {})
        self._context = preferences if isinstance(preferences, dict) else {}

    async def close(self) -> None:
        await self._session.close()

    @property
    def context(self) -> dict[str, Any]:
        if self._context is None:
            raise ConfigurationError("the tryton writer is not open")
        return self._context

    async def call(self, model: str, method: str, *params: Any) -> Any:
        return await self._session.call(f"model.{model}.{method}", *params, self.context)

    async def upsert(
        self, entity: Entity, writes: Sequence[NativeWrite], options: Mapping[str, Any]
    ) -> list[WriteResult]:
        if entity not in DEFAULTS:
            error = RecordError(f"the tryton writer does not write {entity.value}")
            return [WriteResult(w.key, w.external_id, error=error) for w in writes]
        settings = {**DEFAULTS[entity], **options}
        results = []
        for write in writes:  # one at a time: each is its own Tryton transaction
            try:
                results.append(await self._write(entity, write, settings))
            except RecordError as error:
                results.append(WriteResult(write.key, write.external_id, error=error))
        return results

    async def _write(
        self, entity: Entity, write: NativeWrite, settings: Mapping[str, Any]
    ) -> WriteResult:
        model = settings["model"]
        fields = {k: v for k, v in write.fields.items() if k not in COMPUTED}
        if write.external_id is not None:
            return await self._update(entity, write, fields, settings)
        reference = settings.get("reference_field")
        if reference:
            found = await self.call(model, "search", [[reference, "=", write.key]], 0, 2, None)
            if found:
                return await self._finish(entity, write, int(found[0]), settings, created=False)
            fields[reference] = write.key
        values = await (self._sale_values if entity is Entity.SALE else self._party_values)(fields)
        [record_id] = await self.call(model, "create", [values])
        return await self._finish(entity, write, int(record_id), settings, created=True)

    async def _finish(
        self,
        entity: Entity,
        write: NativeWrite,
        record_id: int,
        settings: Mapping[str, Any],
        *,
        created: bool,
    ) -> WriteResult:
        """Run the workflow calls the record has not been through yet."""
        model, steps = settings["model"], list(settings.get("workflow") or [])
        if steps:
            [row] = await self.call(model, "read", [record_id], ["state"])
            state = row.get("state")
            try:
                for step in steps:
                    reached = _REACHED_BY.get(step)
                    if reached and _after_or_at(state, reached):
                        continue
                    await self.call(model, step, [record_id])
            except ErpRefused:
                if created and not settings.get("reference_field"):
                    await self._discard_draft(model, record_id)
                raise
        return WriteResult(write.key, str(record_id), created=created)

    async def _discard_draft(self, model: str, record_id: int) -> None:
        # Not a draft any more: nothing to undo; the failure names the record's problem anyway.
        with contextlib.suppress(ErpRefused):
            await self.call(model, "delete", [record_id])

    async def _update(
        self,
        entity: Entity,
        write: NativeWrite,
        fields: dict[str, Any],
        settings: Mapping[str, Any],
    ) -> WriteResult:
        model = settings["model"]
        record_id = _record_id(write.external_id)
        if entity is Entity.SALE:
            fields.pop("lines", None)  # an existing order's lines are Tryton's
            fields = {k: v for k, v in fields.items() if k != "party"}
        else:
            fields = {"name": fields["name"]} if fields.get("name") else {}
        if not fields:
            return WriteResult(write.key, write.external_id)
        states = settings.get("update_states")
        if states:
            [row] = await self.call(model, "read", [record_id], ["state"])
            if row.get("state") not in states:
                raise RecordError(
                    f"Tryton's {model} {record_id} is {row.get('state')!r}: it is Tryton's "
                    f"now and is only updated while {' or '.join(states)}",
                    code="ERP_OWNS_RECORD",
                )
        await self.call(model, "write", [record_id], fields)
        return WriteResult(write.key, write.external_id)

    async def _sale_values(self, fields: dict[str, Any]) -> dict[str, Any]:
        values = dict(fields)
        party = values.get("party")
        if party in (None, ""):
            raise RecordError("a Tryton sale needs its customer (party)", code="MISSING_KEY")
        values["party"] = party_id = _record_id(party)
        found = await self.call("party.party", "search", [["id", "=", party_id]], 0, 1, None)
        if not found:
            raise RecordError(f"Tryton has no party {party_id}", code="NOT_FOUND")
        [row] = await self.call("party.party", "read", [party_id], ["addresses"])
        addresses = row.get("addresses") or []
        if addresses:
            values.setdefault("invoice_address", addresses[0])
            values.setdefault("shipment_address", addresses[0])
        lines = values.pop("lines", None) or []
        if lines:
            values["lines"] = [["create", await self._line_values(lines)]]
        return values

    async def _line_values(self, raw: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        # A line may name its product by `product_code` (what a read maps as the line's SKU).
        lines = [
            {k: v for k, v in line.items() if k != "product_code"}
            | ({"product": line["product_code"]} if line.get("product_code") else {})
            for line in raw
        ]
        wanted = {str(line["product"]) for line in lines if line.get("product") not in (None, "")}
        codes = sorted(value for value in wanted if not value.isdigit())
        by_code: dict[str, int] = {}
        if codes:
            found = await self.call(
                "product.product", "search", [["code", "in", codes]], 0, None, None
            )
            for row in await self.call("product.product", "read", found, ["code"]):
                by_code[row["code"]] = int(row["id"])
        ids = {
            value: by_code.get(value) or (int(value) if value.isdigit() else None)
            for value in wanted
        }
        missing = sorted(value for value, known in ids.items() if known is None)
        if missing:
            raise RecordError(
                f"Tryton has no product with code {', '.join(map(repr, missing))}",
                code="UNKNOWN_PRODUCT",
            )
        units: dict[int, int] = {}
        known_ids = sorted({i for i in ids.values() if i is not None})
        if known_ids:
            for row in await self.call(
                "product.product", "read", known_ids, ["sale_uom", "default_uom"]
            ):
                units[int(row["id"])] = int(row.get("sale_uom") or row["default_uom"])
        out = []
        for line in lines:
            values: dict[str, Any] = {"type": "line", **line}
            product = line.get("product")
            if product not in (None, ""):
                product_id = ids[str(product)]
                assert product_id is not None
                values["product"] = product_id
                values.setdefault("unit", units[product_id])
            if "quantity" in values and values["quantity"] is not None:
                values["quantity"] = float(values["quantity"])
            if values.get("unit_price") is not None:
                values["unit_price"] = Decimal(str(values["unit_price"]))
            out.append(values)
        return out

    async def _party_values(self, fields: dict[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in fields.items() if k not in _MECHANISMS and k not in _ADDRESS}
        if not values.get("name"):
            raise RecordError("a Tryton party needs a name", code="MISSING_KEY")
        mechanisms = [
            {"type": kind, "value": fields[name]}
            for name, kind in _MECHANISMS.items()
            if fields.get(name)
        ]
        if mechanisms:
            values["contact_mechanisms"] = [["create", mechanisms]]
        address = {name: fields[name] for name in _ADDRESS if fields.get(name)}
        if address:
            values["addresses"] = [["create", [address]]]
        return values


def _record_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{value!r} is not a Tryton record id", code="INVALID_VALUE") from None


def _after_or_at(state: Any, reached: str) -> bool:
    if state not in _STATE_ORDER or reached not in _STATE_ORDER:
        return False
    return _STATE_ORDER.index(state) >= _STATE_ORDER.index(reached)


def create_writer(settings: ApiSettings) -> TrytonWriter:
    """The entry point (`connector.erp_writers`: `tryton`)."""
    return TrytonWriter(settings)
