"""Closures that read and write native dicts and canonical records, made once per field.

These are what keeps YAML out of the hot path: a field's dotted native path or canonical path
is split here at compile time, and the mapper only calls the resulting functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.errors import MappingError
from connector.mapping.mapper import MISSING, Assigner, Getter, Reader, Writer


def reader(natives: tuple[str, ...]) -> Reader:
    """Reads the native value (a tuple for several fields); `MISSING` when none is present."""
    if len(natives) == 1:
        return _single_reader(natives[0])
    readers = tuple(_single_reader(name) for name in natives)

    def read_many(fields: Mapping[str, Any]) -> Any:
        values = tuple(read(fields) for read in readers)
        if all(value is MISSING for value in values):
            return MISSING
        return tuple(None if value is MISSING else value for value in values)

    return read_many


def _single_reader(dotted: str) -> Reader:
    if "." not in dotted:
        return lambda fields: fields.get(dotted, MISSING)
    parts = tuple(dotted.split("."))

    def read_nested(fields: Mapping[str, Any]) -> Any:
        value: Any = fields
        for part in parts:
            if not isinstance(value, Mapping) or part not in value:
                return MISSING
            value = value[part]
        return value

    return read_nested


def writer(natives: tuple[str, ...], label: str) -> Writer:
    """Writes a native value (spreading a tuple over several fields), nesting dotted paths."""
    if len(natives) == 1:
        return _single_writer(natives[0])
    writers = tuple(_single_writer(name) for name in natives)
    count = len(writers)

    def write_many(out: dict[str, Any], value: Any) -> None:
        if value is None:
            value = (None,) * count
        if not isinstance(value, tuple | list) or len(value) != count:
            raise MappingError(f"{label}: expected {count} values to write, got {value!r}")
        for write, item in zip(writers, value, strict=True):
            write(out, item)

    return write_many


def _single_writer(dotted: str) -> Writer:
    if "." not in dotted:

        def write_flat(out: dict[str, Any], value: Any) -> None:
            out[dotted] = value

        return write_flat
    *parents, leaf = dotted.split(".")

    def write_nested(out: dict[str, Any], value: Any) -> None:
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value

    return write_nested


def getter(paths: tuple[str, ...], *, line_item: bool) -> Getter:
    """Reads canonical path(s) from a record (or a sale line); None when empty."""
    if not paths:
        return lambda record: None
    if len(paths) == 1:
        return _single_getter(paths[0], line_item)
    getters = tuple(_single_getter(path, line_item) for path in paths)

    def get_many(record: Any) -> Any:
        values = tuple(get(record) for get in getters)
        return None if all(value is None for value in values) else values

    return get_many


def _single_getter(path: str, line_item: bool) -> Getter:
    head, _, tail = path.partition(".")
    if not tail or line_item:
        return lambda record: getattr(record, path)
    if head == "custom":
        return lambda record: record.custom.get(tail)

    def get_nested(record: Any) -> Any:
        part = getattr(record, head)
        return None if part is None else getattr(part, tail)

    return get_nested


def assigner(paths: tuple[str, ...], label: str) -> Assigner:
    """Puts a canonical value into the nested dict a record is validated from."""
    if len(paths) == 1:
        return _single_assigner(paths[0])
    assigners = tuple(_single_assigner(path) for path in paths)
    count = len(assigners)

    def assign_many(values: dict[str, Any], value: Any) -> None:
        if value is None:
            value = (None,) * count
        if not isinstance(value, tuple | list) or len(value) != count:
            raise MappingError(f"{label}: the transform gave {value!r}, not {count} values")
        for assign, item in zip(assigners, value, strict=True):
            assign(values, item)

    return assign_many


def _single_assigner(path: str) -> Assigner:
    head, _, tail = path.partition(".")
    if not tail:

        def assign_flat(values: dict[str, Any], value: Any) -> None:
            values[head] = value

        return assign_flat

    def assign_nested(values: dict[str, Any], value: Any) -> None:
        part = values.get(head)
        if part is None:
            part = values[head] = {}
        part[tail] = value

    return assign_nested


def triggers(paths: tuple[str, ...]) -> frozenset[str]:
    """Names in a wanted-path set that mean "write this field" (a cleared part by its name)."""
    names = set(paths)
    for path in paths:
        head, _, tail = path.partition(".")
        if tail and head != "custom":
            names.add(head)
    return frozenset(names)
