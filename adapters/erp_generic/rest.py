"""REST mode: an ERP's JSON API, described per entity in config.yaml, on the shared HTTP layer.

Retries, backoff, rate limits and the status → action table are `connector.http`'s; this module
only knows where records are, how the list endpoint pages, and which endpoint writes.
Pagination styles: page number, offset, cursor token from the body, and the RFC 8288 `Link`
header (`rel="next"`), which is followed only when it stays under `base_url` (the token must
not travel elsewhere).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from adapters.erp_generic.settings import Endpoint, Pagination, RestEntity, RestSettings
from connector.adapter import NativeRecord, NativeWrite, Page, WriteResult
from connector.errors import ConfigurationError, Problem, RecordError
from connector.http import DEFAULT_POLICY, ApiClient, ErrorPolicy, HttpRecordError, StaticToken
from connector.http.paging import (
    JsonCursor,
    LinkHeader,
    Offset,
    PageAnswer,
    PageNumber,
    PageRequest,
    Paginator,
    SinglePage,
    paginate,
)
from connector.mapping.contract import native_value
from connector.model import Entity
from connector.timestamps import as_utc

T = TypeVar("T")
log = logging.getLogger(__name__)

#: A generic REST ERP speaks plain HTTP semantics (RFC 9110 §15): the shared default table.
ERP_REST_POLICY: ErrorPolicy = DEFAULT_POLICY
#: Writes of one batch sent at once (the client's rate limiter still spaces them).
WRITE_CONCURRENCY = 4


def format_since(since: dt.datetime, style: str) -> str:
    """The `since` parameter's value; rounded down so nothing at `since` is missed."""
    utc = since.astimezone(dt.UTC)
    if style == "epoch":
        return str(int(utc.timestamp()))
    if style == "epoch_ms":
        return str(int(utc.timestamp() * 1000))
    if style == "date":
        return utc.date().isoformat()
    return utc.isoformat().replace("+00:00", "Z")


def parse_timestamp(value: Any) -> dt.datetime:
    """An ISO-8601 string or epoch seconds as UTC-aware; naive text is taken as UTC."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float | Decimal):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return as_utc(parsed) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def paginator_for(paging: Pagination, records_path: str, base_url: str) -> Paginator:
    """The configured pagination style as one of the core's paginators."""
    items = tuple(records_path.split(".")) if records_path else ()
    if paging.style == "page":
        return PageNumber(
            items_path=items, param=paging.page_param, start=paging.first_page, size=paging.size
        )
    if paging.style == "offset":
        return Offset(
            paging.size,
            items_path=items,
            offset_param=paging.offset_param,
            limit_param=paging.size_param,
        )
    if paging.style == "cursor":
        return JsonCursor(tuple(paging.cursor_path.split(".")), paging.cursor_param)
    if paging.style == "link":
        return LinkHeader(base_url=base_url)
    return SinglePage()


def next_link(response: httpx.Response, base_url: str) -> str | None:
    """The `rel="next"` target as a path under `base_url`, or None on the last page."""
    answer = PageAnswer(None, response.headers, str(response.request.url))
    following = LinkHeader(base_url=base_url).next_request(PageRequest(""), answer)
    if following is None:
        return None
    query = str(httpx.QueryParams(following.params))
    return following.path + (f"?{query}" if query else "")


def to_record(raw: Mapping[str, Any], spec: RestEntity) -> NativeRecord:
    """One JSON record as a `NativeRecord`; raises `RecordError` when id or timestamp is bad."""
    identifier = native_value(raw, spec.id_field)
    if identifier is None or identifier == "":
        raise RecordError(f"record without {spec.id_field!r}", code="INVALID_RECORD")
    try:
        updated = parse_timestamp(native_value(raw, spec.updated_at_field))
    except ValueError:
        raise RecordError(
            f"record {identifier!r}: {spec.updated_at_field!r} is not a timestamp",
            code="INVALID_RECORD",
        ) from None
    deleted = False
    if spec.deleted_field is not None:
        marker = native_value(raw, spec.deleted_field)
        deleted = marker is not None and marker is not False and marker != 0
    return NativeRecord(id=str(identifier), updated_at=updated, fields=dict(raw), deleted=deleted)


def _valid_records(raw_records: list[Mapping[str, Any]], spec: RestEntity) -> list[NativeRecord]:
    """The page's records; one without a usable id or timestamp is logged and left out (it
    could not be bound or ordered, so the engine could do nothing with it)."""
    records = []
    for raw in raw_records:
        try:
            records.append(to_record(raw, spec))
        except RecordError as error:
            log.warning("skipping an ERP record: %s", error)
    return records


def records_in(body: Any, path: str) -> list[Mapping[str, Any]]:
    found = native_value(body, path) if path else body
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(item, Mapping) for item in found):
        where = f"at {path!r}" if path else "as the body"
        raise ConfigurationError(f"the ERP's list response has no list of records {where}")
    return found


def _path(endpoint: Endpoint, identifier: str | None = None) -> str:
    if identifier is None:
        return endpoint.path
    return endpoint.path.replace("{id}", quote(identifier, safe=""))


class RestBackend:
    """REST mode for `ErpGenericAdapter`."""

    def __init__(
        self,
        name: str,
        settings: RestSettings,
        location: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **client_options: Any,
    ) -> None:
        self.name = name
        self.settings = settings
        self.location = location
        self._transport = transport
        self._client_options = client_options
        self._client: ApiClient | None = None
        #: The configured token (None: the API takes no token); `rest_probe` sends it too.
        self.auth: StaticToken | None = None

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            raise ConfigurationError("the ERP adapter is not open")
        return self._client

    def spec(self, entity: Entity) -> RestEntity:
        try:
            return self.settings.entities[entity]
        except KeyError:
            raise ConfigurationError(f"entity {entity.value!r} is not configured") from None

    async def open(self) -> list[Problem]:
        auth = None
        if self.settings.token_env is not None:
            token = os.environ.get(self.settings.token_env)
            if not token:
                return [
                    Problem(
                        f"{self.location}.token_env",
                        f"environment variable {self.settings.token_env!r} is not set",
                    )
                ]
            auth = StaticToken(SecretStr(token))
        self.auth = auth
        self._client = ApiClient(
            self.settings,
            name=self.name,
            policy=ERP_REST_POLICY,
            auth=auth,
            transport=self._transport,
            **self._client_options,
        )
        return []

    def client_options(self) -> dict[str, Any]:
        """The transport and test hooks the backend's clients are built with."""
        return {"transport": self._transport, **self._client_options}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        spec = self.spec(entity)
        params: dict[str, Any] = {}
        if since is not None and spec.since_param:
            params[spec.since_param] = format_since(since, spec.since_format)
        async for raw_records in self._list(spec, params):
            records = _valid_records(raw_records, spec)
            # The API is asked for oldest-first; a page is sorted in case ties come unordered.
            records.sort(key=lambda record: (record.updated_at, record.id))
            if since is not None:
                records = [r for r in records if r.updated_at >= since]
            if records:
                yield Page(records)

    async def _list(
        self, spec: RestEntity, params: dict[str, Any]
    ) -> AsyncIterator[list[Mapping[str, Any]]]:
        paging = spec.pagination
        if paging.style in ("page", "offset", "cursor"):
            params[paging.size_param] = paging.size

        async def fetch(request: PageRequest) -> PageAnswer:
            response = await self.client.request(
                spec.list.method,
                request.path,
                params=request.params,
                endpoint_class="read",
                idempotent=True,
            )
            return PageAnswer(response.json(), response.headers, str(response.request.url))

        first = PageRequest(spec.list.path, params)
        paginator = paginator_for(paging, spec.records_path, self.settings.base_url)
        async for answer in paginate(fetch, first, paginator):
            records = records_in(answer.body, spec.records_path)
            if records:
                yield records

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        spec = self.spec(entity)
        if spec.get is None:
            raise ConfigurationError(
                f"{self.location}.entities.{entity.value}.get: needed to read single records"
            )
        found = await _bounded(self._get_one(spec, identifier) for identifier in ids)
        return [record for record in found if record is not None]

    async def _get_one(self, spec: RestEntity, identifier: str) -> NativeRecord | None:
        assert spec.get is not None
        try:
            response = await self.client.request(
                spec.get.method, _path(spec.get, identifier), endpoint_class="read"
            )
        except HttpRecordError as error:
            if error.status == 404:
                return None
            raise
        return to_record(response.json(), spec)

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        """Asks the list endpoint for `?{native_field}={value}` and keeps exact matches."""
        spec = self.spec(entity)
        found: dict[str, NativeRecord] = {}
        for value in values:
            async for raw_records in self._list(spec, {native_field: value}):
                for raw in raw_records:
                    if str(native_value(raw, native_field)) == str(value):
                        found.setdefault(str(value), to_record(raw, spec))
        return found

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        spec = self.spec(entity)
        return await _bounded(self._write_one(entity, spec, write) for write in writes)

    async def _write_one(self, entity: Entity, spec: RestEntity, write: NativeWrite) -> WriteResult:
        body = dict(write.fields)
        if spec.sync_key_field is not None:
            body[spec.sync_key_field] = write.key
        target = write.external_id
        if target is None and spec.sync_key_field is not None:
            # A replayed create: the record may already exist under our key.
            existing = await self.lookup(entity, spec.sync_key_field, [write.key])
            if write.key in existing:
                target = existing[write.key].id
        try:
            if target is not None:
                if spec.update is None:
                    raise RecordError(f"{entity.value} has no update endpoint", code="READ_ONLY")
                response = await self.client.request(
                    spec.update.method, _path(spec.update, target), json=body, idempotent=True
                )
                created = False
            else:
                if spec.create is None:
                    raise RecordError(f"{entity.value} has no create endpoint", code="READ_ONLY")
                response = await self.client.request(
                    spec.create.method, _path(spec.create), json=body
                )
                created = True
        except RecordError as refused:
            return WriteResult(write.key, write.external_id, error=refused)
        identifier, updated = self._written(response, spec, target)
        if identifier is None:
            no_id = RecordError("the ERP answered without the record's id", code="NO_ID")
            return WriteResult(write.key, write.external_id, error=no_id)
        return WriteResult(write.key, identifier, created=created, updated_at=updated)

    def _written(
        self, response: httpx.Response, spec: RestEntity, target: str | None
    ) -> tuple[str | None, dt.datetime | None]:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            return target, None
        identifier = native_value(body, spec.id_field)
        try:
            updated = parse_timestamp(native_value(body, spec.updated_at_field))
        except ValueError:
            updated = None
        return (str(identifier) if identifier is not None else target), updated

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        spec = self.spec(entity)
        return await _bounded(self._delete_one(entity, spec, identifier) for identifier in ids)

    async def _delete_one(self, entity: Entity, spec: RestEntity, identifier: str) -> WriteResult:
        if spec.delete is None:
            error = RecordError(f"{entity.value} has no delete endpoint", code="READ_ONLY")
            return WriteResult(identifier, identifier, error=error)
        try:
            await self.client.request(
                spec.delete.method, _path(spec.delete, identifier), idempotent=True
            )
        except HttpRecordError as error:
            if error.status != 404:  # already gone is what we wanted
                return WriteResult(identifier, identifier, error=error)
        return WriteResult(identifier, identifier)

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None  # a JSON API publishes no schema to check field names against

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        return None


async def _bounded(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run coroutines with at most `WRITE_CONCURRENCY` at once, results in input order."""
    gate = asyncio.Semaphore(WRITE_CONCURRENCY)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))
