"""Writing an ERP through its own API (`write: api`): the plugin contract and how plugins are
found.

An ERP's API decides what a write means (which model, which workflow calls make an order real),
so each ERP gets a small writer plugin, registered in the `connector.erp_writers` entry-point
group; `tryton` ships with the product. The SQL side still reads; only writes go here. See
docs/erp-api-writers.md for writing one (Odoo, ERPNext).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol

from adapters.erp_generic.settings import ApiSettings
from connector.adapter import NativeWrite, WriteResult
from connector.errors import ConfigurationError
from connector.model import Entity

ENTRY_POINT_GROUP = "connector.erp_writers"


class ApiWriter(Protocol):
    """One ERP's API writer. `upsert` keeps the adapter contract: one result per write, a
    record the ERP refuses is a result with a `RecordError` carrying the ERP's message."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def upsert(
        self, entity: Entity, writes: Sequence[NativeWrite], options: Mapping[str, Any]
    ) -> list[WriteResult]: ...


class ApiWriterFactory(Protocol):
    def __call__(self, settings: ApiSettings) -> ApiWriter: ...


def load_writer(settings: ApiSettings) -> ApiWriter:
    """The writer registered as `settings.plugin`, built from the settings."""
    for point in entry_points(group=ENTRY_POINT_GROUP, name=settings.plugin):
        factory: ApiWriterFactory = point.load()
        return factory(settings)
    known = sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})
    raise ConfigurationError(
        f"no ERP API writer {settings.plugin!r} is installed (installed: "
        f"{', '.join(known) or 'none'})"
    )
