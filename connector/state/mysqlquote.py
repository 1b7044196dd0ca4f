"""A PyMySQL connection that quotes strings the way PyMySQL does, in a fraction of the time.

PyMySQL speaks MariaDB's text protocol: every parameter is written into the statement as a
literal, and a string is escaped with `str.translate` over a table that maps seven characters
to two-character escapes (`pymysql.converters.escape_string`). CPython's translate has a fast
path for ASCII text only while every mapping is one character long; the first quote sends it to
the general path, a dictionary look-up per character. A binding's snapshot is ~1,000 characters
of JSON, a hundred of them double quotes: ~40 µs of the client's CPU per snapshot, about a
third of what a first-synced record costs the engine on MariaDB (bench/README.md, "pgstore").

`str.replace` searches in C and allocates only where it finds something; one call per escaped
character, the backslash first (the others' escapes contain one), writes the same text. The
connection overrides PyMySQL's `_escape_string`, which both `Connection.escape` and the
cursors' parameter binding call for every `str`; with the server in NO_BACKSLASH_ESCAPES mode it
keeps PyMySQL's own rule. tests/state/test_mysqlquote.py holds the text to PyMySQL's and checks
that PyMySQL still calls this method. Imported only for MariaDB stores.
"""

from __future__ import annotations

from typing import Any

from pymysql.connections import Connection
from pymysql.constants import SERVER_STATUS


def escape_string(value: str) -> str:
    """`value` as `pymysql.converters.escape_string` escapes it (without the quotes): the seven
    characters of its `_escape_table`, the backslash first. (One expression: a loop over pairs
    cost more than `translate` itself for the short strings, ids and names.)"""
    return (
        value.replace("\\", "\\\\")
        .replace("\0", "\\0")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\032", "\\Z")
        .replace('"', '\\"')
        .replace("'", "\\'")
    )


class QuotingConnection(Connection):  # type: ignore[misc]  # (PyMySQL is untyped)
    """PyMySQL's connection, its string escaping done by `escape_string`."""

    def _escape_string(self, s: str) -> str:
        if self.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
            return s.replace("'", "''")  # (PyMySQL's own rule in that mode)
        return escape_string(s)


def connect(*args: Any, **kwargs: Any) -> QuotingConnection:
    """Connect as `pymysql.connect` does."""
    return QuotingConnection(*args, **kwargs)
