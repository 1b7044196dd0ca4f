"""Type-checking compiled mapping files against the canonical model and the systems' fields.

`compile_mapping` already checks names (canonical paths, native fields, transforms). This adds
what names cannot show, before any record is read:

* a mapping file that maps no field for an entity a route carries (the entity would silently
  sync nothing);
* inbound types: a sample value of the native field's declared type (`native_types`, an
  optional adapter hook; the ERP's reflected column types) is run through the field's transform
  chain and validated against the canonical path's type, exactly as a record would be. A text
  column mapped to an amount without a `decimal` transform fails here instead of failing every
  record at sync time;
* outbound types: a text canonical value written without a transform into a numeric or date
  column.

Fields whose native type is unknown (the adapter does not declare types) are not judged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError

from connector.errors import InvalidConfiguration, Problem
from connector.mapping.catalog import MappingCatalog
from connector.mapping.mapper import CompiledField
from connector.mapping.transforms import identity
from connector.mapping.value_checks import canonical_type
from connector.model import Entity

#: Per (system kind, entity): native field → Python type, or None when the adapter cannot say.
NativeTypes = Callable[[str, Entity], Mapping[str, type | None] | None]

_SAMPLES: dict[type, Any] = {
    str: "sample text",
    int: 7,
    float: 7.5,
    Decimal: Decimal("7.50"),
    bool: True,
    dt.date: dt.date(2026, 1, 31),
    dt.datetime: dt.datetime(2026, 1, 31, 8, 0, tzinfo=dt.UTC),
}
_NUMERIC_OR_TIME = (int, float, Decimal, dt.date, dt.datetime)
_TYPE_NAMES = {
    str: "text",
    int: "an integer",
    float: "a number",
    Decimal: "a decimal number",
    bool: "a boolean",
    dt.date: "a date",
    dt.datetime: "a timestamp",
}


def type_problems(
    catalog: MappingCatalog,
    pairs: Iterable[tuple[str, Entity | str]],
    native_types: NativeTypes | None = None,
) -> list[Problem]:
    """Every type problem in the (already name-checked) files of `pairs`."""
    problems: list[Problem] = []
    for kind, entity_name in pairs:
        entity = Entity(entity_name)
        try:
            mapper = catalog.mapper(kind, entity)
        except InvalidConfiguration as error:
            problems += error.problems
            continue
        if not mapper.fields and getattr(mapper, "_lines", None) is None:
            where = catalog.locate(kind, entity)
            problems.append(
                Problem(
                    str(where or f"{kind}/{entity.value}.yaml"),
                    f"maps no field for {entity.value}, which a route carries: it would sync "
                    "nothing; add `fields:` or take the entity off the route",
                )
            )
            continue
        types = native_types(kind, entity) if native_types else None
        if types:
            problems += _field_problems(entity, mapper.fields, types)
    return problems


def _field_problems(
    entity: Entity, fields: Iterable[CompiledField], types: Mapping[str, type | None]
) -> list[Problem]:
    problems = []
    for field in fields:
        if len(field.native) != 1:
            continue
        message = field_type_problem(entity, field, types.get(field.native[0]))
        if message is not None:
            problems.append(Problem(field.label, message))
    return problems


def field_type_problem(
    entity: Entity, field: CompiledField, native_type: type | None
) -> str | None:
    """Why a native field of `native_type` cannot carry `field`'s canonical value, or None."""
    if len(field.canonical) != 1 or len(field.native) != 1 or field.ref is not None:
        return None  # split/join and references are checked by their transforms and binds
    annotation = canonical_type(entity, tuple(field.canonical[0].split(".")))
    if native_type is None or native_type not in _SAMPLES or annotation is None:
        return None
    message = None
    if field.forward is not None:
        message = _inbound(field, native_type, annotation)
    if message is None and field.backward is identity:
        message = _outbound(native_type, annotation)
    return message


def _inbound(field: CompiledField, native_type: type, annotation: Any) -> str | None:
    assert field.forward is not None
    if native_type is str and field.forward is not identity:
        return None  # a transform reads the text; its content decides, not its type
    sample = _SAMPLES[native_type]
    try:
        value = field.forward(sample)
    except Exception:
        return None  # the transform refuses the made-up sample: no verdict
    if value is None:
        return None
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        hint = (
            "add a transform that converts it (decimal, integer, date, datetime, boolean, "
            "string) or map another native field"
        )
        return (
            f"the native field is {_TYPE_NAMES[native_type]} but `{'.'.join(field.canonical)}` "
            f"cannot take it ({reason}); {hint}"
        )
    return None


def _outbound(native_type: type, annotation: Any) -> str | None:
    if native_type not in _NUMERIC_OR_TIME:
        return None
    try:
        TypeAdapter(annotation).validate_python(_SAMPLES[str])
    except ValidationError:
        return None  # the canonical value is not free text
    return (
        f"a text value is written into a native field that holds {_TYPE_NAMES[native_type]}; "
        "add a transform (decimal, integer, date, datetime) or map another field"
    )
