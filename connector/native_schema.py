"""What a live system says about its native fields: names, types, writability, allowed values.

An adapter that can ask its system (a CRM's describe call, say) offers `Describing`; `connector
check` then holds the mapping files against the answer (`connector.mapping.live_check`) and
reports, at the file position of the offending entry, a mapped field the system lacks, a written
field it will not take, a value-map value a closed list refuses, or a type that cannot carry the
canonical value. Adapters without the hook are not judged this way (`describe_adapter`).

The schema is the adapter's *native shape*, not the raw API answer: pseudo-fields the adapter
translates (an owner e-mail written as a user id) appear with the abilities of what they become.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from connector.entity import Entity


@dataclass(frozen=True)
class NativeField:
    """One native field as the live system describes it."""

    name: str
    #: The system's own name for the type (`picklist`, `currency`), shown in messages.
    type_label: str
    #: What a read hands the mapper (`str` for text, dates sent as text, `float`…); None: unknown.
    python_type: type | None = None
    createable: bool = True
    updateable: bool = True
    #: The values the field lists (a picklist's); None when it takes free values.
    values: tuple[str, ...] | None = None
    #: Values outside `values` are refused (a restricted picklist), not merely unlisted.
    restricted: bool = False
    #: The system computes it (a formula, a roll-up, a calculated property): no access grant
    #: makes it writable.
    computed: bool = False


@dataclass(frozen=True)
class NativeSchema:
    """The native fields of one entity (and of a sale's lines), as the live system has them."""

    #: What the system calls the object (`Account`), for messages.
    where: str
    fields: Mapping[str, NativeField]
    #: Field names match case-blind (Salesforce's API does, for one).
    case_sensitive: bool = True
    lines: NativeSchema | None = None
    #: How to add a missing field, appended to "has no field" messages.
    missing_hint: str = ""
    #: What the adapter itself needs and the system lacks, beyond the mapping files' fields
    #: (a key field it upserts by): reported against the system, not a file position.
    problems: tuple[str, ...] = ()
    _folded: dict[str, NativeField] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._folded.update({name.casefold(): spec for name, spec in self.fields.items()})

    def field(self, name: str) -> NativeField | None:
        found = self.fields.get(name)
        if found is None and not self.case_sensitive:
            found = self._folded.get(name.casefold())
        return found


@runtime_checkable
class Describing(Protocol):
    """The optional hook: an opened adapter describes an entity's native fields live."""

    async def describe_fields(self, entity: Entity) -> NativeSchema | None: ...


async def describe_adapter(adapter: object, entity: Entity) -> NativeSchema | None:
    """The adapter's description of `entity`, or None for one that cannot describe."""
    if isinstance(adapter, Describing):
        return await adapter.describe_fields(entity)
    return None
