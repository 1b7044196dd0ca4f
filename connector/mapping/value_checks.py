"""How the generated inbound code checks a value against its canonical field's type.

A mapped record used to be built by one pydantic `model_validate` per record, which re-checks
every value the compiled mapping has just produced. The compiler knows each field's canonical
type, so the generated code checks each value itself, in one line, and the record is built
without validation (`connector.model.trusted_constructor`). The checks accept only what pydantic
would accept *unchanged* (or, for an enumeration, turn into its member, as pydantic does): a
value of exactly the field's type. Anything else — a subclass, a string where a number belongs,
an infinite decimal, an unknown enumeration label, a type these checks do not know — does not
fail here: it sends the record down the validating path, so its error is pydantic's, worded
as before and naming the field (`CompiledMapper._validation_failure`).
"""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from connector.model import Entity, Money, record_type

#: Types whose instances pydantic's lax mode returns as they are, for a field of that type.
_EXACT = (str, int, float, bool, dt.date)


@dataclass(frozen=True)
class ValueCheck:
    """What the generated code tests for one canonical path.

    `kind`: "exact" (`type(v) is exact`), "decimal" (a finite `Decimal`), "enum" (a member or
    its value, replaced by the member through `members`), "any" (`custom.*`: not typed), or
    "validate" (no fast test: a value here always takes the validating path).
    """

    kind: str
    optional: bool = True
    exact: type | None = None
    enum: type[Enum] | None = None
    members: dict[str, Enum] = field(default_factory=dict)


VALIDATE = ValueCheck("validate")


def canonical_type(entity: Entity, path: tuple[str, ...]) -> Any:
    """The annotation of a canonical path (`billing_address.city`), or None if open/unknown."""
    found = _field_info(entity, path)
    return None if found is None else found.annotation


def _field_info(entity: Entity, path: tuple[str, ...]) -> FieldInfo | None:
    model: Any = record_type(entity)
    info: FieldInfo | None = None
    for part in path:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        info = fields[part]
        model = _model_in(info.annotation)
    return info


def _model_in(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return candidate
    return None


def value_check(entity: Entity, path: str) -> ValueCheck:
    """The check for one canonical path of `entity` (`custom.*` is open)."""
    if path.startswith("custom."):
        return ValueCheck("any")
    info = _field_info(entity, tuple(path.split(".")))
    if info is None or info.metadata:  # constraints on the field itself: pydantic's to check
        return VALIDATE
    return check_for(info.annotation)


def check_for(annotation: Any) -> ValueCheck:
    """The fast check for a field annotated `annotation` (`VALIDATE` when there is none)."""
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            return VALIDATE
        optional = len(members) < len(get_args(annotation))
        annotation = members[0]
    # `Money` says "no NaN or infinity", which pydantic also says of a plain `Decimal`; other
    # annotated types (`UtcDatetime`'s validator) carry rules only pydantic runs.
    if annotation is Money or annotation is Decimal:
        return ValueCheck("decimal", optional)
    if get_origin(annotation) is Annotated:
        return VALIDATE
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        table: dict[str, Enum] = {member.value: member for member in annotation}
        return ValueCheck("enum", optional, enum=annotation, members=table)
    if annotation in _EXACT:
        return ValueCheck("exact", optional, exact=annotation)
    return VALIDATE
