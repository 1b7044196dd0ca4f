"""`connector mappings preview`: one record through the mappings, side by side.

Pure: given a native record, the source system's mapper and each target's mapper, it maps
native → canonical → each target's native (as a create) and lines the values up by canonical
path. Mapping errors do not stop the preview; they are reported per column in `errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.adapter import NativeRecord
from connector.errors import RecordError
from connector.mapping.contract import EntityMapper, RefResolver, native_value
from connector.model import Record, flatten

#: The column name used in `Preview.errors` for the source side.
SOURCE = "source"


@dataclass(frozen=True)
class Cell:
    """A native field and the value it holds (field None: the system does not map the path)."""

    field: str | None
    value: Any = None


@dataclass(frozen=True)
class PreviewRow:
    path: str
    source: Cell
    canonical: Any
    targets: dict[str, Cell]


@dataclass(frozen=True)
class Preview:
    record: Record | None
    rows: list[PreviewRow]
    #: Each target's native create payload.
    natives: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Column (`source` or a target name) → the error that stopped it.
    errors: dict[str, str] = field(default_factory=dict)


def preview(
    native: NativeRecord,
    source: EntityMapper,
    targets: Mapping[str, EntityMapper],
    refs: RefResolver,
    target_refs: Mapping[str, RefResolver] | None = None,
) -> Preview:
    """Map `native` through `source` and every target; see the module docstring.

    `refs` resolves the source system's ids; a target's references are written with its own
    ids, so pass each target's resolver in `target_refs` (`refs` is used for targets without).
    """
    try:
        record = source.to_canonical(native, refs)
    except RecordError as error:
        return Preview(None, [], errors={SOURCE: str(error)})
    flat = flatten(record)
    natives: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for name, mapper in targets.items():
        try:
            resolver = (target_refs or {}).get(name, refs)
            natives[name] = mapper.to_native(record, resolver, create=True)
        except RecordError as error:
            errors[name] = str(error)
    rows: list[PreviewRow] = []
    for path in sorted(flat, key=_order(source, flat)):
        source_field = source.native_field(path)
        source_cell = Cell(
            source_field,
            native_value(native.fields, source_field) if source_field is not None else None,
        )
        cells: dict[str, Cell] = {}
        for name, mapper in targets.items():
            target_field = mapper.native_field(path)
            written = natives.get(name, {})
            shown = native_value(written, target_field) if target_field is not None else None
            cells[name] = Cell(target_field, shown)
        rows.append(PreviewRow(path, source_cell, flat[path], cells))
    for name, written in natives.items():
        rows.extend(_target_only(name, written, targets, rows))
    return Preview(record, rows, natives, errors)


def _order(source: EntityMapper, flat: Mapping[str, Any]) -> Any:
    """Sort rows as the source file lists its fields (when it is a compiled file), then by name."""
    entries = getattr(source, "fields", ())
    listed = [path for entry in entries for path in getattr(entry, "canonical", ())]
    position = {path: index for index, path in enumerate([*listed, "lines"])}
    return lambda path: (position.get(path, len(position)), path)


def _target_only(
    name: str,
    written: Mapping[str, Any],
    targets: Mapping[str, EntityMapper],
    rows: list[PreviewRow],
) -> list[PreviewRow]:
    """Native fields a target writes that no canonical path explains (defaults like pipeline)."""
    shown = {row.targets[name].field for row in rows if row.targets.get(name)}
    extra: list[PreviewRow] = []
    for native_name, value in written.items():
        if native_name in shown or isinstance(value, Mapping):
            continue
        cells = {other: Cell(None) for other in targets}
        cells[name] = Cell(native_name, value)
        extra.append(PreviewRow("", Cell(None), None, cells))
    return extra
