"""A compiled mapping: plain functions per field, run for every record.

`compiler.py` turns a validated file into `CompiledField`s whose readers, writers and transform
chains are ready-made closures, and `codegen.py` turns those into one straight-line function per
direction, so mapping a record never looks at YAML structures. The generated inbound code
checks each value against its canonical field's type as it goes (`value_checks.py`); a record
whose every value passed is built without validating it again (`trusted_constructor`, or the
generated code itself for a row holding every field: `codegen.build_record_inbound`). One that
did not is validated by pydantic, which converts what it converts and words the error, and a
validation failure becomes a `MappingError` naming the file, line and field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from connector.adapter import NativeRecord
from connector.errors import MappingError
from connector.mapping.contract import NativeRef, RefResolver
from connector.model import Entity, Record, trusted_constructor

MISSING: Any = object()
"""What a native reader returns when the record does not carry the field at all."""

Reader = Callable[[Mapping[str, Any]], Any]
Writer = Callable[[dict[str, Any], Any], None]
Getter = Callable[[Any], Any]
Assigner = Callable[[dict[str, Any], Any], None]
Function = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class CompiledField:
    """One field entry, ready to run."""

    label: str
    canonical: tuple[str, ...]
    native: tuple[str, ...]
    read: Reader
    write: Writer
    get: Getter
    assign: Assigner
    forward: Function | None
    backward: Function | None
    #: Canonical names whose presence in the wanted set means this field is written.
    triggers: frozenset[str]
    create_only: bool = False
    has_default: bool = False
    default: Any = None
    required: bool = False
    owner: str | None = None
    ref: Entity | None = None
    #: Computed by the native system: read-only, never synced (see `FieldSpec.computed`).
    computed: bool = False


@dataclass(frozen=True, slots=True)
class CompiledLines:
    label: str
    native: str
    inbound: tuple[CompiledField, ...]
    outbound: tuple[CompiledField, ...]
    owner: str | None


def _fail(field: CompiledField, reason: object) -> MappingError:
    return MappingError(f"{field.label}: {reason}", code="MAPPING")


class CompiledMapper:
    """An `EntityMapper` made of compiled fields (see `connector.mapping.contract`)."""

    def __init__(
        self,
        *,
        entity: Entity,
        source: str,
        record_type: type[Record],
        fields: Sequence[CompiledField],
        inbound: Sequence[CompiledField],
        outbound: Sequence[CompiledField],
        lines: CompiledLines | None,
        lines_inbound: bool,
        lines_outbound: bool,
        inbound_function: Callable[..., tuple[dict[str, Any], bool, dict[str, Any] | None]],
        outbound_function: Callable[..., dict[str, Any]],
        record_function: Callable[..., tuple[Any, Any, Any]] | None = None,
    ) -> None:
        self.entity = entity
        self.source = source
        self._type = record_type
        self._fields = tuple(fields)
        self._inbound = tuple(inbound)
        self._outbound = tuple(outbound)
        self._lines = lines
        self._lines_in = lines if lines is not None and lines_inbound else None
        self._lines_out = lines if lines is not None and lines_outbound else None
        self._inbound_function = inbound_function
        self._outbound_function = outbound_function
        # (Sale lines are converted apart, after the fields: not by the record's function.)
        assert record_function is None or self._lines_in is None
        self._record_function = record_function
        self._refs = tuple(f for f in self._inbound if f.ref is not None)
        self._construct = trusted_constructor(record_type)
        self._parts = tuple(
            (name, trusted_constructor(part)) for name, part in value_objects(record_type)
        )
        self._lines_adapter: TypeAdapter[Any] | None = None
        if self._lines_in is not None:
            lines_type: Any = record_type.model_fields["lines"].annotation
            self._lines_adapter = TypeAdapter(lines_type)
        self._by_path: dict[str, CompiledField] = {}
        for compiled in self._fields:
            for path in compiled.canonical:
                self._by_path.setdefault(path, compiled)
        # Asked for every planned path of every write (`prepare.unrepresentable`): a table.
        self._native_of: dict[str, str | None] = {
            path: found.native[0] if len(found.native) == 1 else None
            for path, found in self._by_path.items()
        }
        if lines is not None:
            self._native_of["lines"] = lines.native
        self._inbound_paths = frozenset(
            {path for f in self._inbound for path in f.canonical}
            | ({"lines"} if self._lines_in else set())
        )
        self._outbound_paths = frozenset(
            {path for f in self._outbound for path in f.canonical}
            | ({"lines"} if self._lines_out else set())
        )

    def __repr__(self) -> str:
        return f"CompiledMapper({self.entity.value!r}, {self.source!r})"

    @property
    def inbound_fields(self) -> frozenset[str]:
        return self._inbound_paths

    @property
    def outbound_fields(self) -> frozenset[str]:
        return self._outbound_paths

    @property
    def fields(self) -> tuple[CompiledField, ...]:
        """The compiled entries in file order (for previews and tools)."""
        return self._fields

    def native_field(self, path: str) -> str | None:
        return self._native_of.get(path)

    def owner(self, path: str) -> str | None:
        if path == "lines" and self._lines is not None:
            return self._lines.owner
        found = self._by_path.get(path)
        return found.owner if found is not None else None

    def references(self, native: NativeRecord) -> list[NativeRef]:
        found: list[NativeRef] = []
        for field in self._refs:
            value = field.read(native.fields)
            if value is MISSING or value in (None, ""):
                continue
            assert field.ref is not None
            found.append(NativeRef(field.canonical[0], field.ref, str(value)))
        return found

    # --- native → canonical -----------------------------------------------------------

    def to_canonical(self, native: NativeRecord, refs: RefResolver) -> Record:
        return self.to_canonical_flat(native, refs)[0]

    def to_canonical_flat(
        self, native: NativeRecord, refs: RefResolver
    ) -> tuple[Record, dict[str, Any] | None]:
        fields = native.fields
        make = self._record_function
        if make is not None:
            # The usual record (every field there, every value of its type, the timestamp a
            # UTC one): built by the generated code itself (`codegen.build_record_inbound`).
            updated, deleted = native.updated_at, native.deleted
            if type(deleted) is bool and (
                updated is None or (type(updated) is dt.datetime and updated.tzinfo is dt.UTC)
            ):
                record, flat, values = make(fields, refs, updated, deleted)
                if record is not None:
                    return record, flat
                if values is not None:  # a value its check did not let through
                    values["updated_at"] = updated
                    values["deleted"] = deleted
                    return self._validated(values), None
        values, checked, flat = self._inbound_function(fields, refs)
        if self._lines_in is not None:
            self._lines_to_canonical(self._lines_in, fields, values)
            flat = None  # (the lines are converted apart: `flatten` puts them)
        values["updated_at"] = native.updated_at
        values["deleted"] = native.deleted
        if checked:
            record = self._checked_record(values)
            if record is not None:
                # Built from exactly the values `flat` was made of (`codegen._flat`).
                return record, flat
        return self._validated(values), None

    def _validated(self, values: dict[str, Any]) -> Record:
        try:
            return self._type.model_validate(values)
        except ValidationError as error:
            raise self._validation_failure(error) from None

    def _checked_record(self, values: dict[str, Any]) -> Record | None:
        """The record from values the generated code has type-checked, or None when the rest
        (the timestamp, the lines) needs pydantic: the caller validates it whole then."""
        updated = values["updated_at"]
        if updated is not None:
            if type(updated) is not dt.datetime or updated.tzinfo is None:
                return None
            if updated.tzinfo is not dt.UTC:
                values["updated_at"] = updated.astimezone(dt.UTC)  # as `UtcDatetime` does
        if type(values["deleted"]) is not bool:
            return None
        if self._lines_adapter is not None and values.get("lines") is not None:
            # Lines are validated here (their own types); a failure is worded by validating
            # the whole record, which names the line and the field.
            try:
                values["lines"] = self._lines_adapter.validate_python(values["lines"])
            except ValidationError:
                return None
        for name, construct in self._parts:
            part = values.get(name)
            if type(part) is dict:  # the generated code fills a value object as a dict
                values[name] = construct(part)
            elif part is not None:
                return None
        return self._construct(values)

    def _lines_to_canonical(
        self, lines: CompiledLines, fields: Mapping[str, Any], values: dict[str, Any]
    ) -> None:
        items = fields.get(lines.native, MISSING)
        if items is MISSING:
            return
        if items is None:
            values["lines"] = None
            return
        if not isinstance(items, list | tuple):
            raise MappingError(f"{lines.label}: expected a list, got {type(items).__name__}")
        converted: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, Mapping):
                raise MappingError(f"{lines.label}: a line is {type(item).__name__}, not a dict")
            line: dict[str, Any] = {}
            for field in lines.inbound:
                raw = field.read(item)
                if raw is MISSING:
                    if field.required:
                        raise _fail(field, "required, but a line does not have it")
                    continue
                value = _convert(field, field.forward, raw)
                if value is None and field.required:
                    raise _fail(field, "required, but empty on a line")
                field.assign(line, value)
            converted.append(line)
        values["lines"] = converted

    def _validation_failure(self, error: ValidationError) -> MappingError:
        reasons: list[str] = []
        for detail in error.errors():
            location = [str(part) for part in detail["loc"]]
            path = ".".join(location)
            field = self._by_path.get(path) or self._by_path.get(location[0])
            if location and location[0] == "lines" and self._lines is not None:
                where = f"{self._lines.label}: line {location[1] if len(location) > 1 else '?'}"
                reasons.append(f"{where} `{'.'.join(location[2:])}`: {detail['msg']}")
            elif field is not None:
                reasons.append(f"{field.label}: {detail['msg']} (got {detail['input']!r})")
            else:
                reasons.append(f"{self.source}: `{path}`: {detail['msg']}")
        return MappingError("; ".join(reasons), code="MAPPING")

    # --- canonical → native -----------------------------------------------------------

    def to_native(
        self,
        record: Record,
        refs: RefResolver,
        *,
        create: bool,
        paths: Collection[str] | None = None,
    ) -> dict[str, Any]:
        wanted: AbstractSet[str] | None = None
        if paths is not None:
            # The exact-type test first: an ABC `isinstance` costs microseconds per record.
            kind = type(paths)
            if kind is frozenset or kind is set:
                wanted = paths  # type: ignore[assignment]
            elif kind is not list and kind is not tuple and isinstance(paths, AbstractSet):
                wanted = paths
            else:
                wanted = frozenset(paths)
        out = self._outbound_function(record, refs, create, wanted)
        if self._lines_out is not None and (
            "lines" in (record.model_fields_set if wanted is None else wanted)
        ):
            out[self._lines_out.native] = _lines_to_native(self._lines_out, record)
        return out


def value_objects(model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """The record's fields holding one nested value object (an address), with its model."""
    found = []
    for name, info in model.model_fields.items():
        for candidate in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.append((name, candidate))
    return found


def _convert(field: CompiledField, function: Function | None, value: Any) -> Any:
    if function is None or value is None:
        return value
    try:
        return function(value)
    except (ValueError, TypeError, ArithmeticError, LookupError) as error:
        raise _fail(field, error) from None


def _lines_to_native(lines: CompiledLines, record: Record) -> list[dict[str, Any]]:
    items = getattr(record, "lines", None) or []
    result: list[dict[str, Any]] = []
    for item in items:
        native: dict[str, Any] = {}
        for field in lines.outbound:
            value = field.get(item)
            if value is None:
                if field.has_default:
                    field.write(native, field.default)
                elif field.required:
                    raise _fail(field, "required, but a line has no value")
                continue
            field.write(native, _convert(field, field.backward, value))
        result.append(native)
    return result
