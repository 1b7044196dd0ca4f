"""`HubSpotAdapter`: the connector's adapter contract over HubSpot's CRM API.

customer ↔ companies, contact ↔ contacts, sale ↔ deals with their line items. Native records
are the objects' `properties` at the top level plus the `associations`, `lines` and
`owner_email` pseudo-fields (docs/native-shapes.md; owner ids ↔ e-mails in owners.py).
Writes are batch upserts by the unique `connector_key` property (so a replayed create is an
update), reads of changes go through the search API (`search.py`), archived records come back
as deletes. See BEHAVIOR.md for the API's surprises.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from connector.adapter import (
    Capabilities,
    NativeRecord,
    NativeWrite,
    Page,
    WebhookVerifier,
    WriteResult,
)
from connector.adapter_base import BaseAdapter
from connector.batching import bisect_batch, chunked
from connector.errors import Problem, RecordError
from connector.http import DEFAULT_REGISTRY, HttpRecordError, LimiterRegistry
from connector.http.ratelimit import Sleep
from connector.model import Entity
from connector.native_schema import NativeSchema
from connector.timestamps import EPOCH, MonotonicClock, parse_timestamp

from . import associations as assoc
from . import linking, terms
from . import search as walk
from .client import HubSpotClient
from .describe import PropertyCatalog, results_of
from .objects import (
    ASSOCIATIONS,
    CONNECTOR_KEY,
    LINE_ITEM_PROPERTIES,
    LINE_ITEMS,
    LINE_KEY_PROPERTY,
    LINES,
    OBJECT_ID,
    OWNER_EMAIL,
    ObjectSpec,
    spec,
)
from .owners import OwnerDirectory
from .settings import SEARCH_CLASS, HubSpotSettings
from .webhooks import HubSpotWebhookVerifier
from .writes import (
    failed,
    line_order,
    plan_rounds,
    split_batch_response,
    split_fields,
    update_input,
    upsert_input,
)

#: Search `IN` filters take a bounded list of values; keep each request well under the 3,000
#: character body limit (hubspot.md §2).
LOOKUP_IN_CHUNK = 50
ARCHIVED_PAGE = 100


def record_error_from(exc: RecordError) -> RecordError:
    """HubSpot's own message and category for a request-level refusal."""
    if not isinstance(exc, HttpRecordError):
        return exc
    message = exc.api_message or str(exc)
    return RecordError(message, code=exc.category or exc.code or f"HTTP_{exc.status}")


class HubSpotAdapter(BaseAdapter[HubSpotSettings, HubSpotClient]):
    """One HubSpot account."""

    kind: ClassVar[str] = "hubspot"
    Settings: ClassVar[type[BaseModel]] = HubSpotSettings

    def __init__(
        self,
        name: str,
        settings: HubSpotSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        registry: LimiterRegistry = DEFAULT_REGISTRY,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(name, settings)
        self._transport = transport
        self._registry = registry
        self._clock = clock
        self._sleep = sleep
        self.owners = OwnerDirectory(
            lambda: self.client, refresh_seconds=settings.owners_refresh_seconds, clock=clock
        )
        self._secrets = settings.webhooks.resolve_secrets()
        self._catalog = PropertyCatalog(self._property_list)
        self.capabilities = Capabilities(
            entities=frozenset(Entity),
            deletes=True,
            webhooks=bool(self._secrets),
            batch_size=settings.batch_size,
            max_in_flight=settings.max_in_flight,
            upsert_matches={entity: CONNECTOR_KEY for entity in Entity},
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def connect(self) -> HubSpotClient:
        return HubSpotClient(
            self.settings,
            name=self.name,
            transport=self._transport,
            registry=self._registry,
            clock=self._clock,
            sleep=self._sleep,
        )

    async def probe(self, entities: frozenset[Entity]) -> list[Problem]:
        """Token, scopes, base URL and the connector's key property, checked live (probe.py)."""
        from .probe import probe

        return await probe(self, entities)

    # -- properties ---------------------------------------------------------------------------

    def properties(self, entity: Entity) -> list[str]:
        """The properties read for an entity: defaults, our keys, configured extras."""
        object_spec = spec(entity)
        extra = self.settings.extra_properties.get(entity.value, [])
        names = [
            *object_spec.default_properties,
            object_spec.erp_key_property,
            CONNECTOR_KEY,
            object_spec.modified_property,
            OBJECT_ID,
            *extra,
        ]
        return list(dict.fromkeys(names))

    def line_properties(self) -> list[str]:
        extra = self.settings.extra_properties.get("line", [])
        return list(dict.fromkeys([*LINE_ITEM_PROPERTIES, *extra]))

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        carried = assoc.CARRIED[spec(entity).object_type]
        pseudo = {
            f"{ASSOCIATIONS}.{name}"
            for name, object_type in assoc.PSEUDO_TO_OBJECT.items()
            if object_type in carried
        }
        if pseudo:
            pseudo.add(ASSOCIATIONS)
        if entity is Entity.SALE:
            pseudo.add(LINES)
        pseudo.add(OWNER_EMAIL)  # companies, contacts and deals all have an owner
        return frozenset(self.properties(entity)) | pseudo

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        """The line-item properties a sale's lines carry (for the convergence check)."""
        if entity is not Entity.SALE:
            return None
        return frozenset(self.line_properties())

    async def describe_fields(self, entity: Entity) -> NativeSchema | None:
        """The portal's properties of the entity's object as the native shape (describe.py);
        each object type's list is read once per adapter."""
        return await self._catalog.describe(entity)

    async def _property_list(self, object_type: str) -> list[Mapping[str, Any]]:
        _, body = await self.client.call("GET", self.client.paths.properties(object_type))
        return results_of(body)

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        """What HubSpot stores when `value` is written to `field` (see `terms.py`)."""
        return terms.normalize_native(entity, field, value, line=line)

    def computed_native(
        self, entity: Entity, fields: Mapping[str, Any], *, line: bool
    ) -> dict[str, Any]:
        """What HubSpot computes itself on a stored record (a line item's `amount`)."""
        return terms.computed_native(entity, fields, line=line)

    def closed_fields(self, entity: Entity) -> frozenset[str]:
        """Fields that take only values the portal knows: the owner e-mail (`connector check`)."""
        return frozenset({OWNER_EMAIL})

    async def unknown_values(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> list[str]:
        if native_field != OWNER_EMAIL:
            return []
        return await self.owners.unknown_emails(values)

    def webhook_verifier(self) -> WebhookVerifier | None:
        if not self._secrets:
            return None
        hooks = self.settings.webhooks
        return HubSpotWebhookVerifier(
            self._secrets,
            versions=hooks.versions,
            max_age_seconds=hooks.max_age_seconds,
            max_body_bytes=hooks.max_body_bytes,
        )

    # -- reading ------------------------------------------------------------------------------

    def _native(self, object_spec: ObjectSpec, item: Mapping[str, Any]) -> NativeRecord:
        properties = dict(item.get("properties") or {})
        record_id = str(item.get("id") or properties.get(OBJECT_ID))
        updated = (
            parse_timestamp(properties.get(object_spec.modified_property))
            or parse_timestamp(item.get("updatedAt"))
            or parse_timestamp(item.get("archivedAt"))
            or EPOCH
        )
        archived = bool(item.get("archived"))
        if archived:
            updated = parse_timestamp(item.get("archivedAt")) or updated
        return NativeRecord(id=record_id, updated_at=updated, fields=properties, deleted=archived)

    async def _enrich(self, entity: Entity, records: list[NativeRecord]) -> list[NativeRecord]:
        """Adds the `owner_email`, `associations` (and for deals `lines`) pseudo-fields."""
        records = await self.owners.fill_emails(records)
        object_spec = spec(entity)
        carried = assoc.CARRIED[object_spec.object_type]
        live = [r.id for r in records if not r.deleted]
        if not live or (not carried and entity is not Entity.SALE):
            return records
        extra: dict[str, dict[str, Any]] = {rid: {} for rid in live}
        for to_type in carried:
            found = await linking.read_associations(
                self.client, object_spec.object_type, to_type, live
            )
            pseudo = assoc.OBJECT_TO_PSEUDO[to_type]
            for rid in live:
                picked = assoc.pick_primary(found.get(rid, []), object_spec.object_type, to_type)
                extra[rid].setdefault(ASSOCIATIONS, {})[pseudo] = picked
        if entity is Entity.SALE:
            line_ids = await linking.read_associations(self.client, "deals", LINE_ITEMS, live)
            all_ids = [t for targets in line_ids.values() for t, _ in targets]
            line_records = await self._batch_read(LINE_ITEMS, all_ids, self.line_properties())
            lines = {r.id: r for r in line_records}
            for rid in live:
                rows = [lines[t] for t, _ in line_ids.get(rid, []) if t in lines]
                rows.sort(key=_line_order)
                extra[rid][LINES] = [dict(row.fields) for row in rows]
        return [
            NativeRecord(r.id, r.updated_at, {**r.fields, **extra[r.id]}, r.deleted)
            if r.id in extra
            else r
            for r in records
        ]

    async def _batch_read(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str],
        id_property: str | None = None,
    ) -> list[NativeRecord]:
        records: list[NativeRecord] = []
        path = self.client.paths.batch(object_type, "read")
        for batch in chunked(list(dict.fromkeys(ids)), self.settings.batch_size):
            # `propertiesWithHistory` is required by HubSpot's API description
            # (`BatchReadInputSimplePublicObjectId`), even when no history is wanted.
            body: dict[str, Any] = {
                "properties": list(properties),
                "propertiesWithHistory": [],
                "inputs": [{"id": i} for i in batch],
            }
            if id_property is not None:
                body["idProperty"] = id_property
            # 207 with OBJECT_NOT_FOUND entries is how unknown ids come back: they are skipped.
            _, answer = await self.client.call(
                "POST", path, json=body, params={"archived": "false"}, idempotent=True
            )
            for item in (answer or {}).get("results") or []:
                properties_now = dict(item.get("properties") or {})
                records.append(
                    NativeRecord(
                        id=str(item.get("id")),
                        updated_at=parse_timestamp(item.get("updatedAt")) or EPOCH,
                        fields=properties_now,
                    )
                )
        return records

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        object_spec = spec(entity)
        raw = await self._batch_read(object_spec.object_type, ids, self.properties(entity))
        records = [
            NativeRecord(
                r.id,
                parse_timestamp(r.fields.get(object_spec.modified_property)) or r.updated_at,
                r.fields,
            )
            for r in raw
        ]
        return await self._enrich(entity, records)

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        object_spec = spec(entity)
        wanted = [str(v) for v in dict.fromkeys(values) if v not in (None, "")]
        if not wanted:
            return {}
        properties = list(dict.fromkeys([*self.properties(entity), native_field]))
        found: dict[str, NativeRecord] = {}
        if native_field == OBJECT_ID or native_field in object_spec.unique_properties:
            id_property = None if native_field == OBJECT_ID else native_field
            raw = await self._batch_read(object_spec.object_type, wanted, properties, id_property)
            natives = [self._native(object_spec, {"id": r.id, "properties": r.fields}) for r in raw]
            records = await self._enrich(entity, natives)
        else:
            records = []
            for batch in chunked(wanted, LOOKUP_IN_CHUNK):
                records.extend(await self._search_in(object_spec, native_field, batch, properties))
            records = await self._enrich(entity, records)
        folded = {v.casefold(): v for v in wanted}
        for record in records:
            value = record.id if native_field == OBJECT_ID else record.fields.get(native_field)
            original = folded.get(str(value).casefold()) if value is not None else None
            if original is not None and original not in found:
                found[original] = record
        return found

    async def _search_in(
        self,
        object_spec: ObjectSpec,
        native_field: str,
        values: Sequence[str],
        properties: Sequence[str],
    ) -> list[NativeRecord]:
        # IN on strings needs lowercase values (search guide); matching back is case-blind.
        in_filter = {
            "propertyName": native_field,
            "operator": "IN",
            "values": [v.lower() for v in values],
        }
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [in_filter]}],
            "properties": list(properties),
            "limit": walk.MAX_PAGE_SIZE,
        }
        # Paging by `after` stops at HubSpot's 10,000-result cap (a page past it is a 400).
        pages = self.client.pages(
            "POST",
            self.client.paths.search(object_spec.object_type),
            json=body,
            endpoint_class=SEARCH_CLASS,
            max_pages=walk.RESULT_CAP // walk.MAX_PAGE_SIZE,
        )
        return [
            self._native(object_spec, i) async for page in pages for i in page.get("results") or []
        ]

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        object_spec = spec(entity)
        overlap = dt.timedelta(seconds=self.settings.search_overlap_seconds)
        archived: list[NativeRecord] = []
        if self.settings.read_archived and since is not None:
            archived = await self._archived_since(object_spec, since - overlap)
        archived.sort(key=_order)
        cursor: walk.SearchCursor | None = walk.first_cursor(since, overlap)
        properties = self.properties(entity)
        path = self.client.paths.search(object_spec.object_type)
        while cursor is not None:
            body = walk.build_request(
                cursor, object_spec.modified_property, properties, self.settings.search_page_size
            )
            _, answer = await self.client.call(
                "POST", path, json=body, endpoint_class=SEARCH_CLASS, idempotent=True
            )
            answer = answer or {}
            hits = []
            for item in answer.get("results") or []:
                record = self._native(object_spec, item)
                hits.append(walk.Hit(walk.to_ms(record.updated_at), int(record.id), record))
            more = bool(((answer.get("paging") or {}).get("next") or {}).get("after"))
            released, cursor = walk.step(cursor, hits, more)
            if not released:
                continue
            records: list[NativeRecord] = [hit.raw for hit in released]
            last = _order(records[-1])
            while archived and _order(archived[0]) <= last:
                records.append(archived.pop(0))
            records.sort(key=_order)
            yield Page(await self._enrich(entity, records))
        if archived:
            yield Page(archived)

    async def _archived_since(
        self, object_spec: ObjectSpec, since: dt.datetime
    ) -> list[NativeRecord]:
        """Archived records (recycle bin) archived at or after `since`: search never returns
        archived records; the list endpoint with `archived=true` returns only them."""
        params = {
            "archived": "true",
            "limit": str(ARCHIVED_PAGE),
            "properties": ",".join([object_spec.erp_key_property, CONNECTOR_KEY]),
        }
        path = self.client.paths.objects(object_spec.object_type)
        found: list[NativeRecord] = []
        async for page in self.client.pages("GET", path, params=params):
            for item in page.get("results") or []:
                record = self._native(object_spec, {**item, "archived": True})
                if record.updated_at >= since:
                    found.append(record)
        return found

    # -- writing ------------------------------------------------------------------------------

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        object_spec = spec(entity)
        writes, unwritten, for_now = await self.owners.to_owner_ids(writes)
        results: dict[str, WriteResult] = {}
        gate = asyncio.Semaphore(self.settings.max_in_flight)

        async def run(batch: Sequence[NativeWrite]) -> None:
            async with gate:
                results.update(await self._write_batch(object_spec, batch))

        for round_writes in plan_rounds(writes):
            batches = list(chunked(round_writes, self.settings.batch_size))
            await asyncio.gather(*(run(batch) for batch in batches))
        if not unwritten:  # the common case: every owner translated (or none to translate)
            return [results[w.key] for w in writes]
        return [_with_unwritten(results[w.key], unwritten.get(w.key), for_now) for w in writes]

    async def _write_batch(
        self, object_spec: ObjectSpec, writes: Sequence[NativeWrite]
    ) -> dict[str, WriteResult]:
        split = {w.key: split_fields(w.fields) for w in writes}
        creates = [w for w in writes if w.external_id is None]
        updates = [w for w in writes if w.external_id is not None]
        results: dict[str, WriteResult] = {}
        if creates:
            results.update(await self._send(object_spec, "upsert", creates, split))
        # An update that carries only lines or associations changes no property: no call.
        changed = [w for w in updates if split[w.key].properties]
        results.update(
            {
                w.key: WriteResult(w.key, w.external_id)
                for w in updates
                if not split[w.key].properties
            }
        )
        if changed:
            results.update(await self._send(object_spec, "update", changed, split))
        await self._link(object_spec, writes, split, results)
        return results

    async def _send(
        self,
        object_spec: ObjectSpec,
        operation: str,
        writes: Sequence[NativeWrite],
        split: Mapping[str, Any],
    ) -> dict[str, WriteResult]:
        """One batch call; a whole-batch refusal is bisected so one bad record fails alone."""
        build = upsert_input if operation == "upsert" else update_input
        path = self.client.paths.batch(object_spec.object_type, operation)

        async def send(batch: Sequence[NativeWrite]) -> dict[str, WriteResult]:
            inputs = [build(w, split[w.key].properties) for w in batch]
            _, body = await self.client.call("POST", path, json={"inputs": inputs}, idempotent=True)
            return split_batch_response(batch, body)

        return await bisect_batch(
            writes, send, lambda write, error: failed([write], record_error_from(error))
        )

    async def _link(
        self,
        object_spec: ObjectSpec,
        writes: Sequence[NativeWrite],
        split: Mapping[str, Any],
        results: dict[str, WriteResult],
    ) -> None:
        if all(f.associations is None and f.lines is None for f in split.values()):
            return  # nothing to link (a company's fields carry neither): no pass over results
        ok = {w.key: results[w.key] for w in writes if results[w.key].ok}
        wanted: dict[str, Mapping[str, str | None]] = {}
        replace: set[str] = set()
        lines: dict[str, Any] = {}
        for key, result in ok.items():
            record_id = result.external_id
            assert record_id is not None
            fields = split[key]
            if fields.associations is not None:
                wanted[record_id] = fields.associations
                if not result.created:
                    replace.add(record_id)
            if object_spec.entity is Entity.SALE and fields.lines is not None:
                lines[record_id] = fields.lines
        errors: dict[str, RecordError] = {}
        if wanted:
            errors.update(
                await linking.set_associations(
                    self.client, object_spec.object_type, wanted, replace=replace
                )
            )
        if lines:
            line_errors = await linking.sync_line_items(
                self.client,
                lines,
                self.settings.batch_size,
                read_lines=lambda ids: self._batch_read(LINE_ITEMS, ids, self.line_properties()),
                key_property=LINE_KEY_PROPERTY,
            )
            for deal_id, line_error in line_errors.items():
                errors.setdefault(deal_id, line_error)
        for key, result in ok.items():
            link_error = errors.get(result.external_id or "")
            if link_error is not None:
                results[key] = WriteResult(
                    key=key,
                    external_id=result.external_id,
                    error=link_error,
                    created=result.created,
                )

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        object_spec = spec(entity)
        results: dict[str, WriteResult] = {}
        for batch in chunked(list(dict.fromkeys(ids)), self.settings.batch_size):
            results.update(await self._archive(object_spec, batch))
        return [results[i] for i in ids]

    async def _archive(self, object_spec: ObjectSpec, ids: Sequence[str]) -> dict[str, WriteResult]:
        """One batch archive; a whole-batch refusal is bisected so one bad id fails alone."""
        path = self.client.paths.batch(object_spec.object_type, "archive")

        async def send(batch: Sequence[str]) -> dict[str, WriteResult]:
            try:
                await self.client.call(
                    "POST", path, json={"inputs": [{"id": i} for i in batch]}, idempotent=True
                )
            except HttpRecordError as exc:
                if exc.status != 404:
                    raise
                # 404: already gone, and archiving is what was asked.
            return {i: WriteResult(key=i, external_id=i) for i in batch}

        return await bisect_batch(
            ids, send, lambda i, error: {i: WriteResult(i, i, error=record_error_from(error))}
        )


def _with_unwritten(
    result: WriteResult, unwritten: Mapping[str, str] | None, for_now: bool
) -> WriteResult:
    if not unwritten or not result.ok:
        return result
    return dataclasses.replace(
        result,
        unwritten={**result.unwritten, **unwritten},
        unwritten_for_now=result.unwritten_for_now | (frozenset(unwritten) if for_now else set()),
    )


def _order(record: NativeRecord) -> tuple[dt.datetime, int, str]:
    digits = record.id.isdigit()
    return (record.updated_at, int(record.id) if digits else 0, record.id)


def _line_order(record: NativeRecord) -> tuple[Decimal, Decimal, int]:
    return line_order(record.id, record.fields)


__all__ = ["HubSpotAdapter"]
