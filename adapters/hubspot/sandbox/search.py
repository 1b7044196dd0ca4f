"""The search endpoint's semantics as a pure function over records (hubspot.md §2).

Filters in a group are ANDed, groups are ORed; values compare by property type (numbers and
dates numerically, strings case-insensitively except enumerations); `IN`/`NOT_IN` compare the
lower-cased record value with the given values as sent, which is why HubSpot tells callers to
send them lowercase. One sort rule; ties (and the default order, creation date) break on id.
At most 200 per page and 10,000 reachable: asking for `after` ≥ 10,000 is a 400.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ApiError, JsonDict, validation
from .properties import PropertyDef, parse_epoch_ms
from .store import Record

MAX_LIMIT = 200
MAX_REACHABLE = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_BODY_CHARS = 3_000
OPERATORS = frozenset(
    {
        "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
        "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
    }
)  # fmt: skip

PropertyLookup = Callable[[str], PropertyDef | None]
# (record, other object type name, other record id) -> are they associated?
AssociationLookup = Callable[[Record, str, str], bool]


@dataclass(frozen=True)
class SearchPage:
    total: int
    results: list[Record]
    next_after: str | None


def run_search(
    records: Sequence[Record],
    request: JsonDict,
    raw_size: int,
    lookup: PropertyLookup,
    associated: AssociationLookup,
) -> SearchPage:
    if raw_size > MAX_BODY_CHARS:
        raise validation(
            f"Search request is {raw_size} characters; the maximum is {MAX_BODY_CHARS}",
            code="QUERY_TOO_LONG",
        )
    limit = _int_field(request, "limit", 10)
    if not 0 < limit <= MAX_LIMIT:
        raise validation(f"limit must be between 1 and {MAX_LIMIT}, got {limit}", code="LIMIT")
    after = _int_field(request, "after", 0)
    if after < 0 or after >= MAX_REACHABLE:
        raise validation(
            f"Paging past {MAX_REACHABLE} results is not allowed (after={after})",
            code="PAGING_LIMIT_EXCEEDED",
        )
    groups = request.get("filterGroups") or []
    _check_groups(groups)
    sorts = request.get("sorts") or []
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise validation("Only one sort is allowed", code="TOO_MANY_SORTS")
    query = request.get("query")

    compiled = [[_compile(f, lookup, associated) for f in g.get("filters") or []] for g in groups]

    def keep(record: Record) -> bool:
        if query and not _matches_query(record, str(query)):
            return False
        if not compiled:
            return True
        return any(all(test(record) for test in group) for group in compiled)

    matched = [r for r in records if keep(r)]
    matched.sort(key=_sort_key(sorts, lookup))
    total = len(matched)
    end = min(after + limit, total, MAX_REACHABLE)
    page = matched[after:end]
    next_after = str(end) if end < total else None
    return SearchPage(total, page, next_after)


def _int_field(request: JsonDict, name: str, default: int) -> int:
    raw = request.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise validation(f"{name} must be an integer-formatted string, got {raw!r}") from None


def _check_groups(groups: Any) -> None:
    if not isinstance(groups, list):
        raise validation("filterGroups must be a list")
    if len(groups) > MAX_GROUPS:
        raise validation(f"Too many filter groups: {len(groups)} > {MAX_GROUPS}", code="TOO_MANY")
    total = 0
    for group in groups:
        filters = group.get("filters") or [] if isinstance(group, dict) else None
        if filters is None or not isinstance(filters, list):
            raise validation("Each filter group needs a list of filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(
                f"Too many filters in a group: {len(filters)} > {MAX_FILTERS_PER_GROUP}",
                code="TOO_MANY",
            )
        total += len(filters)
        for item in filters:
            if not isinstance(item, dict) or item.get("operator") not in OPERATORS:
                operator = item.get("operator") if isinstance(item, dict) else item
                raise validation(f"Unknown filter operator: {operator!r}", code="INVALID_FILTER")
            if not item.get("propertyName"):
                raise validation("Every filter needs a propertyName", code="INVALID_FILTER")
    if total > MAX_FILTERS:
        raise validation(f"Too many filters: {total} > {MAX_FILTERS}", code="TOO_MANY")


Test = Callable[[Record], bool]


def _compile(spec: JsonDict, lookup: PropertyLookup, associated: AssociationLookup) -> Test:
    """One filter as a predicate, with its given values converted once, not per record."""
    name = str(spec["propertyName"])
    operator = str(spec["operator"])
    if name.startswith("associations."):
        other, other_id = name.split(".", 1)[1], str(spec.get("value", ""))
        if operator not in ("EQ", "NEQ"):
            raise validation(f"{operator} is not supported on {name}", code="INVALID_FILTER")
        wanted = operator == "EQ"
        return lambda r: associated(r, other, other_id) is wanted
    defn = lookup(name)

    def typed(record: Record) -> Any:
        return _record_typed(record, name, defn)

    if operator == "HAS_PROPERTY":
        return lambda r: r.value(name) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: r.value(name) is None
    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list):
            raise validation("IN and NOT_IN need a list of values", code="INVALID_FILTER")
        negate = operator == "NOT_IN"
        return lambda r: (
            negate if r.value(name) is None else _in(defn, str(r.value(name)), values) != negate
        )
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        negate = operator == "NOT_CONTAINS_TOKEN"
        pattern = spec.get("value")
        return lambda r: (
            negate
            if r.value(name) is None
            else _contains_token(str(r.value(name)), pattern) != negate
        )
    if operator == "BETWEEN":
        low, high = _typed(defn, spec.get("value")), _typed(defn, spec.get("highValue"))
        return lambda r: _ordered(typed(r), low) in (0, 1) and _ordered(typed(r), high) in (-1, 0)
    given = _typed(defn, spec.get("value"))
    wanted_orders = {
        "EQ": (0,),
        "NEQ": (-1, 1),
        "LT": (-1,),
        "LTE": (-1, 0),
        "GT": (1,),
        "GTE": (0, 1),
    }[operator]
    if operator == "NEQ":
        return lambda r: r.value(name) is None or _ordered(typed(r), given) != 0
    return lambda r: _ordered(typed(r), given) in wanted_orders


def _ordered(left: Any, right: Any) -> int | None:
    if left is None or right is None or type(left) is not type(right):
        return None
    return int(left > right) - int(left < right)


def _record_typed(record: Record, name: str, defn: PropertyDef | None) -> Any:
    """A record's value in comparable form; system values straight from the record."""
    if name == "hs_object_id":
        return Decimal(record.id)
    if name == "createdate":
        return record.created_ms
    if name == record.object_type.modified_property:
        return record.updated_ms
    stored = record.value(name)
    return None if stored is None else _typed(defn, stored)


def _typed(defn: PropertyDef | None, raw: Any) -> Decimal | int | str | None:
    """A value in comparable form for its property's type; None if it cannot be read so."""
    text = "" if raw is None else str(raw).strip()
    kind = defn.type if defn is not None else "string"
    if kind in ("number",) or (defn is not None and defn.name == "hs_object_id"):
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    if kind in ("date", "datetime"):
        return parse_epoch_ms(text)
    if kind == "enumeration":
        return text
    return text.lower()


def _compare(defn: PropertyDef | None, stored: str, given: Any) -> int | None:
    return _ordered(_typed(defn, stored), _typed(defn, given))


def _in(defn: PropertyDef | None, stored: str, values: Any) -> bool:
    if not isinstance(values, list):
        raise validation("IN and NOT_IN need a list of values", code="INVALID_FILTER")
    if defn is not None and defn.type in ("number", "date", "datetime"):
        return any(_compare(defn, stored, v) == 0 for v in values)
    if defn is not None and defn.type == "enumeration":
        return stored in {str(v) for v in values}
    return stored.lower() in {str(v) for v in values}


_TOKEN_SPLIT = re.compile(r"[^0-9a-z@._-]+")


def _contains_token(stored: str, pattern: Any) -> bool:
    wanted = str(pattern or "").lower()
    tokens = [t for t in _TOKEN_SPLIT.split(stored.lower()) if t]
    return any(fnmatch.fnmatchcase(token, wanted) for token in [stored.lower(), *tokens])


def _matches_query(record: Record, query: str) -> bool:
    needle = query.lower()
    return any(
        needle in (record.value(name) or "").lower() for name in record.object_type.searchable_text
    )


def _sort_key(sorts: list[Any], lookup: PropertyLookup) -> Callable[[Record], tuple[int, Any, int]]:
    if not sorts:
        return lambda r: (0, r.created_ms, r.id)
    rule = sorts[0]
    if isinstance(rule, str):  # the spec types sorts as strings; "-name" means descending
        descending, name = rule.startswith("-"), rule.lstrip("-")
    elif isinstance(rule, dict) and rule.get("propertyName"):
        name = str(rule["propertyName"])
        descending = str(rule.get("direction", "ASCENDING")).upper() == "DESCENDING"
    else:
        raise validation(f"Invalid sort: {json.dumps(rule)}", code="INVALID_SORT")
    defn = lookup(name)

    def key(record: Record) -> tuple[int, Any, int]:
        value = _record_typed(record, name, defn)
        if value is None:
            return (1, 0, record.id)  # unset values sort last either way
        if descending:
            return (0, _Reversed(value), record.id)
        return (0, value, record.id)

    return key


class _Reversed:
    """Inverts the order of a comparable value for descending sorts."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash(self.value)


__all__ = ["ApiError", "SearchPage", "run_search"]
