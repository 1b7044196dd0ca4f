"""One system's side of a mapping pair, simulated: its mapping, its native terms, one record.

The convergence check (`convergence.py`) syncs records between two such sides without a
network. A side stores what its mapper writes the way the real system would: a field the system
does not have is lost, and every value goes through the adapter's `normalize_native` hook (a
portal that shows `12.50` as `12.5`, lower-cases e-mail addresses, …), so what is read back is
what the real system would return. The core never names a system: the hooks come from the
adapter (`terms_of`), and a system without them stores values as written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connector.adapter import NativeRecord
from connector.mapping.mapper import CompiledMapper
from connector.mapping.positions import load_yaml
from connector.model import Entity, Record, flatten

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
EMPTY: tuple[Any, ...] = (None, "", [])


class NativeTerms(Protocol):
    """What an adapter says about its system's native fields (all optional on an adapter)."""

    def native_fields(self, entity: Entity) -> frozenset[str] | None: ...

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None: ...

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        """The value the system stores (and returns) when `value` is written to `field`."""
        ...

    def computed_native(
        self, entity: Entity, fields: Mapping[str, Any], *, line: bool
    ) -> Mapping[str, Any]:
        """Values the system computes itself on a stored record or line (a net amount)."""
        ...


class _AdapterTerms:
    """An adapter's hooks where it has them; no declared fields and no normalisation where not."""

    def __init__(self, adapter: object) -> None:
        self._adapter = adapter

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        method = getattr(self._adapter, "native_fields", None)
        found: frozenset[str] | None = method(entity) if method is not None else None
        return found

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        method = getattr(self._adapter, "native_line_fields", None)
        found: frozenset[str] | None = method(entity) if method is not None else None
        return found

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        method = getattr(self._adapter, "normalize_native", None)
        return value if method is None else method(entity, field, value, line=line)

    def computed_native(
        self, entity: Entity, fields: Mapping[str, Any], *, line: bool
    ) -> Mapping[str, Any]:
        method = getattr(self._adapter, "computed_native", None)
        found: Mapping[str, Any] = {} if method is None else method(entity, fields, line=line)
        return found


def terms_of(adapter: object | None) -> NativeTerms:
    return _AdapterTerms(adapter)


class KeyRefs:
    """Every external id `X` is bound to canonical key `key-X` (references map one to one)."""

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        return f"key-{external_id}"

    def external_id(self, entity: Entity, key: str) -> str | None:
        return key.removeprefix("key-")


@dataclass(frozen=True)
class Entry:
    """One field entry of a mapping file, with where its `native:` is written."""

    canonical: tuple[str, ...]
    native: tuple[str, ...]
    line: bool
    inbound: bool
    outbound: bool
    create_only: bool
    where: str
    #: The canonical values a `value_map` on this entry knows (the values worth sampling).
    choices: tuple[Any, ...] = ()


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if not isinstance(value, list) else tuple(str(v) for v in value)


def _choices(transform: Any) -> tuple[Any, ...]:
    steps = transform if isinstance(transform, list) else [transform]
    for step in steps:
        if isinstance(step, dict) and isinstance(step.get("value_map"), dict):
            table = step["value_map"]
            if isinstance(table.get("map"), dict):
                values = [*table["map"].values(), *(table.get("also") or {}).values()]
            else:
                values = [v for k, v in table.items() if k not in ("unknown", "also")]
            return tuple(dict.fromkeys(v for v in values if isinstance(v, str | int)))
    return ()


def mapping_entries(text: str, source: str) -> tuple[list[Entry], str]:
    """The field entries of a (valid) mapping file, top-level and lines, in file order, and
    where its `lines:` section is."""
    data, positions = load_yaml(text, source)
    found: list[Entry] = []
    groups: list[tuple[tuple[str | int, ...], Any, bool]] = [
        (("fields",), data.get("fields"), False)
    ]
    lines = data.get("lines")
    if isinstance(lines, dict):
        groups.append((("lines", "fields"), lines.get("fields"), True))
    for base, items, line in groups:
        for index, item in enumerate(items or []):
            direction = item.get("direction", "both")
            computed = bool(item.get("computed", False))
            found.append(
                Entry(
                    canonical=_names(item.get("canonical")),
                    native=_names(item.get("native")),
                    line=line,
                    inbound=direction != "outbound" and not computed,
                    outbound=direction != "inbound" and not computed,
                    create_only=bool(item.get("create_only", False)),
                    where=positions.locate((*base, index, "native")),
                    choices=_choices(item.get("transform")),
                )
            )
    return found, positions.locate(("lines",), key=True)


class Side:
    """One system of a pair: its mapper and terms, and the one native record it holds."""

    def __init__(
        self,
        label: str,
        kind: str,
        mapper: CompiledMapper,
        terms: NativeTerms,
        entries: tuple[list[Entry], str],
        *,
        name: str | None = None,
    ) -> None:
        self.label = label
        self.kind = kind
        #: What an `owner:` in a mapping may call this system: its kind or configured name.
        self.names = frozenset({kind} | ({name} if name else set()))
        self.mapper = mapper
        self.terms = terms
        self.entries, self.lines_where = entries
        self.entity = mapper.entity
        self.declared = terms.native_fields(self.entity)
        self.declared_lines = terms.native_line_fields(self.entity)
        self.lines_native = mapper.native_field("lines") or "lines"
        self.fields: dict[str, Any] = {}
        self.refs = KeyRefs()

    # --- what the mapping says ------------------------------------------------------------

    def line_paths(self, *, inbound: bool) -> frozenset[str]:
        return frozenset(
            path
            for e in self.entries
            if e.line and (e.inbound if inbound else e.outbound)
            for path in e.canonical
        )

    def create_only_paths(self) -> frozenset[str]:
        return frozenset(p for e in self.entries if e.create_only for p in e.canonical)

    def choices(self, path: str) -> tuple[Any, ...]:
        return next((e.choices for e in self.entries if path in e.canonical and e.choices), ())

    def where(self, path: str, *, line: bool = False) -> str:
        """`file:line:column` of the entry mapping a canonical path (or the file)."""
        if path == "lines" and not line:
            return self.lines_where
        for entry in self.entries:
            if entry.line == line and path in entry.canonical:
                return entry.where
        return self.mapper.source

    def where_native(self, field: str, *, line: bool = False) -> str:
        head = field.split(".")[0]
        for entry in self.entries:
            if entry.line == line and any(
                n == field or n.split(".")[0] == head for n in entry.native
            ):
                return entry.where
        return self.mapper.source

    def native_of_field(self, field: str, *, line: bool = False) -> bool:
        """Whether an entry of the mapping reads or writes this native field."""
        head = field.split(".")[0]
        return any(
            e.line == line and any(n.split(".")[0] == head for n in e.native) for e in self.entries
        )

    def native_of(self, path: str, *, line: bool = False) -> frozenset[str]:
        return frozenset(
            n for e in self.entries if e.line == line and path in e.canonical for n in e.native
        )

    # --- the stored record ----------------------------------------------------------------

    def canonical(self) -> Record:
        return self.mapper.to_canonical(NativeRecord("1", WHEN, self.fields), self.refs)

    def flat(self) -> dict[str, Any]:
        return flatten(self.canonical())

    def write(self, native: Mapping[str, Any]) -> None:
        """Store a write as the system would: unknown fields lost, values normalised."""
        for name, value in native.items():
            if name == self.lines_native and isinstance(value, list):
                self.fields[name] = self._lines(value)
            elif self.declared is None or name in self.declared:
                self.fields[name] = self._normalized(name, value)
        self.fields.update(self.terms.computed_native(self.entity, self.fields, line=False))

    def _normalized(self, name: str, value: Any, *, line: bool = False) -> Any:
        if isinstance(value, Mapping):
            # A nested native field (`associations.company`): merged, leaf by leaf.
            before = self.fields.get(name) if not line else None
            merged = dict(before) if isinstance(before, Mapping) else {}
            for key, inner in value.items():
                merged[key] = self._normalized(f"{name}.{key}", inner, line=line)
            return merged
        if value in EMPTY:
            return None
        return self.terms.normalize_native(self.entity, name, value, line=line)

    def _lines(self, written: list[Any]) -> list[dict[str, Any]]:
        """Lines are updated in place by position: a field not written keeps its value."""
        before = self.fields.get(self.lines_native)
        old = before if isinstance(before, list) else []
        lines: list[dict[str, Any]] = []
        for index, line in enumerate(written):
            merged = dict(old[index]) if index < len(old) else {}
            for name, value in dict(line).items():
                if self.declared_lines is None or name in self.declared_lines:
                    merged[name] = self._normalized(name, value, line=True)
            merged.update(self.terms.computed_native(self.entity, merged, line=True))
            lines.append(merged)
        return lines
