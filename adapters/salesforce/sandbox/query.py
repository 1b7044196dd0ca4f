"""Running SOQL against the org: `query`, `queryAll` and the `nextRecordsUrl` cursors.

Facts from salesforce.md §1.1-§1.2: at most 2,000 rows a response (`Sforce-Query-Options:
batchSize=` between 200 and 2,000 asks for fewer); `totalSize` counts all pages; `nextRecordsUrl`
is present only while `done` is false and stays under `/query/` for a queryAll too; a locator
expires after 15 minutes unused and a user keeps at most 10 open (the oldest goes).
`query` hides deleted rows, `queryAll` shows them with `IsDeleted = true`. Unknown fields are
`INVALID_FIELD` naming the field and object, bad syntax `MALFORMED_QUERY`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.salesforce.ids import is_record_id, to18

from .org import ApiFault, Org, Row
from .schema import SObject
from .soql import (
    BoolOp,
    Compare,
    Condition,
    Exact,
    InList,
    Like,
    Not,
    Query,
    SoqlError,
    matches,
    sort_rows,
)
from .soql import parse as parse_soql

MAX_BATCH = 2000
MIN_BATCH = 200
LOCATOR_IDLE_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 10


def render_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{value.microsecond // 1000:03d}+0000"
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def attributes(version: str, sobject: str, record_id: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record_id}"}


@dataclass
class _Cursor:
    rows: list[dict[str, Any]]
    position: int
    batch: int
    used_at: float
    owner: str


class QueryEngine:
    """Runs queries for the REST routes and keeps their cursors."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()

    def resolve(self, sobject: SObject, row: Row, path: str) -> Any:
        parts = path.split(".")
        current_object, current = sobject, row
        for relation in parts[:-1]:
            link = current_object.relationship(relation)
            if link is None or link.reference_to is None:
                raise ApiFault(
                    400,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{relation}' in field path. "
                    f"No such column '{relation}' on entity '{current_object.name}'.",
                )
            target_id = current.get(link.name)
            current_object = self.org.schema[link.reference_to]
            target = self.org.rows[current_object.name].get(target_id) if target_id else None
            if target is None:
                # check the rest of the path is valid even though there is nothing to read
                if current_object.field(parts[-1]) is None:
                    raise self._no_column(parts[-1], current_object)
                return None
            current = target
        spec = current_object.field(parts[-1])
        if spec is None:
            raise self._no_column(parts[-1], current_object)
        value = current.get(spec.name)
        if spec.type in ("id", "reference") and isinstance(value, str):
            return Exact(value)
        return value

    @staticmethod
    def _no_column(name: str, sobject: SObject) -> ApiFault:
        return ApiFault(
            400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject.name}'."
        )

    def run(
        self, text: str, *, include_deleted: bool, version: str, batch: int, owner: str, now: float
    ) -> dict[str, Any]:
        query, rendered = self.rows(text, include_deleted=include_deleted, version=version)
        if query.count:
            return {"totalSize": len(rendered), "done": True, "records": []}
        return self._page(rendered, version, max(MIN_BATCH, min(batch, MAX_BATCH)), owner, now)

    def rows(
        self, text: str, *, include_deleted: bool, version: str
    ) -> tuple[Query, list[dict[str, Any]]]:
        """The parsed query and every row it selects, rendered as the REST API renders them."""
        try:
            query = parse_soql(text)
        except SoqlError as exc:
            raise ApiFault(400, "MALFORMED_QUERY", str(exc)) from None
        try:
            sobject = self.org.sobject(query.sobject)
        except ApiFault:
            raise ApiFault(
                400,
                "INVALID_TYPE",
                f"sObject type '{query.sobject}' is not supported.",
            ) from None
        self._check_paths(sobject, query)
        where = _normalise(query.where, sobject)
        source = (
            self.org.rows[sobject.name].values() if include_deleted else self.org.live(sobject.name)
        )
        try:
            hits = [
                row
                for row in source
                if matches(where, row, lambda r, p: self._where_value(sobject, r, p))
            ]
        except SoqlError as exc:
            raise ApiFault(400, "MALFORMED_QUERY", str(exc)) from None
        hits = sort_rows(hits, query.order, lambda r, p: self.resolve(sobject, r, p))
        hits = hits[query.offset :]
        if query.limit is not None:
            hits = hits[: query.limit]
        return query, [self._render(sobject, row, query.fields, version) for row in hits]

    def _where_value(self, sobject: SObject, row: Row, path: str) -> Any:
        value = self.resolve(sobject, row, path)
        return value

    def _check_paths(self, sobject: SObject, query: Query) -> None:
        probe: Row = {}
        paths = [*query.fields, *(item.path for item in query.order)]
        paths += list(_condition_paths(query.where))
        for path in paths:
            self.resolve(sobject, probe, path)
        for condition in _conditions(query.where):
            spec = sobject.field(condition.path) if "." not in condition.path else None
            if spec is None:
                continue
            literals = (
                condition.values
                if isinstance(condition, InList)
                else (condition.value,)
                if isinstance(condition, Compare)
                else ()
            )
            for literal in literals:
                if (
                    spec.type == "datetime"
                    and literal is not None
                    and not isinstance(literal, dt.datetime)
                ):
                    raise ApiFault(
                        400,
                        "INVALID_FIELD",
                        f"value of filter criterion for field '{spec.name}' must be of type "
                        "dateTime and should not be enclosed in quotes",
                    )
                if (
                    spec.type in ("id", "reference")
                    and isinstance(literal, str)
                    and not is_record_id(literal)
                ):
                    raise ApiFault(
                        400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {literal}"
                    )

    def _render(
        self, sobject: SObject, row: Row, fields: list[str], version: str
    ) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": attributes(version, sobject.name, row["Id"])}
        for path in fields:
            parts = path.split(".")
            if len(parts) == 1:
                spec = sobject.field(path)
                assert spec is not None
                record[spec.name] = render_value(row.get(spec.name))
                continue
            link = sobject.relationship(parts[0])
            assert link is not None and link.relationship is not None
            target_object = self.org.schema[link.reference_to or ""]
            target_id = row.get(link.name)
            target = self.org.rows[target_object.name].get(target_id) if target_id else None
            if target is None:
                record[link.relationship] = None
                continue
            nested = record.get(link.relationship) or {
                "attributes": attributes(version, target_object.name, target["Id"])
            }
            leaf = ".".join(parts[1:])
            spec = target_object.field(parts[1]) if len(parts) == 2 else None
            name = spec.name if spec else leaf
            nested[name] = render_value(self.resolve(target_object, target, leaf))
            record[link.relationship] = nested
        return record

    def _page(
        self, rows: list[dict[str, Any]], version: str, batch: int, owner: str, now: float
    ) -> dict[str, Any]:
        if len(rows) <= batch:
            return {"totalSize": len(rows), "done": True, "records": rows}
        locator = "01g" + secrets.token_hex(6)
        self._cursors[locator] = _Cursor(rows, batch, batch, now, owner)
        mine = [key for key, cursor in self._cursors.items() if cursor.owner == owner]
        while len(mine) > MAX_OPEN_CURSORS:
            self._cursors.pop(mine.pop(0), None)
        return {
            "totalSize": len(rows),
            "done": False,
            "nextRecordsUrl": f"/services/data/{version}/query/{locator}-{batch}",
            "records": rows[:batch],
        }

    def more(self, locator_and_offset: str, version: str, now: float) -> dict[str, Any]:
        locator, _, offset_text = locator_and_offset.rpartition("-")
        cursor = self._cursors.get(locator)
        if cursor is None or now - cursor.used_at > LOCATOR_IDLE_SECONDS:
            self._cursors.pop(locator, None)
            raise ApiFault(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        try:
            offset = int(offset_text)
        except ValueError:
            raise ApiFault(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None
        cursor.used_at = now
        page = cursor.rows[offset : offset + cursor.batch]
        following = offset + cursor.batch
        body: dict[str, Any] = {
            "totalSize": len(cursor.rows),
            "done": following >= len(cursor.rows),
            "records": page,
        }
        if following < len(cursor.rows):
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{following}"
        else:
            self._cursors.pop(locator, None)
        return body


def _conditions(condition: Condition | None) -> list[Compare | InList | Like]:
    if condition is None:
        return []
    if isinstance(condition, BoolOp):
        return [leaf for part in condition.parts for leaf in _conditions(part)]
    if isinstance(condition, Not):
        return _conditions(condition.part)
    return [condition]


def _condition_paths(condition: Condition | None) -> list[str]:
    return [leaf.path for leaf in _conditions(condition)]


def _normalise(condition: Condition | None, sobject: SObject) -> Condition | None:
    """Id literals in their 18-character form: a 15-character id in a filter matches too."""
    if condition is None or isinstance(condition, Like):
        return condition
    if isinstance(condition, BoolOp):
        parts = tuple(_normalise(part, sobject) for part in condition.parts)
        return BoolOp(condition.op, tuple(p for p in parts if p is not None))
    if isinstance(condition, Not):
        inner = _normalise(condition.part, sobject)
        assert inner is not None
        return Not(inner)
    spec = sobject.field(condition.path) if "." not in condition.path else None
    if spec is None or spec.type not in ("id", "reference"):
        return condition

    def fix(value: Any) -> Any:
        return to18(value) if isinstance(value, str) and is_record_id(value) else value

    if isinstance(condition, InList):
        return InList(condition.path, tuple(fix(v) for v in condition.values), condition.negated)
    return Compare(condition.path, condition.op, fix(condition.value))
