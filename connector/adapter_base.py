"""`BaseAdapter`: the parts of the adapter contract every HTTP adapter writes the same way.

A subclass names its `kind` and `Settings`, builds its client in `connect()`, and implements the
reading and writing methods. Inherited, with defaults that a subclass may override:

* `from_settings` — coerces the `settings:` block into the adapter's own `Settings` model (the
  config loader may hand over a generic model or the right one);
* `open` / `close` / `client` — the client exists between `open()` and `close()`; using it
  outside that raises a `ConfigurationError` naming the adapter, not an `AttributeError`;
* `mapper_source` (None: use the mapping files), `webhook_verifier` (None: no webhooks),
  `native_fields` (None: unknown, so mapping checks are skipped), `describe_fields` (None: the
  system cannot describe its fields live, so `connector check` does not hold the mapping files
  against them; see `connector.native_schema`).

Batch helpers live in `connector.batching` (`chunked`, `bisect_batch`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

from connector.adapter import AdapterContext, Capabilities, WebhookVerifier
from connector.errors import ConfigurationError, Problem
from connector.mapping.contract import MapperSource
from connector.model import Entity
from connector.native_schema import NativeSchema


class Closable(Protocol):
    async def aclose(self) -> None: ...


SettingsT = TypeVar("SettingsT", bound=BaseModel)
ClientT = TypeVar("ClientT", bound=Closable)


class BaseAdapter(abc.ABC, Generic[SettingsT, ClientT]):
    """Lifecycle, settings and defaults shared by adapters that talk to one remote API."""

    kind: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]

    capabilities: Capabilities

    def __init__(self, name: str, settings: SettingsT) -> None:
        self.name = name
        self.settings = settings
        self._client: ClientT | None = None

    @classmethod
    def coerce_settings(cls, settings: BaseModel) -> Any:
        """`settings` as an instance of `cls.Settings`, validated again if it is not one."""
        if isinstance(settings, cls.Settings):
            return settings
        return cls.Settings.model_validate(settings.model_dump())

    @classmethod
    def from_settings(cls, name: str, settings: BaseModel, context: AdapterContext) -> Any:
        """The adapter for a `settings:` block; override to use `context` (relative paths)."""
        return cls(name, cls.coerce_settings(settings))

    # -- lifecycle --------------------------------------------------------------------------

    @abc.abstractmethod
    async def connect(self) -> ClientT:
        """Build (and, if the API wants it, authenticate) the client."""

    async def check(self) -> Sequence[Problem]:
        """Configuration problems found once connected; none by default."""
        return ()

    async def open(self) -> Sequence[Problem] | None:
        if self._client is None:
            self._client = await self.connect()
        return list(await self.check()) or None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def client(self) -> ClientT:
        if self._client is None:
            raise ConfigurationError(f"adapter {self.name!r} is not open")
        return self._client

    # -- defaults -------------------------------------------------------------------------

    def mapper_source(self) -> MapperSource | None:
        return None

    def webhook_verifier(self) -> WebhookVerifier | None:
        return None

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    async def describe_fields(self, entity: Entity) -> NativeSchema | None:
        return None
