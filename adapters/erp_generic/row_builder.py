"""A page of driver rows (value tuples) as dicts of their columns, converted in the same pass.

`reader.fetch_dicts` used to fill each row's dict from `zip(names, row)` (`dict.update` takes a
pair at a time: ~345 callgrind instructions a value) and then convert the few columns that
need it in a second loop over the rows, a dict read and a dict write a value. For each shape
of result (the column names, and which of them convert) one function is generated and kept:
it unpacks a row's tuple into locals, converts the locals that need it, and sets each into a
copy of a blank dict of the names (its key table already holds every name), so a row costs a
store per value and nothing more: ~5,000 instructions for the sample ERP's 31-column customer
against ~10,700 for the dict and the second loop's ~2,000.

What a row becomes is what `dict(zip(names, row))` and the loop gave: each converter is
called on the column's value where it is not None (a processor gives None back for None); a
naive timestamp of an `aware` column becomes aware UTC as `connector.timestamps.as_utc` makes
it. The names are literals of the generated source by `repr` (any text a database may name a
column); the converters are passed in, never written into it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from connector.timestamps import as_utc

Converter = Callable[[Any], Any]
Builder = Callable[[Iterable[Sequence[Any]], Sequence[Converter]], list[dict[str, Any]]]

#: Builders by result shape: (names, the indexes converted, the indexes made aware UTC).
_BUILDERS: dict[tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]], Builder] = {}
#: A bound on the shapes kept (each a compiled function): an application reading many ad hoc
#: shapes builds the others each time instead.
_KEPT = 256


def build_rows(
    names: Sequence[str],
    rows: Iterable[Sequence[Any]],
    converters: Mapping[int, Converter],
    aware: Iterable[int] = (),
) -> list[dict[str, Any]]:
    """Each row as a dict of `names`, the value at each index of `converters` converted by it
    (where not None), and a naive datetime at each index of `aware` made aware UTC after.

    The names must be distinct (a repeated name leaves one key for two values: the caller
    reads such rows its own way)."""
    converted = tuple(sorted(converters))
    utc = tuple(sorted(aware))
    shape = (tuple(names), converted, utc)
    builder = _BUILDERS.get(shape)
    if builder is None:
        builder = _builder(*shape)
        if len(_BUILDERS) < _KEPT:
            _BUILDERS[shape] = builder
    return builder(rows, [converters[index] for index in converted])


def _builder(names: tuple[str, ...], converted: tuple[int, ...], utc: tuple[int, ...]) -> Builder:
    if len(set(names)) != len(names) or not names:
        raise ValueError("a row builder needs distinct column names, at least one")
    values = [f"a{index}" for index in range(len(names))]
    # The blank's keys are the very objects the stores below name (a compilation shares equal
    # constants): each store then finds its key by identity, not by comparing text.
    lines = [f"blank = dict.fromkeys(({''.join(f'{name!r}, ' for name in names)}))"]
    lines.append("def build(rows, converters):")
    if converted:
        lines.append(f"    {''.join(f'c{index}, ' for index in converted)}= converters")
    # (The trailing comma: one column unpacks too.)
    lines += ["    out = []", "    append = out.append", f"    for {', '.join(values)}, in rows:"]
    for index in converted:
        lines += [f"        if a{index} is not None:", f"            a{index} = c{index}(a{index})"]
    for index in utc:
        lines += [
            f"        if isinstance(a{index}, datetime) and a{index}.tzinfo is None:",
            f"            a{index} = as_utc(a{index})",
        ]
    lines.append("        row = blank.copy()")
    lines += [f"        row[{name!r}] = a{index}" for index, name in enumerate(names)]
    lines += ["        append(row)", "    return out"]
    namespace: dict[str, Any] = {"datetime": dt.datetime, "as_utc": as_utc}
    exec(compile("\n".join(lines) + "\n", "<row builder>", "exec"), namespace)
    builder: Builder = namespace["build"]
    return builder
