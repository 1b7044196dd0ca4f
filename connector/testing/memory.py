"""An in-memory adapter, optionally kept in a JSON file, registered as `memory`.

It behaves like a well-mannered API: ids assigned on create, `updated_at` stamped on every
change, a change feed in `(updated_at, id)` order, idempotent upserts by canonical key, and
lookups by any field. Switches make it misbehave on purpose for tests: reject records whose
field has a value, fail calls transiently, or slow writes down so a process can be killed
mid-run. With `path` set, every write is saved atomically, so separate processes (the CLI in an
end-to-end test) see one system.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.adapter import (
    AdapterContext,
    Capabilities,
    NativeRecord,
    NativeWrite,
    Page,
    WebhookVerifier,
    WriteResult,
)
from connector.errors import RecordError, TransientError
from connector.model import Entity, canonical_fields
from connector.testing.identity import IdentityMappers

KEY_FIELD = "_key"


class RejectRule(BaseModel):
    """Refuse writes whose native `field` equals `value`, with `message` as the reason."""

    model_config = ConfigDict(extra="forbid")
    field: str
    value: Any
    message: str = "rejected by the target"
    #: For `unwritten` rules: the field is left out only for now (offered again next time).
    for_now: bool = False


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A JSON file that holds the data; without it the data lives as long as the process.
    path: Path | None = None
    page_size: int = Field(default=100, ge=1)
    batch_size: int = Field(default=50, ge=1)
    max_in_flight: int = Field(default=2, ge=1)
    #: Seconds each write call takes (to kill a run mid-way in tests).
    write_delay_seconds: float = Field(default=0.0, ge=0)
    #: Seconds before each page of the change feed (a slow source: a run spends its time
    #: waiting on it, as on a remote API, so a test can pause or kill it mid-way).
    read_delay_seconds: float = Field(default=0.0, ge=0)
    reject: list[RejectRule] = Field(default_factory=list)
    #: Leave a field out of a write when it holds this value and report it unwritten (what a
    #: CRM does with an owner it has no user for); the record itself is saved.
    unwritten: list[RejectRule] = Field(default_factory=list)
    #: Generate this many customers on first use (a demo system with data in it).
    seed_customers: int = Field(default=0, ge=0)
    #: Canonical paths this system is the master of, per entity: what a real CRM's mapping
    #: file says with `owner:` (e.g. `customer: [industry, owner]`).
    owns: dict[Entity, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _owned_paths_exist(self) -> MemorySettings:
        for entity, paths in self.owns.items():
            unknown = sorted(set(paths) - canonical_fields(entity))
            if unknown:
                raise ValueError(f"owns.{entity.value}: not canonical paths: {', '.join(unknown)}")
        return self


class _Row(BaseModel):
    id: str
    updated_at: dt.datetime
    fields: dict[str, Any]
    deleted: bool = False
    key: str | None = None


def _empty() -> dict[Entity, dict[str, _Row]]:
    return {entity: {} for entity in Entity}


class MemoryData(BaseModel):
    """The whole system's state (what the JSON file holds)."""

    counter: int = 0
    clock: dt.datetime | None = None
    entities: dict[Entity, dict[str, _Row]] = Field(default_factory=lambda: _empty())


class MemoryAdapter:
    kind: ClassVar[str] = "memory"
    Settings: ClassVar[type[BaseModel]] = MemorySettings

    def __init__(self, name: str, settings: MemorySettings, base_dir: Path = Path(".")) -> None:
        self.name = name
        self.settings = settings
        self.path = (base_dir / settings.path) if settings.path else None
        self.capabilities = Capabilities(
            entities=frozenset(Entity),
            deletes=True,
            batch_size=settings.batch_size,
            max_in_flight=settings.max_in_flight,
            upsert_matches={entity: KEY_FIELD for entity in Entity},
        )
        self.data = MemoryData()
        self.write_calls = 0
        self.fail_next_calls = 0
        self._mappers = IdentityMappers(owner=self.kind, owns=settings.owns)
        self._by_key: dict[Entity, dict[str, _Row]] = {}
        self._indexed_rows: dict[Entity, int] = {}

    @classmethod
    def from_settings(
        cls, name: str, settings: BaseModel, context: AdapterContext
    ) -> MemoryAdapter:
        assert isinstance(settings, MemorySettings)
        return cls(name, settings, context.base_dir)

    def mapper_source(self) -> IdentityMappers:
        return self._mappers

    # -- lifecycle and persistence -------------------------------------------------------------

    async def open(self) -> None:
        self._load()
        if self.settings.seed_customers and not self.data.entities[Entity.CUSTOMER]:
            for number in range(1, self.settings.seed_customers + 1):
                self.put(
                    Entity.CUSTOMER,
                    {"number": f"C{number:05d}", "name": f"Customer {number}", "currency": "EUR"},
                )

    async def close(self) -> None:
        self._save()

    def _load(self) -> None:
        self._by_key.clear()
        if self.path is not None and self.path.exists():
            self.data = MemoryData.model_validate_json(self.path.read_text())

    def _save(self) -> None:
        if self.path is None:
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(self.data.model_dump_json())
        os.replace(temporary, self.path)

    # -- direct manipulation (tests and demos stand in for a person using the system) -----

    def _tick(self) -> dt.datetime:
        now = dt.datetime.now(dt.UTC)
        last = self.data.clock
        if last is not None and now <= last:
            now = last + dt.timedelta(microseconds=1)
        self.data.clock = now
        return now

    def put(self, entity: Entity, fields: dict[str, Any], record_id: str | None = None) -> str:
        """Create or change a record as a user of this system would, and save."""
        rows = self.data.entities[entity]
        if record_id is None or record_id not in rows:
            self.data.counter += 1
            record_id = record_id or f"{entity.value[:2]}-{self.data.counter}"
            rows[record_id] = _Row(id=record_id, updated_at=self._tick(), fields={})
        row = rows[record_id]
        row.fields.update(fields)
        row.updated_at = self._tick()
        self._save()
        return record_id

    def remove(self, entity: Entity, record_id: str) -> None:
        row = self.data.entities[entity][record_id]
        row.deleted = True
        row.updated_at = self._tick()
        self._save()

    def _key_index(self, entity: Entity) -> dict[str, _Row]:
        """Rows by canonical key, kept across calls (rebuilt when rows appeared without one)."""
        index = self._by_key.get(entity)
        rows = self.data.entities[entity]
        if index is None or self._indexed_rows.get(entity) != len(rows):
            index = {row.key: row for row in rows.values() if row.key is not None}
            self._by_key[entity] = index
        self._indexed_rows[entity] = len(rows)
        return index

    def records(self, entity: Entity, *, include_deleted: bool = False) -> list[_Row]:
        rows = self.data.entities[entity].values()
        return [row for row in rows if include_deleted or not row.deleted]

    # -- the adapter contract ----------------------------------------------------------------

    def _check_fault(self) -> None:
        if self.fail_next_calls > 0:
            self.fail_next_calls -= 1
            raise TransientError(f"{self.name}: injected transient failure")

    @staticmethod
    def _native(row: _Row) -> NativeRecord:
        return NativeRecord(
            id=row.id, updated_at=row.updated_at, fields=dict(row.fields), deleted=row.deleted
        )

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        self._check_fault()
        rows = sorted(
            (
                row
                for row in self.data.entities[entity].values()
                if since is None or row.updated_at >= since
            ),
            key=lambda row: (row.updated_at, row.id),
        )
        for start in range(0, len(rows), self.settings.page_size):
            if self.settings.read_delay_seconds:
                await asyncio.sleep(self.settings.read_delay_seconds)
            yield Page([self._native(row) for row in rows[start : start + self.settings.page_size]])
            await asyncio.sleep(0)

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        self._check_fault()
        rows = self.data.entities[entity]
        return [self._native(rows[record_id]) for record_id in ids if record_id in rows]

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        self._check_fault()
        wanted = {str(value) for value in values}
        found: dict[str, NativeRecord] = {}
        for row in self.data.entities[entity].values():
            value = row.key if native_field == KEY_FIELD else row.fields.get(native_field)
            if not row.deleted and value is not None and str(value) in wanted:
                found.setdefault(str(value), self._native(row))
        return found

    def _rejection(self, fields: dict[str, Any]) -> RecordError | None:
        for rule in self.settings.reject:
            if rule.field in fields and fields[rule.field] == rule.value:
                return RecordError(rule.message, code="REJECTED")
        return None

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        self._check_fault()
        self.write_calls += 1
        if self.settings.write_delay_seconds:
            await asyncio.sleep(self.settings.write_delay_seconds)
        rows = self.data.entities[entity]
        by_key = self._key_index(entity)
        results = []
        for write in writes:
            row = rows.get(write.external_id) if write.external_id else by_key.get(write.key)
            merged = {**(row.fields if row else {}), **write.fields}
            error = self._rejection(merged)
            if error is not None:
                results.append(WriteResult(write.key, write.external_id, error=error))
                continue
            fields = dict(write.fields)
            unwritten = {
                rule.field: rule.message
                for rule in self.settings.unwritten
                if rule.field in fields and fields[rule.field] == rule.value
            }
            for name in unwritten:
                del fields[name]
            for_now = (
                frozenset(rule.field for rule in self.settings.unwritten if rule.for_now)
                & unwritten.keys()
            )
            created = row is None
            if row is None:
                self.data.counter += 1
                record_id = f"{entity.value[:2]}-{self.data.counter}"
                row = _Row(id=record_id, updated_at=self._tick(), fields={}, key=write.key)
                rows[record_id] = row
                by_key[write.key] = row
                self._indexed_rows[entity] = len(rows)
            row.fields.update(fields)
            row.key = row.key or write.key
            by_key[row.key] = row
            row.deleted = False
            row.updated_at = self._tick()
            results.append(
                WriteResult(
                    write.key,
                    row.id,
                    created=created,
                    updated_at=row.updated_at,
                    unwritten=unwritten,
                    unwritten_for_now=for_now,
                )
            )
        self._save()
        return results

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        self._check_fault()
        self.write_calls += 1
        results = []
        for record_id in ids:
            row = self.data.entities[entity].get(record_id)
            if row is not None:
                row.deleted = True
                row.updated_at = self._tick()
            results.append(WriteResult(row.key if row and row.key else record_id, record_id))
        self._save()
        return results

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def webhook_verifier(self) -> WebhookVerifier | None:
        return None
