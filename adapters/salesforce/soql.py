"""The SOQL the adapter sends, built from values (never from concatenated input).

String literals are quoted with SOQL's escapes (backslash, quote, newline…); datetimes are
unquoted UTC literals in whole seconds, as SystemModstamp has no finer resolution
(salesforce.md §1.3); the change query orders by `(SystemModstamp, Id)` and resumes after the
last pair seen, so a chunk boundary inside a run of equal stamps loses and repeats nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from connector.errors import ConfigurationError

#: SOQL's quoted-string escape sequences ("Quoted String Escape Sequences", SOQL and SOSL
#: Reference): \n \r \t \b \f \" \' \\.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def quote(value: str) -> str:
    return "'" + "".join(_ESCAPES.get(char, char) for char in value) + "'"


def datetime_literal(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")


def name(text: str) -> str:
    """A field or object name from configuration, refused unless it is one (no injection)."""
    if not _NAME.match(text):
        raise ConfigurationError(f"{text!r} is not a Salesforce field or object name")
    return text


def select(fields: Sequence[str], sobject: str) -> str:
    names = ", ".join(name(f) for f in dict.fromkeys(fields))
    return f"SELECT {names} FROM {name(sobject)}"


def in_list(field: str, values: Sequence[str]) -> str:
    return f"{name(field)} IN ({', '.join(quote(v) for v in values)})"


def changes_query(
    fields: Sequence[str],
    sobject: str,
    *,
    since: dt.datetime | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
    deleted: bool = False,
) -> str:
    """Rows changed at or after `since` (floored to the second), after the `(stamp, id)` pair
    `after`, in `(SystemModstamp, Id)` order, at most `limit`."""
    conditions = []
    if deleted:
        conditions.append("IsDeleted = true")
    if since is not None:
        conditions.append(f"SystemModstamp >= {datetime_literal(floor_second(since))}")
    if after is not None:
        stamp, last_id = datetime_literal(after[0]), quote(after[1])
        conditions.append(
            f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {last_id}))"
        )
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{select(fields, sobject)}{where} ORDER BY SystemModstamp, Id LIMIT {limit}"
