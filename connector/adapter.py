"""The adapter contract: what a system must offer for the engine to sync it.

An adapter speaks one system's API in that system's native shape (flat dicts of native fields)
and declares what it can do in `Capabilities`. The engine never sees HTTP, SQL or a CRM's name:
it pulls `Page`s of `NativeRecord`s, hands them to the mapper, and pushes `NativeWrite`s back,
getting one `WriteResult` per write.

Rules every adapter keeps (the contract suite in `connector.testing.contract` checks them):

* `read_changes` yields records in ascending `(updated_at, id)` order, and includes every record
  whose `updated_at >= since` (the engine re-reads an overlap window and skips what it has seen).
* `upsert` returns exactly one result per write, in any order, matched by `key`; a record-level
  failure is a result with `error` set, never an exception that fails the whole batch.
* `upsert` of the same write twice leaves one record (idempotent per `key` or `external_id`).
* A sale's native `lines` (a list of native line dicts) are the whole wanted list when present:
  the adapter matches them to the lines it has by their key (an ERP line number), updates the
  lines whose values differ, inserts new ones and removes vanished ones; line ids survive.
* A write changes only what differs from the system's current value in its own terms, and a
  field it cannot take is reported in `WriteResult.unwritten`, never dropped silently.

Adapters are found through the `connector.adapters` entry-point group, so a third party adds one
with `pip install`; the built-ins register the same way in `pyproject.toml`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from connector.entity import Entity
from connector.errors import ConfigurationError, Problem, RecordError

if TYPE_CHECKING:  # the mapping package imports this module
    from connector.mapping.contract import MapperSource

ENTRY_POINT_GROUP = "connector.adapters"


@dataclass(slots=True)
class NativeRecord:
    """One record as its system stores it; never changed once made.

    Not `frozen`: a frozen dataclass sets each field through `object.__setattr__`, which made
    building one cost 3.5 times as much (one per record of every read), and nothing hashes a
    record (its `fields` are a dict) or relies on the error an assignment would raise.
    """

    id: str
    updated_at: dt.datetime
    fields: Mapping[str, Any]
    deleted: bool = False
    #: Why the adapter could not read this record whole (a stored value it cannot convert):
    #: the engine files it as the record's failure and goes on with the rest.
    problem: RecordError | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A page of changes, in ascending `(updated_at, id)` order."""

    records: Sequence[NativeRecord]


@dataclass(slots=True)
class NativeWrite:
    """One record to create or update in the target; never changed once made.

    `key` is the canonical key: the idempotency key of the write and how results are matched.
    `external_id` is the target's id when the record is already bound there. `fields` holds only
    what should change (on create: everything the mapping writes).

    Not `frozen`, as `NativeRecord`: one is made per record written, and a frozen dataclass sets
    each field through `object.__setattr__` (callgrind: 8,700 instructions a write against
    3,100). Nothing hashes one (its `fields` are a dict, so it never could be) or relies on the
    error an assignment would raise.
    """

    key: str
    external_id: str | None
    fields: Mapping[str, Any]
    #: The source record's id (a CRM id), for targets that keep it as a reference.
    source_id: str | None = None


@dataclass(slots=True)
class WriteResult:
    """What happened to one write (or delete); never changed once made.

    Not `frozen`, as `NativeWrite` (callgrind: 13,400 instructions a result against 4,600, one
    per record written); a changed result is a new one (`dataclasses.replace`). Nothing hashes
    one (`unwritten` is a dict).
    """

    key: str
    external_id: str | None
    error: RecordError | None = None
    created: bool = False
    updated_at: dt.datetime | None = None
    #: Native fields of the write the target did not take although the record was saved (an
    #: owner, option or product it does not know), each with the reason. The engine does not
    #: record them as synced: the other side keeps its value and the field is tried again.
    unwritten: Mapping[str, str] = field(default_factory=dict)
    #: Those of `unwritten` the target could not take only for now (a list it could not read):
    #: offered again on the next write. Others are remembered as refused until they change.
    unwritten_for_now: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ChangeHint:
    """A webhook's claim that a record changed. Only a hint: the engine re-reads the record."""

    entity: Entity
    external_id: str
    event_id: str
    occurred_at: dt.datetime | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """The raw request as received; signatures are checked on `body`, byte for byte."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    received_at: dt.datetime


class WebhookVerifier(Protocol):
    """Turns a verified request into change hints; raises `WebhookRejected` (a 4xx) otherwise."""

    def verify(self, request: WebhookRequest) -> list[ChangeHint]: ...


@runtime_checkable
class AcknowledgingVerifier(WebhookVerifier, Protocol):
    """A verifier for senders that post something other than JSON and expect a particular
    answer once the events are stored (a SOAP acknowledgement, say). The receiver accepts
    `content_types` and answers 200 with `acknowledgement()` only after the inbox commit, so a
    sender that retries until acknowledged loses nothing."""

    content_types: frozenset[str]

    def acknowledgement(self) -> tuple[bytes, str]:
        """The body and its media type."""
        ...


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do; the engine plans around it."""

    entities: frozenset[Entity]
    read: bool = True
    write: bool = True
    incremental: bool = True
    deletes: bool = False
    webhooks: bool = False
    #: The largest batch one write call takes.
    batch_size: int = 100
    #: How many write batches may be in flight at once.
    max_in_flight: int = 4
    #: Per entity, the native field by which `upsert` itself finds an existing record (an
    #: `idProperty`, an external-id field). The engine skips its own match lookup for these.
    upsert_matches: Mapping[Entity, str] = field(default_factory=dict)


class RowHashStore(Protocol):
    """Where an adapter keeps per-row hashes for sources it can only compare, not ask for
    changes (`connector.state.checksums.ChecksumStore`)."""

    def row_hashes(self, system: str, entity: str, keys: Sequence[str]) -> Mapping[str, Any]: ...

    def row_hashes_between(
        self, system: str, entity: str, low: int | None, high: int | None
    ) -> Mapping[str, Any]: ...

    def live_row_keys(self, system: str, entity: str) -> Iterator[str]: ...

    def save_row_hashes(
        self,
        system: str,
        entity: str,
        rows: Sequence[tuple[str, int | None, str]],
        changed_at: dt.datetime,
    ) -> None: ...

    def mark_vanished(
        self, system: str, entity: str, keys: Sequence[str], changed_at: dt.datetime
    ) -> None: ...

    def changed_rows(
        self,
        system: str,
        entity: str,
        since: dt.datetime | None,
        after: tuple[dt.datetime, str] | None,
        limit: int,
    ) -> Sequence[Any]: ...

    def purge_vanished(self, system: str, entity: str, before: dt.datetime) -> int: ...


@dataclass(frozen=True)
class AdapterContext:
    """What the host gives an adapter besides its own settings."""

    #: The folder of `config.yaml`; relative paths in settings are relative to it.
    base_dir: Path
    #: The sync-state store's row hashes (None where no store is open, e.g. `connector check`).
    row_hashes: RowHashStore | None = None


@runtime_checkable
class Adapter(Protocol):
    """One configured system. Created by `from_settings`, opened once, closed once."""

    #: The adapter's registered name (`hubspot`, `erp_generic`): also its mapping folder.
    kind: ClassVar[str]
    #: The pydantic model its `settings:` block in `config.yaml` must satisfy.
    Settings: ClassVar[type[BaseModel]]

    name: str
    capabilities: Capabilities

    @classmethod
    def from_settings(cls, name: str, settings: BaseModel, context: AdapterContext) -> Adapter: ...

    async def open(self) -> Sequence[Problem] | None:
        """Connect; returns configuration problems found on the way (a missing column…)."""
        ...

    async def close(self) -> None: ...

    def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]: ...

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]: ...

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]: ...

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]: ...

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]: ...

    def native_fields(self, entity: Entity) -> frozenset[str] | None: ...

    def webhook_verifier(self) -> WebhookVerifier | None: ...

    def mapper_source(self) -> MapperSource | None:
        """The adapter's own mappers (a fixed native shape); None to use the mapping files."""
        ...


@runtime_checkable
class Probing(Protocol):
    """The optional health hook: an adapter that can tell, cheaply, whether it would work.

    `probe` makes one cheap authenticated call per thing it needs (a token check, a scope, a
    readable table) with no retries, and returns what is wrong, each problem saying how to fix
    it; an empty list means healthy. `connector check` and the daemon's `/readyz` call it on an
    opened adapter. Adapters without it are taken as healthy once opened (`probe_adapter`).
    """

    async def probe(self, entities: frozenset[Entity]) -> Sequence[Problem]: ...


async def probe_adapter(adapter: object, entities: frozenset[Entity]) -> list[Problem]:
    """The adapter's own probe, or no problems for one that has none (the default)."""
    if isinstance(adapter, Probing):
        return list(await adapter.probe(entities))
    return []


def available_adapters() -> list[str]:
    """The names registered in the `connector.adapters` entry-point group."""
    from importlib.metadata import entry_points

    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})


def adapter_class(kind: str) -> type[Adapter]:
    """Load the adapter registered as `kind` (only that one: others may not import here)."""
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        loaded: type[Adapter] = point.load()
        return loaded
    known = ", ".join(available_adapters()) or "none"
    raise ConfigurationError(f"unknown adapter {kind!r} (installed: {known})")
