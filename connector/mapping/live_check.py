"""Holding a mapping file against the fields a live system describes (`connector check`).

`compile_mapping` checks names against what the adapter *declares*; this checks the file against
what the system *has* (`connector.native_schema`), at the file position of each entry:

* a native field the system lacks (at the `native:` value);
* a field the file writes into the system that the system will not take: read-only, or settable
  on create only while the file writes it on every change (at `native:`);
* a value a value map writes that the field's closed list lacks: an error for a restricted list
  (the record would be refused), a warning for an open one (at the value map's key, the native
  value); likewise a `default:`; and a warning where `unknown: keep` lets unmapped values
  through into a restricted list;
* a native type that cannot carry the canonical value (`typecheck.field_type_problem`).

Pure: the schema comes in, problems and warnings go out.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from connector.errors import Problem
from connector.mapping.chains import BuiltStep, parse_chain
from connector.mapping.mapper import CompiledField
from connector.mapping.positions import KeyPath, Positions, did_you_mean, load_yaml
from connector.mapping.spec import FieldSpec, LinesSpec
from connector.mapping.transforms import Function, available_transforms
from connector.mapping.typecheck import field_type_problem
from connector.model import Entity
from connector.native_schema import NativeField, NativeSchema


@dataclass
class Findings:
    """What a live check found: problems fail `connector check`, warnings are only shown."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def check_against_schema(
    text: str,
    source: str,
    entity: Entity,
    schema: NativeSchema,
    *,
    written: bool,
    compiled: Sequence[CompiledField] = (),
) -> Findings:
    """Findings for one (already valid) mapping file against its system's live schema.

    `written` says whether a route writes this entity into the system (only then do
    writability and closed lists matter). `compiled` are the file's compiled top-level fields in
    file order (the mapper's `fields`), used for the type check; empty skips it.
    """
    found = Findings()
    data, positions = load_yaml(text, source)
    if not isinstance(data, dict):
        return found
    check = _Checker(positions, found, entity)
    for index, raw in enumerate(data.get("fields") or []):
        spec = _spec(raw)
        if spec is None:
            continue
        compiled_field = compiled[index] if index < len(compiled) else None
        check.entry(spec, ("fields", index), schema, written=written, compiled=compiled_field)
    lines = data.get("lines")
    if isinstance(lines, dict) and schema.lines is not None:
        try:
            header = LinesSpec.model_validate({k: v for k, v in lines.items() if k != "fields"})
        except ValidationError:
            return found
        lines_written = written and header.direction != "inbound"
        for index, raw in enumerate(lines.get("fields") or []):
            spec = _spec(raw)
            if spec is not None:
                where = ("lines", "fields", index)
                check.entry(spec, where, schema.lines, written=lines_written, compiled=None)
    return found


def _spec(raw: Any) -> FieldSpec | None:
    try:
        return FieldSpec.model_validate(raw)
    except ValidationError:
        return None  # the file check reports it


class _Checker:
    def __init__(self, positions: Positions, found: Findings, entity: Entity) -> None:
        self.positions = positions
        self.found = found
        self.entity = entity

    def problem(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.found.problems.append(self.positions.problem(path, message, key=key))

    def warning(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        self.found.warnings.append(self.positions.problem(path, message, key=key))

    def entry(
        self,
        spec: FieldSpec,
        path: KeyPath,
        schema: NativeSchema,
        *,
        written: bool,
        compiled: CompiledField | None,
    ) -> None:
        names = [spec.native] if isinstance(spec.native, str) else list(spec.native)
        writes = written and spec.direction != "inbound" and not spec.computed
        described: list[NativeField] = []
        for index, name in enumerate(names):
            where = (*path, "native", index) if isinstance(spec.native, list) else (*path, "native")
            native = schema.field(name)
            if native is None:
                spelt = [f for f in schema.fields if f.casefold() == name.casefold()]
                typo = spelt or difflib.get_close_matches(name, list(schema.fields), cutoff=0.85)
                hint = f" (a typo for `{typo[0]}`?)" if typo else ""
                if schema.missing_hint:
                    hint += f"; {schema.missing_hint}"
                self.problem(where, f"{schema.where} has no field `{name}`{hint}")
                continue
            described.append(native)
            if writes:
                self._writable(where, spec, schema, native)
        if len(names) != 1 or len(described) != 1:
            return
        native = described[0]
        if compiled is not None:
            message = field_type_problem(self.entity, compiled, native.python_type)
            if message is not None:
                message = f"{schema.where}.{native.name} is {native.type_label}: {message}"
                self.problem((*path, "native"), message)
        if writes and native.values is not None:
            self._values(spec, path, schema, native)

    def _writable(
        self, where: KeyPath, spec: FieldSpec, schema: NativeSchema, native: NativeField
    ) -> None:
        label = f"{schema.where}.{native.name}"
        if native.computed:
            self.problem(
                where,
                f"{label} is computed by the system but the mapping writes it: mark the entry "
                "`computed: true` (or `direction: inbound`)",
            )
        elif not native.createable and not native.updateable:
            self.problem(
                where,
                f"{label} is read-only for this connection but the mapping writes it: make the "
                "entry `direction: inbound`, or give the connection's user edit access to it",
            )
        elif spec.create_only and not native.createable:
            self.problem(where, f"{label} cannot be set on create but the entry is `create_only`")
        elif not spec.create_only and not native.updateable:
            self.problem(
                where,
                f"{label} can be set on create only, but the mapping writes every change to it: "
                "add `create_only: true` to the entry",
            )

    def _values(
        self, spec: FieldSpec, path: KeyPath, schema: NativeSchema, native: NativeField
    ) -> None:
        allowed = native.values or ()
        label = f"{schema.where}.{native.name}"
        kind = f"restricted {native.type_label}" if native.restricted else native.type_label
        problems: list[Problem] = []
        steps = parse_chain(
            spec.transform,
            (*path, "transform"),
            self.positions,
            available_transforms(),
            problems,
        )
        for index, step in enumerate(steps or []):
            if step.name != "value_map":
                continue
            before = _backward(steps[:index] if steps else [])
            table, unknown = _map_of(step)
            map_path = _map_path(step, self.positions)
            for value in table:
                try:
                    wanted = before(value) if before is not None else value
                except (TypeError, ValueError):
                    continue
                if wanted is None or str(wanted) in allowed:
                    continue
                message = (
                    f"{label} is a {kind} without the value {str(wanted)!r}"
                    f"{_close(str(wanted), allowed)}"
                )
                if native.restricted:
                    self.problem(
                        (*map_path, value),
                        f"{message}: records mapped to it would be refused; add it to the "
                        f"{native.type_label} or map to one of its values",
                        key=True,
                    )
                else:
                    self.warning(
                        (*map_path, value),
                        f"{message}: it is stored, but not offered in the list",
                        key=True,
                    )
            if unknown == "keep" and native.restricted:
                self.warning(
                    (*step.path, "value_map", "unknown"),
                    f"`unknown: keep` writes unmapped values unchanged into {kind} {label}: a "
                    "value it lacks fails its record",
                    key=True,
                )
        default = spec.default if "default" in spec.model_fields_set else None
        if default is not None and str(default) not in allowed:
            message = f"{label} is a {kind} without the default {default!r}"
            if native.restricted:
                self.problem((*path, "default"), message)
            else:
                self.warning((*path, "default"), message)


def _backward(steps: Sequence[BuiltStep]) -> Function | None:
    """canonical → native through `steps` (the ones nearer the native side), or None."""
    inverses: list[Function] = []
    for step in reversed(steps):
        inverse = step.functions.inverse
        if inverse is None:
            return None
        inverses.append(inverse)

    def run(value: Any) -> Any:
        for inverse in inverses:
            if value is None:
                return None
            value = inverse(value)
        return value

    return run


def _map_of(step: BuiltStep) -> tuple[Mapping[Any, Any], str]:
    args = step.args.model_dump()
    return args.get("map") or {}, str(args.get("unknown", "error"))


def _map_path(step: BuiltStep, positions: Positions) -> KeyPath:
    """Where the native → canonical table starts: `value_map: {map: {…}}` or the shorthand."""
    explicit = (*step.path, "value_map", "map")
    return explicit if explicit in positions.values else (*step.path, "value_map")


def _close(value: str, allowed: Sequence[str]) -> str:
    for candidate in allowed:
        if candidate.casefold() == value.casefold():
            return f" (it has {candidate!r}: the case differs)"
    return did_you_mean(value, allowed)
