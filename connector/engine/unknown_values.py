"""Values a target cannot take, found before a sync meets them (`connector check`).

Some target fields accept only values the target knows: a CRM's owner field takes the e-mail of
one of its users. An adapter that can tell offers `ClosedValues`; for each route into it, the
values the source holds for such a field are read and the ones the target lacks are listed, so
an operator sees "the CRM has no user alice@…" before the first sync reports the field
unwritten on every record of hers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from connector.errors import ConnectorError
from connector.model import Entity
from connector.runtime import Runtime


@runtime_checkable
class ClosedValues(Protocol):
    """An adapter whose fields named here take only values it knows."""

    def closed_fields(self, entity: Entity) -> frozenset[str]: ...

    async def unknown_values(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> list[str]: ...


async def unknown_values(runtime: Runtime) -> list[str]:
    """One line per (route, field) whose source holds values the target does not know."""
    lines: list[str] = []
    for route in runtime.config.routes.values():
        target = runtime.adapters[route.target]
        if not isinstance(target, ClosedValues):
            continue
        for entity in route.ordered_entities():
            closed = target.closed_fields(entity)
            if not closed:
                continue
            target_mapper = runtime.mappers.for_system(route.target, entity)
            source_mapper = runtime.mappers.for_system(route.source, entity)
            for path in sorted(target_mapper.outbound_fields):
                native = target_mapper.native_field(path)
                source_field = source_mapper.native_field(path)
                if native not in closed or source_field is None:
                    continue
                values: set[str] = set()
                async for page in runtime.adapters[route.source].read_changes(entity, None):
                    for record in page.records:
                        value = record.fields.get(source_field)
                        if not record.deleted and value not in (None, ""):
                            values.add(str(value).strip())
                try:
                    missing = await target.unknown_values(entity, native, sorted(values))
                except ConnectorError as error:
                    lines.append(f"{route.name}: {entity.value} {path}: cannot check ({error})")
                    continue
                if missing:
                    lines.append(
                        f"{route.name}: {len(missing)} {entity.value} {path} value(s) in "
                        f"{route.source} that {route.target} does not know (records keep them "
                        f"and the field is reported unwritten): {', '.join(missing)}"
                    )
    return lines
