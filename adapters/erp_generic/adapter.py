"""`ErpGenericAdapter`: the engine's face of an ERP reached by SQL or REST, chosen by `mode`.

SQL mode runs the synchronous SQLAlchemy work of `sql.SqlStore` in worker threads, one short
call per page or batch, so the event loop (webhooks, other routes) never waits on the ERP.
REST mode is `rest.RestBackend` on the shared HTTP layer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import sqlalchemy as sa
from pydantic import BaseModel

from adapters.erp_generic.ahead import PageTaker
from adapters.erp_generic.api import ApiWriter, load_writer
from adapters.erp_generic.checksum import ChecksumReader
from adapters.erp_generic.dberrors import database_failure
from adapters.erp_generic.history import refresh_history
from adapters.erp_generic.reader import PlanReader
from adapters.erp_generic.rest import RestBackend
from adapters.erp_generic.schema import EntityTables, reflect_schema
from adapters.erp_generic.settings import ErpGenericSettings, RestSettings, SqlSettings
from adapters.erp_generic.sql import SqlStore
from adapters.erp_generic.sql_engine import make_engine
from adapters.erp_generic.warm import give_back, take_engine
from adapters.erp_generic.webhooks import StandardWebhooksVerifier
from connector.adapter import (
    AdapterContext,
    Capabilities,
    NativeRecord,
    NativeWrite,
    Page,
    WebhookVerifier,
    WriteResult,
)
from connector.dburl import MISSING_DATABASE_HINT, normalise_url, sqlite_file
from connector.errors import ConfigurationError, ConnectorError, InvalidConfiguration, Problem
from connector.mapping.contract import MapperSource
from connector.model import Entity
from connector.timestamps import WallClock, utc_now


class Backend(Protocol):
    async def open(self) -> list[Problem]: ...

    async def close(self) -> None: ...

    def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]: ...

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]: ...

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]: ...

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]: ...

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]: ...

    def native_fields(self, entity: Entity) -> frozenset[str] | None: ...

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None: ...


class SqlBackend:
    """SQL mode: reflect on open, then every call is one thread hop into `SqlStore`."""

    def __init__(
        self, settings: SqlSettings, context: AdapterContext, location: str, clock: WallClock
    ) -> None:
        self.settings = settings
        self.context = context
        self.location = location
        self.clock = clock
        self._store: SqlStore | None = None
        self._columns: dict[Entity, frozenset[str]] | None = None
        self._line_columns: dict[Entity, frozenset[str]] = {}
        #: The last read's plan readers and checksum scanners, per entity (their counts).
        self.readers: dict[Entity, PlanReader] = {}
        self.scanners: dict[Entity, ChecksumReader] = {}
        self._writer: ApiWriter | None = None
        self._writer_lock = asyncio.Lock()
        self._types: dict[Entity, dict[str, type | None]] | None = None

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            raise ConfigurationError("the ERP adapter is not open")
        return self._store

    async def open(self) -> list[Problem]:
        return await asyncio.to_thread(self._open)

    async def _api_writer(self) -> ApiWriter:
        """The API writer, logged in on the first write or probe, not on open: opening the
        adapter (tests, previews, a route that only reads) needs no session in the ERP."""
        async with self._writer_lock:
            if self._writer is None:
                assert self.settings.api is not None  # settings validation requires it
                writer = load_writer(self.settings.api)
                try:
                    await writer.open()
                except BaseException:
                    await writer.close()
                    raise
                self._writer = writer
            return self._writer

    def _open(self) -> list[Problem]:
        url = normalise_url(self.settings.url.get_secret_value(), "url")
        path = sqlite_file(url, self.context.base_dir)
        if path is not None and not path.is_file():
            # Connecting would create an empty file and then report every table missing.
            return [
                Problem(
                    f"{self.location}.url",
                    f"the ERP database {path.resolve()} does not exist; {MISSING_DATABASE_HINT}",
                )
            ]
        # An engine this process made from the same settings, if one is idle: its compiled
        # statements are kept (warm.py). The schema is reflected again all the same.
        engine = take_engine(self.settings, self.context.base_dir)
        try:
            with engine.connect() as connection:
                schema, problems = reflect_schema(connection, self.settings, self.location)
        except sa.exc.DBAPIError as error:
            engine.dispose()
            raise database_failure(error, "the connection") from error
        if problems:
            engine.dispose()
            return problems
        self._store = SqlStore(engine, schema, self.settings, clock=self.clock)
        return []

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()
        if self._store is not None:
            # Its connections closed, the engine is kept for the next open (warm.py).
            engine, self._store = self._store.engine, None
            await asyncio.to_thread(give_back, engine, self.settings, self.context.base_dir)

    async def probe(self, entities: frozenset[Entity]) -> list[Problem]:
        problems = await asyncio.to_thread(self._probe, entities)
        api = [e for e in sorted(entities) if self._writes_by_api(e)]
        if api and self.settings.api is not None:
            try:  # `connector check` proves the API login works, as it does the tables
                await self._api_writer()
            except ConnectorError as error:
                problems.append(Problem(f"{self.location}.api", str(error)))
        return problems

    def _writes_by_api(self, entity: Entity) -> bool:
        config = self.settings.entities.get(entity)
        return config is not None and config.write == "api"

    def _probe(self, entities: frozenset[Entity]) -> list[Problem]:
        """Read one row of every table the entities use: reflection works without SELECT."""
        problems = []
        for entity in sorted(entities):
            if entity not in self.store.schema.entities:
                continue
            tables = self.store.tables(entity)
            for table in (tables.table, tables.lines, tables.change_log):
                if table is None:
                    continue
                try:
                    with self.store.engine.connect() as connection:
                        connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1))
                except sa.exc.DBAPIError as error:
                    failure = database_failure(error, f"reading table {table.name!r}")
                    problems.append(
                        Problem(
                            f"{self.location}.entities.{entity.value}",
                            f"{failure}; grant the connector's database user SELECT on it",
                        )
                    )
        return problems

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        if entity is Entity.CUSTOMER and self.settings.refresh_history is not None:
            await asyncio.to_thread(self._refresh_history, since)
        pages = PageTaker(self._pages(entity, since), self.settings.page_size)
        # Fetch the next page while the engine maps this one: the database's latency (a
        # network round trip on a server database) overlaps with our CPU work. The last page
        # comes with the read's end (`ahead.py`): no thread call to find there is no more.
        ahead = asyncio.ensure_future(asyncio.to_thread(pages.take))
        try:
            while (records := await ahead) is not None:
                last = pages.ended  # read while no thread is taking
                if not last:
                    ahead = asyncio.ensure_future(asyncio.to_thread(pages.take))
                yield Page(records)
                if last:
                    return
        finally:
            # A reader that stops early: let the page in flight finish (a thread cannot be
            # cancelled) so no connection outlives the read, and collect its outcome.
            if not ahead.done():
                await asyncio.wait({ahead})
            if not ahead.cancelled():
                ahead.exception()

    def _pages(self, entity: Entity, since: dt.datetime | None) -> Iterator[list[NativeRecord]]:
        """The entity's change pages: the plain table, a `read:` plan, or checksum mode."""
        store = self.store
        plan = store.tables(entity).plan
        if plan is None:
            return store.iter_pages(entity, since)
        self.readers[entity] = reader = PlanReader(store.engine, plan, self.settings.page_size)
        if plan.checksum is None:
            return reader.pages(since)
        system = self.location.split(".")[1]
        scanner = ChecksumReader(reader, self.context.row_hashes, system, self.clock)
        self.scanners[entity] = scanner
        return scanner.pages(since)

    def _refresh_history(self, since: dt.datetime | None) -> int:
        store = self.store
        customers = store.tables(Entity.CUSTOMER)
        orders, invoices = store.schema.orders, store.schema.invoices
        assert orders is not None and invoices is not None, "checked when the schema was read"
        try:
            with store.engine.begin() as connection:
                return refresh_history(
                    connection,
                    customers.table,
                    orders,
                    invoices,
                    since=since,
                    now=self.clock(),
                    customer_key=customers.config.primary_key,
                    updated_at=customers.config.updated_at,
                )
        except sa.exc.DBAPIError as error:
            raise database_failure(error, "refreshing customer history") from error

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        plan = self.store.tables(entity).plan
        if plan is not None:
            reader = PlanReader(self.store.engine, plan, self.settings.page_size)
            return await asyncio.to_thread(reader.read, ids, self.clock())
        return await asyncio.to_thread(self.store.read, entity, ids)

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        tables = self.store.tables(entity)
        if tables.plan is not None:  # through the plan: related fields, filter, change value
            reader = PlanReader(self.store.engine, tables.plan, self.settings.page_size)
            return await asyncio.to_thread(reader.lookup, native_field, values, self.clock())
        return await asyncio.to_thread(self.store.lookup, entity, native_field, values)

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        config = self.store.tables(entity).config
        if config.write == "api" and self.settings.api is not None:
            writer = await self._api_writer()
            return await writer.upsert(entity, writes, config.api)
        return await asyncio.to_thread(self.store.upsert, entity, writes)

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return await asyncio.to_thread(self.store.delete, entity, ids)

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        """The entity's columns (plus `lines`), so mapping files are checked against them.

        Before `open` (as `connector check` asks) the tables are reflected once, briefly, on a
        connection of their own; when that fails the answer is None and `open` reports why.
        """
        if self._store is not None:
            if entity not in self._store.schema.entities:
                return None
            return self._store.columns(entity)
        if self._columns is None:
            self._columns = self._reflect_columns()
        return self._columns.get(entity)

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        """The columns of the entity's lines table, when it has one (as `native_fields`)."""
        if self._store is not None:
            tables = self._store.schema.entities.get(entity)
            return None if tables is None else _line_keys(tables)
        if self._columns is None:
            self._columns = self._reflect_columns()
        return self._line_columns.get(entity)

    def native_types(self, entity: Entity) -> dict[str, type | None] | None:
        """Each column's Python type, for the mapping type check (None: not known)."""
        if self._types is None:
            self._reflect_columns()
        return (self._types or {}).get(entity)

    def _reflect_columns(self) -> dict[Entity, frozenset[str]]:
        url = normalise_url(self.settings.url.get_secret_value(), "url")
        path = sqlite_file(url, self.context.base_dir)
        if path is not None and not path.is_file():
            return {}  # connecting would create the file; `open` says it is missing
        engine = make_engine(self.settings, self.context.base_dir)
        try:
            with engine.connect() as connection:
                schema, problems = reflect_schema(connection, self.settings, self.location)
        except (sa.exc.DBAPIError, ConfigurationError):
            return {}
        finally:
            engine.dispose()
        if problems:
            return {}
        self._line_columns = {
            entity: keys
            for entity, tables in schema.entities.items()
            if (keys := _line_keys(tables)) is not None
        }
        self._types = {
            entity: {column.name: _python_type(column) for column in tables.table.columns}
            for entity, tables in schema.entities.items()
        }
        return {
            entity: SqlStore(engine, schema, self.settings).columns(entity)
            for entity in schema.entities
        }


def _line_keys(tables: EntityTables) -> frozenset[str] | None:
    """A lines table's columns, plus the related fields a read plan adds to each line."""
    if tables.lines is None:
        return None
    if tables.plan is not None and tables.plan.line_columns:
        return frozenset(str(column.key) for column in tables.plan.line_columns)
    return frozenset(tables.lines.c.keys())


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        found: type = column.type.python_type
    except NotImplementedError:
        return None
    return found


def capabilities_for(settings: SqlSettings | RestSettings) -> Capabilities:
    """What the configured ERP offers, decided from the settings alone (before connecting)."""
    entities = frozenset(settings.entities)
    if isinstance(settings, SqlSettings):
        deletes = any(
            e.soft_delete or e.change_log or e.hard_delete for e in settings.entities.values()
        )
        matches = {k: e.sync_key for k, e in settings.entities.items() if e.sync_key}
        backend = normalise_url(settings.url.get_secret_value(), "url").get_backend_name()
        # SQLite has one writer at a time: parallel write transactions would only queue.
        in_flight = 1 if backend == "sqlite" else 4
        return Capabilities(
            entities=entities,
            deletes=deletes,
            webhooks=settings.webhooks is not None,
            batch_size=settings.batch_size,
            max_in_flight=in_flight,
            upsert_matches=matches,
        )
    rest_deletes = any(e.deleted_field or e.delete for e in settings.entities.values())
    rest_matches = {k: e.sync_key_field for k, e in settings.entities.items() if e.sync_key_field}
    writable = all(e.create or e.update for e in settings.entities.values())
    return Capabilities(
        entities=entities,
        write=writable,
        deletes=rest_deletes,
        webhooks=settings.webhooks is not None,
        batch_size=settings.batch_size,
        upsert_matches=rest_matches,
    )


class ErpGenericAdapter:
    """Any ERP reached by SQL (tables or views) or a REST/JSON API, configured not coded."""

    kind: ClassVar[str] = "erp_generic"
    Settings: ClassVar[type[BaseModel]] = ErpGenericSettings

    def __init__(
        self,
        name: str,
        settings: SqlSettings | RestSettings,
        context: AdapterContext,
        *,
        clock: WallClock = utc_now,
        **rest_options: Any,
    ) -> None:
        self.name = name
        self.settings = settings
        self.capabilities = capabilities_for(settings)
        self.location = f"systems.{name}.settings"
        self._opened = False
        self._backend: Backend
        if isinstance(settings, SqlSettings):
            self._backend = SqlBackend(settings, context, self.location, clock)
        else:
            self._backend = RestBackend(name, settings, self.location, **rest_options)

    @classmethod
    def from_settings(
        cls, name: str, settings: BaseModel, context: AdapterContext
    ) -> ErpGenericAdapter:
        if isinstance(settings, ErpGenericSettings):
            return cls(name, settings.root, context)
        if isinstance(settings, SqlSettings | RestSettings):
            return cls(name, settings, context)
        raise ConfigurationError(f"systems.{name}.settings: not erp_generic settings")

    async def check(self) -> list[Problem]:
        """Every problem with the configured tables and columns (empty when all is well).

        Leaves the adapter open when there is none, so `check` may stand in for `open`.
        """
        if self._opened:
            return []
        problems = await self._backend.open()
        self._opened = not problems
        return problems

    async def open(self) -> None:
        problems = await self.check()
        if problems:
            raise InvalidConfiguration(problems)

    async def close(self) -> None:
        await self._backend.close()
        self._opened = False

    async def probe(self, entities: frozenset[Entity]) -> list[Problem]:
        """SQL mode: every configured table answers a one-row SELECT. REST mode: the first
        record of each entity's list, with the configured token, in one attempt (`rest_probe`)."""
        if isinstance(self._backend, SqlBackend):
            return await self._backend.probe(entities)
        from .rest_probe import probe

        assert isinstance(self._backend, RestBackend)
        return await probe(self._backend, entities)

    def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        return self._backend.read_changes(entity, since)

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        return await self._backend.read(entity, ids)

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        if not values:
            return {}
        return await self._backend.lookup(entity, native_field, values)

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        if not writes:
            return []
        return await self._backend.upsert(entity, writes)

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        if not ids:
            return []
        return await self._backend.delete(entity, ids)

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return self._backend.native_fields(entity)

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        return self._backend.native_line_fields(entity)

    def native_types(self, entity: Entity) -> Mapping[str, type | None] | None:
        """SQL mode: the reflected columns' Python types (the mapping type check uses them)."""
        if isinstance(self._backend, SqlBackend):
            return self._backend.native_types(entity)
        return None

    def mapper_source(self) -> MapperSource | None:
        return None  # an ERP's tables are the user's own: the mapping files describe them

    def webhook_verifier(self) -> WebhookVerifier | None:
        """Standard Webhooks from the ERP, when `webhooks.secrets` are configured."""
        hooks = self.settings.webhooks
        if hooks is None:
            return None
        return StandardWebhooksVerifier(
            hooks.secrets, tolerance=dt.timedelta(seconds=hooks.tolerance_seconds)
        )
