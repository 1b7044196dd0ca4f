"""Matching a sale's wanted lines to the rows its lines table holds (pure, tested alone).

Lines are records of their own: a line is found by its key column (the line number), so an
edit to one line updates that row only and every line keeps its id. `match_lines` says which
rows to update, which lines to insert and which rows to delete; the SQL store runs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LineMatch:
    #: (row id, wanted line) pairs: the row is brought to the line's values.
    updates: list[tuple[Any, Mapping[str, Any]]] = field(default_factory=list)
    inserts: list[Mapping[str, Any]] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)


def _key(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return str(int(float(text))) if float(text).is_integer() else text
    except ValueError:
        return text


def match_lines(
    rows: Sequence[Mapping[str, Any]],
    wanted: Sequence[Mapping[str, Any]],
    key: str | None,
    row_id: str,
) -> LineMatch:
    """Pair wanted lines with stored rows.

    With a key column, a wanted line matches the row with its key; a wanted line without a key
    (one created in the other system) is inserted and numbered after the last; a row with a key
    no wanted line has is deleted, as is a second row with the same key. Without a key column,
    or when no wanted line carries a key (the mapping does not map it), lines pair by position
    and take their position as key.
    """
    match = LineMatch()
    if key is None or all(_key(line.get(key)) is None for line in wanted):
        if key is not None:
            wanted = [{**line, key: index} for index, line in enumerate(wanted, start=1)]
        for index, line in enumerate(wanted):
            if index < len(rows):
                match.updates.append((rows[index][row_id], line))
            else:
                match.inserts.append(line)
        match.deletes.extend(row[row_id] for row in rows[len(wanted) :])
        return match
    by_key: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        row_key = _key(row.get(key))
        if row_key is None or row_key in by_key:
            match.deletes.append(row[row_id])
        else:
            by_key[row_key] = row
    used: set[str] = set()
    for line in wanted:
        line_key = _key(line.get(key))
        if line_key is not None and line_key in by_key and line_key not in used:
            used.add(line_key)
            match.updates.append((by_key[line_key][row_id], line))
        else:
            match.inserts.append(line)
    match.deletes.extend(row[row_id] for k, row in by_key.items() if k not in used)
    return match
