"""Validated mapping-file data → a `CompiledMapper`, or every problem found in the file.

The checks, each reported with file, line and column and a "did you mean" where one is likely:
the file's shape (pydantic `spec` models), canonical paths against the canonical model (`custom.*`
is open), native fields against the adapter's declared fields (when it declares them), transform
names and arguments, invertibility of `both`/`outbound` fields, references, value maps into
enumerations, and paths mapped twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from connector.errors import Problem
from connector.mapping import access
from connector.mapping.builtin_transforms import ValueMapArgs
from connector.mapping.chains import BuiltStep, parse_chain
from connector.mapping.codegen import build_inbound, build_outbound, build_record_inbound
from connector.mapping.mapper import CompiledField, CompiledLines, CompiledMapper
from connector.mapping.positions import KeyPath, Positions, did_you_mean
from connector.mapping.spec import FieldSpec, LinesSpec, MappingFile
from connector.mapping.transforms import Transform, available_transforms, compose
from connector.model import Entity, SaleLine, canonical_fields, record_type


class _Context:
    """What one file is checked against, and where its problems go."""

    def __init__(
        self,
        positions: Positions,
        entity: Entity,
        registry: Mapping[str, Transform],
        native_fields: frozenset[str] | None,
    ) -> None:
        self.positions = positions
        self.entity = entity
        self.registry = registry
        self.native_fields = native_fields
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.problems.append(self.positions.problem(path, message, key=key))


def compile_mapping(
    data: Any,
    positions: Positions,
    *,
    entity: Entity,
    registry: Mapping[str, Transform] | None = None,
    native_fields: frozenset[str] | None = None,
) -> tuple[CompiledMapper | None, list[Problem]]:
    """Compile one file's data; the mapper is None whenever a problem was found."""
    context = _Context(positions, entity, registry or available_transforms(), native_fields)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        context.add((), "a mapping file is a YAML mapping with `fields:` (and `lines:`)")
        return None, context.problems
    header = _validate(context, MappingFile, {k: v for k, v in data.items() if k != "fields"}, ())
    if header is not None and header.entity is not None and header.entity != entity:
        context.add(("entity",), f"this file maps `{entity.value}`, not `{header.entity.value}`")
    raw_fields = data.get("fields") or []
    if not isinstance(raw_fields, list):
        context.add(("fields",), "`fields:` must be a list of field entries")
        raw_fields = []
    allowed = canonical_fields(entity) - {"lines"}
    compiled: list[tuple[KeyPath, CompiledField]] = []
    for index, raw in enumerate(raw_fields):
        spec = _validate(context, FieldSpec, raw, ("fields", index))
        if spec is not None:
            field = _compile_field(context, spec, ("fields", index), allowed, line_item=False)
            if field is not None:
                compiled.append((("fields", index), field))
    lines = _compile_lines(context, data.get("lines"))
    _check_duplicates(context, compiled)
    fields = [field for _, field in compiled]
    if context.problems:
        return None, context.problems
    lines_spec, lines_compiled = lines if lines is not None else (None, None)
    # Computed fields are read-only and never synced: they stay in `fields` (documentation,
    # previews) but neither direction carries them.
    inbound = [f for f in fields if f.forward is not None and f.canonical and not f.computed]
    outbound = [f for f in fields if f.backward is not None or not f.canonical]
    lines_inbound = lines_spec is not None and lines_spec.direction != "outbound"
    # A record function takes every record `build_inbound`'s `inbound` would: then the
    # mapper needs its `inbound_each` alone. Sale lines read inbound are converted apart,
    # after the fields, so such a mapper keeps `inbound` and has no record function.
    record_function = (
        None if lines_inbound else build_record_inbound(inbound, entity, record_type(entity))
    )
    mapper = CompiledMapper(
        entity=entity,
        source=positions.source,
        record_type=record_type(entity),
        fields=fields,
        inbound=inbound,
        outbound=outbound,
        lines=lines_compiled,
        lines_inbound=lines_inbound,
        lines_outbound=lines_spec is not None and lines_spec.direction != "inbound",
        inbound_function=build_inbound(inbound, entity, take=record_function is None),
        outbound_function=build_outbound(outbound, record_type=record_type(entity)),
        record_function=record_function,
    )
    return mapper, []


_Model = TypeVar("_Model", bound=BaseModel)


def _validate(context: _Context, model: type[_Model], raw: Any, path: KeyPath) -> _Model | None:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        for detail in error.errors():
            where = (*path, *detail["loc"])
            if detail["type"] == "extra_forbidden":
                name = str(detail["loc"][-1])
                hint = did_you_mean(name, model.model_fields)
                context.add(where, f"unknown key `{name}`{hint}", key=True)
            else:
                shown = detail.get("input")
                got = f" (got {shown!r})" if not isinstance(shown, dict | list) else ""
                label = ".".join(str(part) for part in detail["loc"]) or "entry"
                context.add(where, f"`{label}`: {detail['msg']}{got}")
        return None


def _compile_lines(context: _Context, raw: Any) -> tuple[LinesSpec, CompiledLines | None] | None:
    if raw is None:
        return None
    path: KeyPath = ("lines",)
    if context.entity is not Entity.SALE:
        context.add(path, "only sale mappings have `lines:`", key=True)
        return None
    if not isinstance(raw, dict):
        context.add(path, "`lines:` is a mapping with `native:` and `fields:`")
        return None
    header = _validate(context, LinesSpec, {k: v for k, v in raw.items() if k != "fields"}, path)
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        context.add((*path, "fields"), "`lines:` needs a non-empty `fields:` list")
        return None
    allowed = frozenset(SaleLine.model_fields)
    entries: list[tuple[KeyPath, CompiledField]] = []
    for index, item in enumerate(raw_fields):
        where = (*path, "fields", index)
        spec = _validate(context, FieldSpec, item, where)
        if spec is None:
            continue
        field = _compile_field(context, spec, where, allowed, line_item=True)
        if field is not None:
            entries.append((where, field))
    _check_duplicates(context, entries)
    compiled = [field for _, field in entries]
    if header is None:
        return None
    label = f"{context.positions.locate(path)}: lines (native `{header.native}`)"
    lines = CompiledLines(
        label=label,
        native=header.native,
        inbound=tuple(
            f for f in compiled if f.forward is not None and f.canonical and not f.computed
        ),
        outbound=tuple(f for f in compiled if f.backward is not None and f.canonical),
        owner=header.owner,
    )
    return header, lines


def _compile_field(
    context: _Context, spec: FieldSpec, path: KeyPath, allowed: frozenset[str], *, line_item: bool
) -> CompiledField | None:
    before = len(context.problems)
    canonical = _as_tuple(spec.canonical)
    native = _as_tuple(spec.native)
    has_default = "default" in spec.model_fields_set
    _check_canonical(context, spec, path, canonical, allowed, line_item)
    _check_native(context, spec, path, native, line_item)
    _check_reference(context, spec, path, canonical, line_item)
    if not canonical and (spec.direction != "outbound" or not has_default):
        context.add(
            path,
            "an entry without `canonical:` must be `direction: outbound` "
            "with a `default:` (a native constant written on create)",
        )
    if spec.direction == "inbound" and (has_default or spec.create_only):
        context.add(path, "`default` and `create_only` apply only to outbound fields")
    if spec.computed and (
        ("direction" in spec.model_fields_set and spec.direction != "inbound")
        or has_default
        or spec.create_only
    ):
        context.add(
            path,
            "a `computed` field is read-only: the system computes it, so it is never written "
            "(drop `direction`, `default` and `create_only`)",
        )
    steps = parse_chain(
        spec.transform, (*path, "transform"), context.positions, context.registry, context.problems
    )
    inverse_steps = parse_chain(
        spec.inverse, (*path, "inverse"), context.positions, context.registry, context.problems
    )
    if steps is None or inverse_steps is None:
        return None
    if (len(native) > 1 or len(canonical) > 1) and not steps:
        context.add(
            path,
            "several native or canonical fields need a transform that joins or "
            "splits them (coalesce, join_name, split_name)",
        )
    forward = compose([step.functions.forward for step in steps])
    backward = None
    if spec.direction != "inbound" and canonical and not spec.computed:
        backward = _backward(context, spec, path, steps, inverse_steps)
    if len(canonical) == 1:
        _check_value_map(context, steps, canonical[0], line_item)
    if len(context.problems) > before:
        return None
    line = context.positions.values.get(path, (0, 0))[0]
    shown = ", ".join(canonical) or "(none)"
    label = f"{context.positions.source}:{line}: field `{shown}` (native `{', '.join(native)}`)"
    return CompiledField(
        label=label,
        canonical=canonical,
        native=native,
        read=access.reader(native),
        write=access.writer(native, label),
        get=access.getter(canonical, line_item=line_item),
        assign=access.assigner(canonical, label),
        forward=forward if spec.direction != "outbound" else None,
        backward=backward,
        triggers=access.triggers(canonical),
        create_only=spec.create_only,
        has_default=has_default,
        default=spec.default,
        required=spec.required,
        owner=spec.owner,
        ref=spec.ref,
        computed=spec.computed,
    )


def _backward(
    context: _Context,
    spec: FieldSpec,
    path: KeyPath,
    steps: list[BuiltStep],
    inverse_steps: list[BuiltStep],
) -> Any:
    if spec.inverse is not None:
        return compose([step.functions.forward for step in inverse_steps])
    for step in steps:
        if step.functions.inverse is None:
            context.add(
                step.path,
                f"transform `{step.name}` has no inverse, so a `{spec.direction}` field cannot "
                "use it: add `inverse:` or make the field `direction: inbound`",
            )
            return None
    return compose([step.functions.inverse for step in reversed(steps) if step.functions.inverse])


def _check_canonical(
    context: _Context,
    spec: FieldSpec,
    path: KeyPath,
    canonical: tuple[str, ...],
    allowed: frozenset[str],
    line_item: bool,
) -> None:
    for index, name in enumerate(canonical):
        where = (
            (*path, "canonical", index)
            if isinstance(spec.canonical, list)
            else (*path, "canonical")
        )
        if not line_item and name.startswith("custom.") and len(name) > len("custom."):
            continue
        if name == "lines" and not line_item:
            context.add(where, "sale lines are mapped in the `lines:` section, not as a field")
        elif name not in allowed:
            kind = "sale line" if line_item else context.entity.value
            hint = did_you_mean(name, allowed)
            context.add(where, f"unknown canonical field `{name}` for {kind}{hint}")


def _check_native(
    context: _Context, spec: FieldSpec, path: KeyPath, native: tuple[str, ...], line_item: bool
) -> None:
    for index, name in enumerate(native):
        where = (*path, "native", index) if isinstance(spec.native, list) else (*path, "native")
        if not name or any(not part for part in name.split(".")):
            context.add(where, f"native field {name!r} is empty or has an empty dotted part")
            continue
        declared = context.native_fields
        if declared is None or line_item:
            continue
        head = name.split(".")[0]
        if name not in declared and head not in declared:
            hint = did_you_mean(name, declared)
            context.add(
                where,
                f"unknown native field `{name}` (the adapter declares no such "
                f"field for {context.entity.value}){hint}",
            )


def _check_reference(
    context: _Context, spec: FieldSpec, path: KeyPath, canonical: tuple[str, ...], line_item: bool
) -> None:
    references = {} if line_item else record_type(context.entity).references
    if spec.ref is not None:
        target = references.get(canonical[0]) if len(canonical) == 1 else None
        if target is None:
            names = ", ".join(f"`{name}`" for name in references) or "none"
            context.add(
                (*path, "ref"),
                f"`ref:` is for reference fields ({names}), not "
                f"`{', '.join(canonical) or '(none)'}`",
            )
        elif target != spec.ref:
            context.add(
                (*path, "ref"),
                f"`{canonical[0]}` refers to a {target.value}, not a {spec.ref.value}",
            )
    else:
        for name in canonical:
            if name in references:
                context.add(
                    (*path, "canonical"),
                    f"`{name}` holds a canonical key: add "
                    f"`ref: {references[name].value}` so ids are translated",
                )


def _check_value_map(
    context: _Context, steps: list[BuiltStep], canonical: str, line_item: bool
) -> None:
    if not steps or not isinstance(steps[-1].args, ValueMapArgs) or line_item:
        return
    enum = _enum_type(context.entity, canonical)
    if enum is None:
        return
    members = {member.value for member in enum}
    args = steps[-1].args
    base = (*steps[-1].path, "value_map")
    for table in ("map", "also"):
        for native, value in getattr(args, table).items():
            if value in members:
                continue
            explicit = (*base, table, native)
            where = explicit if explicit in context.positions.values else (*base, native)
            hint = did_you_mean(str(value), members)
            known = ", ".join(sorted(members))
            context.add(where, f"`{value}` is not a {canonical} value ({known}){hint}")


def _enum_type(entity: Entity, canonical: str) -> type[Enum] | None:
    model: type[BaseModel] = record_type(entity)
    parts = canonical.split(".")
    info = model.model_fields.get(parts[0])
    if info is None or len(parts) > 1:
        return None
    for candidate in (info.annotation, *get_args(info.annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return candidate
    return None


def _check_duplicates(context: _Context, entries: list[tuple[KeyPath, CompiledField]]) -> None:
    """Two entries filling one canonical path (or writing one native field) would race."""
    filled: dict[str, str] = {}
    written: dict[str, str] = {}
    for path, field in entries:
        here = context.positions.locate(path)
        for name in field.canonical if field.forward is not None else ():
            if name in filled:
                context.add(path, f"canonical `{name}` is filled twice (also at {filled[name]})")
            filled.setdefault(name, here)
        for name in field.native if field.backward is not None or not field.canonical else ():
            if name in written:
                context.add(path, f"native `{name}` is written twice (also at {written[name]})")
            written.setdefault(name, here)


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
