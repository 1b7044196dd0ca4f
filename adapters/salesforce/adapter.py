"""`SalesforceAdapter`: the connector's adapter contract over Salesforce's REST API.

customer ↔ Account, contact ↔ Contact, sale ↔ Opportunity with its OpportunityLineItem lines
(native shapes in objects.py). Reads are SOQL on `SystemModstamp` with the `(SystemModstamp,
Id)` tie-break, paged by `nextRecordsUrl`; deleted rows come from `queryAll`. Writes go through
sObject Collections, 200 a call with `allOrNone: false`: new records are upserted by the
`Connector_Key__c` external id (a replayed create updates), bound ones are updated by Id (a
record matched in a pre-populated org has no key yet). See BEHAVIOR.md for the API's surprises.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from connector.adapter import (
    AdapterContext,
    Capabilities,
    NativeRecord,
    NativeWrite,
    Page,
    WebhookVerifier,
    WriteResult,
)
from connector.adapter_base import BaseAdapter
from connector.batching import bisect_batch, chunked
from connector.errors import ConfigurationError, Problem, RecordError, TransientError
from connector.http import DEFAULT_REGISTRY, LimiterRegistry, TransportError
from connector.http.ratelimit import Sleep
from connector.model import Entity
from connector.native_schema import NativeSchema
from connector.timestamps import EPOCH, MonotonicClock, parse_timestamp

from . import bulk, bulk_query, soql, terms
from .client import SalesforceClient
from .errors import LOCKED, record_error
from .ids import is_record_id, to18
from .lines import PriceBook, read_lines, replace_lines
from .objects import (
    CONNECTOR_KEY,
    CURRENCY,
    LINE_OBJECT,
    LINES,
    MODSTAMP,
    STAGE_OUTCOME,
    ObjectSpec,
    spec,
    stage_outcome,
)
from .owners import OwnerDirectory
from .settings import SalesforceSettings
from .webhooks import OutboundMessageVerifier

log = logging.getLogger(__name__)
IN_CHUNK = 100
#: Record ids per `WHERE Id IN (…)`: 200 ids of 21 characters stays far under the 16 KB URI limit.
ID_CHUNK = 200


class SalesforceAdapter(BaseAdapter[SalesforceSettings, SalesforceClient]):
    """One Salesforce org."""

    kind: ClassVar[str] = "salesforce"
    Settings: ClassVar[type[BaseModel]] = SalesforceSettings

    def __init__(
        self,
        name: str,
        settings: SalesforceSettings,
        *,
        base_dir: Path = Path("."),
        transport: httpx.AsyncBaseTransport | None = None,
        registry: LimiterRegistry = DEFAULT_REGISTRY,
        clock: MonotonicClock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(name, settings)
        self._base_dir = base_dir
        self._transport = transport
        self._registry = registry
        self._clock = clock
        self._sleep = sleep
        self.owners = OwnerDirectory(lambda: self.client, clock=clock)
        self._book: PriceBook | None = None
        self._default_currency_code: str | None = None
        self.capabilities = Capabilities(
            entities=frozenset(Entity),
            deletes=True,
            webhooks=settings.outbound_messages is not None,
            batch_size=settings.write_batch,
            max_in_flight=settings.max_in_flight,
            upsert_matches={entity: CONNECTOR_KEY for entity in Entity},
        )

    @classmethod
    def from_settings(
        cls, name: str, settings: BaseModel, context: AdapterContext
    ) -> SalesforceAdapter:
        return cls(name, cls.coerce_settings(settings), base_dir=context.base_dir)

    async def connect(self) -> SalesforceClient:
        client = SalesforceClient(
            self.settings,
            name=self.name,
            base_dir=self._base_dir,
            transport=self._transport,
            registry=self._registry,
            clock=self._clock,
            sleep=self._sleep,
        )
        try:
            await client.connect()
        except BaseException:
            await client.aclose()
            raise
        return client

    async def open(self) -> Sequence[Problem] | None:
        """Connect; a refused or unreachable token endpoint raises as before, with the
        sentence `probe` gives (what to fix) rather than the bare refusal."""
        from .auth import TokenRefused
        from .probe import login_unreachable, token_fix

        try:
            return await super().open()
        except TokenRefused as refused:
            raise ConfigurationError(token_fix(self, refused)) from None
        except TransientError as error:
            raise TransientError(login_unreachable(self, str(error))) from None

    async def probe(self, entities: frozenset[Entity]) -> list[Problem]:
        """A fresh token and one describeGlobal call (`probe.py`); what is wrong, if anything."""
        from .probe import probe

        return await probe(self, entities)

    @property
    def book(self) -> PriceBook:
        if self._book is None:
            self._book = PriceBook(
                self.client, self.settings.pricebook, self.settings.multi_currency
            )
        return self._book

    # -- fields -------------------------------------------------------------------------------

    def fields(self, entity: Entity) -> list[str]:
        extra = self.settings.extra_fields.get(entity.value, [])
        currency = [CURRENCY] if self.settings.multi_currency else []
        return list(dict.fromkeys([*spec(entity).fields, *currency, *extra]))

    # The convergence check's hooks (terms.py): what Salesforce stores and computes.
    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        return terms.normalize_native(entity, field, value, line=line)

    def computed_native(
        self, entity: Entity, fields: Mapping[str, Any], *, line: bool
    ) -> dict[str, Any]:
        return terms.computed_native(entity, fields, line=line)

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        return terms.native_line_fields(entity)

    def webhook_verifier(self) -> WebhookVerifier | None:
        messages = self.settings.outbound_messages
        if messages is None:
            return None
        return OutboundMessageVerifier(
            messages.organization_id, max_body_bytes=messages.max_body_bytes
        )

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return frozenset([*self.fields(entity), *spec(entity).pseudo, "Owner"])

    async def describe_fields(self, entity: Entity) -> NativeSchema | None:
        """The org's describe of the entity's sObject as the native shape (describe.py)."""
        from .describe import native_schema

        described = await self.client.call("GET", f"/sobjects/{spec(entity).sobject}/describe")
        lines = None
        if entity is Entity.SALE:
            lines = await self.client.call("GET", f"/sobjects/{LINE_OBJECT}/describe")
        read = [name for name in self.fields(entity) if "." not in name]
        return native_schema(entity, described or {}, lines, read=read)

    # -- reading ------------------------------------------------------------------------------

    def _native(self, entity: Entity, row: Mapping[str, Any]) -> NativeRecord:
        fields = {k: _plain(v) for k, v in row.items() if k != "attributes"}
        if fields.get("OwnerId") and fields.get("OwnerId") == self.client.user_id:
            fields["Owner"] = None  # owned by the connector itself: no rep assigned
        if entity is Entity.SALE:
            fields[STAGE_OUTCOME] = stage_outcome(fields.get("IsWon"), fields.get("IsClosed"))
        return NativeRecord(
            id=to18(str(row["Id"])),
            updated_at=parse_timestamp(row.get(MODSTAMP)) or EPOCH,
            fields=fields,
            deleted=bool(row.get("IsDeleted")),
        )

    async def _with_lines(self, entity: Entity, records: list[NativeRecord]) -> list[NativeRecord]:
        live = [r.id for r in records if not r.deleted]
        if entity is not Entity.SALE or not live:
            return records
        lines = await read_lines(self.client, live)
        return [
            NativeRecord(r.id, r.updated_at, {**r.fields, LINES: lines.get(r.id, [])}, r.deleted)
            if not r.deleted
            else r
            for r in records
        ]

    async def _select(
        self, entity: Entity, where: str, *, include_deleted: bool = False
    ) -> list[NativeRecord]:
        object_spec = spec(entity)
        fields = self.fields(entity) + (["IsDeleted"] if include_deleted else [])
        text = f"{soql.select(fields, object_spec.sobject)} WHERE {where}"
        rows = [row async for row in self.client.query(text, include_deleted=include_deleted)]
        return [self._native(entity, row) for row in rows]

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        wanted = list(dict.fromkeys(to18(i) for i in ids if is_record_id(str(i))))
        records: list[NativeRecord] = []
        for batch in chunked(wanted, ID_CHUNK):
            records += await self._select(entity, soql.in_list("Id", list(batch)))
        return await self._with_lines(entity, records)

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        wanted = [str(v) for v in dict.fromkeys(values) if v not in (None, "")]
        if native_field == "Id":
            wanted = [to18(v) for v in wanted if is_record_id(v)]
        records: list[NativeRecord] = []
        for batch in chunked(wanted, IN_CHUNK):
            records += await self._select(entity, soql.in_list(native_field, list(batch)))
        records = await self._with_lines(entity, records)
        folded = {v.casefold(): v for v in wanted}  # SOQL's = is case-insensitive
        found: dict[str, NativeRecord] = {}
        for record in sorted(records, key=_order):
            value = record.id if native_field == "Id" else _dig(record.fields, native_field)
            original = folded.get(str(value).casefold()) if value is not None else None
            if original is not None and original not in found:
                found[original] = record
        return found

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        if since is None and await self._pull_in_bulk(entity):
            async for page in self._bulk_pull(entity):
                yield page
            return
        deleted: list[NativeRecord] = []
        if self.settings.read_deleted and since is not None:
            deleted = [r async for r in self._changed(entity, since, deleted=True)]
        pending: list[NativeRecord] = []
        async for record in self._changed(entity, since, deleted=False):
            pending.append(record)
            if len(pending) >= self.settings.query_batch_size:
                yield Page(await self._merge(entity, pending, deleted, final=False))
                pending = []
        last = await self._merge(entity, pending, deleted, final=True)
        if last:
            yield Page(last)

    async def _pull_in_bulk(self, entity: Entity) -> bool:
        """A pull from the beginning of at least `bulk_query_threshold` rows: one COUNT()."""
        threshold = self.settings.bulk_query_threshold
        if threshold is None:
            return False
        text = f"SELECT COUNT() FROM {soql.name(spec(entity).sobject)}"
        answer = await self.client.call("GET", "/query", params={"q": text})
        return int((answer or {}).get("totalSize") or 0) >= threshold

    async def _bulk_pull(self, entity: Entity) -> AsyncIterator[Page]:
        """Every row through one Bulk API 2.0 query job, in (SystemModstamp, Id) order."""
        object_spec = spec(entity)
        types = await bulk_query.field_types(self.client, object_spec.sobject)
        rows = await bulk_query.query_rows(
            self.client,
            soql.select(self.fields(entity), object_spec.sobject),
            types,
            sleep=self._sleep,
            clock=self._clock,
            page_size=self.settings.bulk_query_page,
        )
        records = sorted((self._native(entity, row) for row in rows), key=_order)
        log.info("Salesforce: %s %s rows read through a Bulk query job", len(records), entity)
        for batch in chunked(records, self.settings.query_batch_size):
            yield Page(await self._with_lines(entity, list(batch)))

    async def _merge(
        self,
        entity: Entity,
        live: list[NativeRecord],
        deleted: list[NativeRecord],
        *,
        final: bool,
    ) -> list[NativeRecord]:
        records = await self._with_lines(entity, live)
        last = _order(live[-1]) if live else None
        while deleted and (final or (last is not None and _order(deleted[0]) <= last)):
            records.append(deleted.pop(0))
        return sorted(records, key=_order)

    async def _changed(
        self, entity: Entity, since: dt.datetime | None, *, deleted: bool
    ) -> AsyncIterator[NativeRecord]:
        """Every changed row, in chunks of `query_chunk` resumed after the last (stamp, Id)."""
        object_spec = spec(entity)
        fields = self.fields(entity) + (["IsDeleted"] if deleted else [])
        after: tuple[dt.datetime, str] | None = None
        while True:
            text = soql.changes_query(
                fields,
                object_spec.sobject,
                since=since,
                after=after,
                limit=self.settings.query_chunk,
                deleted=deleted,
            )
            count = 0
            async for row in self.client.query(text, include_deleted=deleted):
                record = self._native(entity, row)
                count += 1
                after = (record.updated_at, str(row["Id"]))
                yield record
            if count < self.settings.query_chunk:
                return

    # -- writing ------------------------------------------------------------------------------

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        object_spec = spec(entity)
        keys = [w.key for w in writes]
        results: dict[str, WriteResult] = {}
        writes = await self.owners.to_owner_ids(writes)
        currencies: dict[str, str | None] = {}
        if entity is Entity.SALE:
            writes, currencies = await self._check_products(writes, results)
        elif len(writes) >= self.settings.bulk_threshold:
            results.update(await self._bulk(object_spec, writes))
            return [results[key] for key in keys]
        gate = asyncio.Semaphore(self.settings.max_in_flight)

        async def run(batch: Sequence[NativeWrite]) -> None:
            async with gate:
                results.update(await self._write_batch(object_spec, batch))

        await asyncio.gather(*(run(b) for b in chunked(writes, self.settings.batch_size)))
        if entity is Entity.SALE:
            await self._write_lines(writes, results, currencies)
        return [results[key] for key in keys]

    async def _bulk(
        self, object_spec: ObjectSpec, writes: Sequence[NativeWrite]
    ) -> dict[str, WriteResult]:
        """Creates as one upsert job by Connector_Key__c, bound records as one update job."""
        results: dict[str, WriteResult] = {}
        for update in (False, True):
            group = [w for w in writes if (w.external_id is not None) == update]
            if not group:
                continue
            rows = []
            for write in group:
                row = {
                    k: v for k, v in _body(object_spec, write, update).items() if k != "attributes"
                }
                if update:
                    row["Id"] = row.pop("id")
                rows.append(row)
            outcomes = await bulk.run_job(
                self.client,
                object_spec.sobject,
                "update" if update else "upsert",
                rows,
                key_column=CONNECTOR_KEY,
                external_id=None if update else CONNECTOR_KEY,
                sleep=self._sleep,
                clock=self._clock,
            )
            for write in group:
                outcome = outcomes.get(write.key)
                if outcome is None:
                    error = RecordError("Bulk job returned no result for it", code="MISSING_RESULT")
                    results[write.key] = WriteResult(write.key, write.external_id, error=error)
                elif outcome.error is not None:
                    results[write.key] = WriteResult(
                        write.key, write.external_id, error=outcome.error
                    )
                else:
                    results[write.key] = WriteResult(
                        write.key, outcome.record_id, created=outcome.created
                    )
        return results

    async def _check_products(
        self, writes: Sequence[NativeWrite], results: dict[str, WriteResult]
    ) -> tuple[list[NativeWrite], dict[str, str | None]]:
        """The sales whose every line has a price book entry (in the sale's currency), and
        those currencies by key; the others fail here, before anything is written."""
        currencies = await self._sale_currencies([w for w in writes if w.fields.get(LINES)])
        keep = []
        for write in writes:
            lines = write.fields.get(LINES)
            currency = currencies.get(write.key)
            problem = await self.book.missing(lines, currency) if lines else None
            if problem is not None:
                results[write.key] = WriteResult(write.key, write.external_id, error=problem)
            else:
                keep.append(write)
        return keep, currencies

    async def _sale_currencies(self, writes: Sequence[NativeWrite]) -> dict[str, str | None]:
        """Each sale's currency in a multi-currency org (none elsewhere): the one written, else
        the opportunity's own, else what Salesforce gives a new record: its creator's (our
        integration user's) personal currency."""
        if not writes or not await self.book.multi_currency():
            return {}
        found: dict[str, str | None] = {
            w.key: str(w.fields[CURRENCY]).upper() for w in writes if w.fields.get(CURRENCY)
        }
        bound = [w for w in writes if w.key not in found and w.external_id]
        current: dict[str, str] = {}
        for batch in chunked([to18(str(w.external_id)) for w in bound], ID_CHUNK):
            where = soql.in_list("Id", list(batch))
            text = f"{soql.select(['Id', CURRENCY], 'Opportunity')} WHERE {where}"
            async for row in self.client.query(text):
                current[to18(str(row["Id"]))] = str(row[CURRENCY])
        for write in bound:
            found[write.key] = current.get(to18(str(write.external_id)))
        if any(w.key not in found for w in writes):
            default = await self._default_currency()
            found.update({w.key: default for w in writes if w.key not in found})
        return found

    async def _default_currency(self) -> str | None:
        if self._default_currency_code is None:
            user = self.client.user_id
            if user is None:
                return None
            text = f"SELECT DefaultCurrencyIsoCode FROM User WHERE {soql.in_list('Id', [user])}"
            rows = [row async for row in self.client.query(text)]
            self._default_currency_code = str(rows[0]["DefaultCurrencyIsoCode"]) if rows else ""
        return self._default_currency_code or None

    async def _write_batch(
        self, object_spec: ObjectSpec, writes: Sequence[NativeWrite]
    ) -> dict[str, WriteResult]:
        creates = [w for w in writes if w.external_id is None]
        updates = [w for w in writes if w.external_id is not None]
        results: dict[str, WriteResult] = {}
        if creates:
            results.update(await bisect_batch(creates, self._sender(object_spec, False), _failed))
        if updates:
            results.update(await bisect_batch(updates, self._sender(object_spec, True), _failed))
        return results

    def _sender(
        self, object_spec: ObjectSpec, update: bool
    ) -> Callable[[Sequence[NativeWrite]], Awaitable[dict[str, WriteResult]]]:
        async def send(batch: Sequence[NativeWrite]) -> dict[str, WriteResult]:
            return await self._send(object_spec, batch, update)

        return send

    async def _send(
        self, object_spec: ObjectSpec, writes: Sequence[NativeWrite], update: bool
    ) -> dict[str, WriteResult]:
        """One Collections call; records answered UNABLE_TO_LOCK_ROW are sent again."""
        results: dict[str, WriteResult] = {}
        pending = list(writes)
        for attempt in range(self.settings.limits.lock_retries + 1):
            body = {
                "allOrNone": False,
                "records": [_body(object_spec, w, update) for w in pending],
            }
            if update:
                answer = await self.client.call(
                    "PATCH", "/composite/sobjects", json=body, idempotent=True
                )
            else:
                answer = await self.client.call(
                    "PATCH",
                    f"/composite/sobjects/{object_spec.sobject}/{CONNECTOR_KEY}",
                    json=body,
                    idempotent=True,
                )
            locked = []
            for write, result in zip(pending, answer or [], strict=False):
                outcome = _result(write, result)
                if outcome.error is not None and outcome.error.code == LOCKED:
                    locked.append(write)
                results[write.key] = outcome
            if not locked or attempt == self.settings.limits.lock_retries:
                break
            pending = locked
            await self._sleep(0.5 * 2**attempt)
        for write in writes:
            results.setdefault(
                write.key,
                WriteResult(
                    write.key,
                    write.external_id,
                    error=RecordError(
                        "Salesforce answered fewer results than records", code="MISSING_RESULT"
                    ),
                ),
            )
        return results

    async def _write_lines(
        self,
        writes: Sequence[NativeWrite],
        results: dict[str, WriteResult],
        currencies: Mapping[str, str | None],
    ) -> None:
        wanted = {}
        by_opportunity: dict[str, str | None] = {}
        for write in writes:
            result = results[write.key]
            lines = write.fields.get(LINES)
            if result.ok and result.external_id and lines is not None:
                wanted[result.external_id] = list(lines)
                by_opportunity[result.external_id] = currencies.get(write.key)
        if not wanted:
            return
        try:
            errors = await self._replace_lines(wanted, by_opportunity)
        except (RecordError, TransientError) as refused:
            # The sales themselves are written: they keep their ids (and so their bindings)
            # and fail as a whole for their lines, retryable when the refusal was transient.
            whole = RecordError(
                f"lines not replaced: {refused}",
                code=getattr(refused, "code", None) or "LINES_FAILED",
                retryable=isinstance(refused, TransientError),
            )
            errors = dict.fromkeys(wanted, whole)
        for write in writes:
            result = results[write.key]
            error = errors.get(result.external_id or "")
            if error is not None:
                results[write.key] = WriteResult(
                    write.key, result.external_id, error=error, created=result.created
                )

    async def _replace_lines(
        self, wanted: dict[str, list[Any]], currencies: dict[str, str | None]
    ) -> dict[str, RecordError]:
        try:
            return await replace_lines(self.client, self.book, wanted, currencies)
        except TransportError as lost:
            if not lost.sent:
                raise
            # The Composite call's answer was lost and it holds creates, so it is not sent
            # again as it was; replacing anew from a fresh read of the lines is safe whatever
            # the lost call did (duplicated lines are deleted with the rest).
            log.warning("Salesforce: answer to a line replacement lost; replacing again")
            return await replace_lines(self.client, self.book, wanted, currencies)

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        for batch in chunked(list(dict.fromkeys(ids)), self.settings.batch_size):
            answer = await self.client.call(
                "DELETE",
                "/composite/sobjects",
                params={"ids": ",".join(batch), "allOrNone": "false"},
                idempotent=True,
            )
            for record_id, result in zip(batch, answer or [], strict=False):
                error = None
                if not result.get("success"):
                    error = record_error(result.get("errors") or [])
                    if error.code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"):
                        error = None  # already gone: that is what was asked
                results[record_id] = WriteResult(record_id, record_id, error=error)
        return [
            results.get(i) or WriteResult(i, i, error=RecordError("no result", code="MISSING"))
            for i in ids
        ]


def _failed(write: NativeWrite, error: RecordError) -> dict[str, WriteResult]:
    return {write.key: WriteResult(write.key, write.external_id, error=error)}


def _body(object_spec: ObjectSpec, write: NativeWrite, update: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"attributes": {"type": object_spec.sobject}}
    body.update({k: _wire(v) for k, v in write.fields.items() if k not in (LINES, STAGE_OUTCOME)})
    body[CONNECTOR_KEY] = write.key
    if update:
        assert write.external_id is not None
        body["id"] = to18(write.external_id)
    return body


_PLAIN = (str, int, float, bool, type(None))


def _wire(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _result(write: NativeWrite, result: Mapping[str, Any]) -> WriteResult:
    if result.get("success"):
        return WriteResult(
            write.key, to18(str(result["id"])), created=bool(result.get("created", False))
        )
    return WriteResult(write.key, write.external_id, error=record_error(result.get("errors") or []))


def _plain(value: Any) -> Any:
    """A relationship object without its `attributes`."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if k != "attributes"}
    return value


def _dig(fields: Mapping[str, Any], dotted: str) -> Any:
    value: Any = fields
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _order(record: NativeRecord) -> tuple[dt.datetime, str]:
    return (record.updated_at, record.id)


__all__ = ["SalesforceAdapter"]
