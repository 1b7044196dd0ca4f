"""The mapping-file format: what a YAML file may say, as pydantic models (and JSON Schema).

These models check the *shape* of a file. What needs knowledge beyond one file (do the canonical
paths exist, is a transform known and invertible, do its arguments fit) is checked by the
compiler, which reports through the same `Problem`s with positions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.model import Entity

Direction = Literal["both", "inbound", "outbound"]

#: A transform name (`strip`) or a one-key mapping of name to arguments (`decimal: {scale: 2}`).
TransformStep = str | dict[str, Any]
#: One step or a list of steps, applied in order native → canonical.
TransformChain = TransformStep | list[TransformStep]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One native field (or several) ↔ one canonical path (or several)."""

    canonical: str | list[str] | None = Field(
        default=None,
        description="Canonical path (`name`, `billing_address.city`, `custom.segment`); a list "
        "when one native value holds several (split_name). Omit for a native-only constant "
        "written on create from `default`.",
    )
    native: str | list[str] = Field(
        description="Native field; dotted for nested JSON (`associations.company`); a list "
        "when several native fields make one value (coalesce, join_name).",
    )
    transform: TransformChain | None = Field(
        default=None, description="Applied native → canonical; inverted for canonical → native."
    )
    inverse: TransformChain | None = Field(
        default=None,
        description="Explicit canonical → native chain, for transforms with no declared inverse.",
    )
    direction: Direction = "both"
    create_only: bool = Field(default=False, description="Written to the native side on create.")
    default: Any = Field(
        default=None, description="Native value written on create when the record has none."
    )
    required: bool = Field(default=False, description="A record without a value is an error.")
    computed: bool = Field(
        default=False,
        description="The native system computes this value (a line amount, a formula, an "
        "auto-number): read-only. It is never written to the native side, and never carried "
        "into another system, so it cannot flow back into the values it was computed from.",
    )
    owner: str | None = Field(
        default=None, description="The system (kind or configured name) that wins conflicts."
    )
    ref: Entity | None = Field(
        default=None, description="The value is a reference to a record of this entity."
    )
    description: str | None = None


class LinesSpec(_Strict):
    """A sale's lines: a native list of dicts ↔ canonical `lines`."""

    native: str = Field(default="lines", description="The native field holding the list.")
    direction: Direction = "both"
    owner: str | None = None
    fields: list[FieldSpec] = Field(default_factory=list, min_length=1)


class MappingFile(_Strict):
    """One (system kind, entity) mapping file."""

    entity: Entity | None = Field(
        default=None, description="Optional; must match the file name when given."
    )
    description: str | None = None
    fields: list[FieldSpec] = Field(default_factory=list)
    lines: LinesSpec | None = None
