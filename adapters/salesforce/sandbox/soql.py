"""A parser and evaluator for the subset of SOQL the adapter (and a curious user) sends.

Grammar (keywords and field names are case-insensitive, as in SOQL):

    query     := SELECT field ("," field)* FROM name [WHERE expr]
                 [ORDER BY order ("," order)*] [LIMIT int] [OFFSET int]
    field     := name ("." name)*                       -- Owner.Email follows a lookup
    order     := field [ASC | DESC] [NULLS FIRST | NULLS LAST]
    expr      := conj (OR conj)* ;  conj := unary (AND unary)*
    unary     := NOT unary | "(" expr ")" | field op value | field [NOT] IN "(" values ")"
                 | field LIKE string
    op        := = | != | <> | < | <= | > | >=
    value     := 'string' | number | TRUE | FALSE | NULL | date | datetime

Datetime literals are unquoted (`2024-05-01T10:00:00Z`, `…+0000`, `…+02:00`); a quoted string
compared with a datetime field is a MALFORMED_QUERY in Salesforce, and here too. Anything outside
the subset is refused with MALFORMED_QUERY naming the token, never silently ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connector.timestamps import parse_timestamp


class SoqlError(Exception):
    """MALFORMED_QUERY: the text is not (our subset of) SOQL."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL",
}  # fmt: skip
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any = None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SoqlError(f"unexpected token at: {text[position : position + 20]!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        raw = match.group(kind)
        if kind == "name" and raw.upper() in _KEYWORDS:
            tokens.append(Token("kw", raw.upper()))
        elif kind == "string":
            tokens.append(Token("value", raw, _unescape(raw[1:-1])))
        elif kind == "number":
            tokens.append(Token("value", raw, Decimal(raw)))
        elif kind == "datetime":
            tokens.append(Token("value", raw, parse_timestamp(raw)))
        elif kind == "date":
            tokens.append(Token("value", raw, dt.date.fromisoformat(raw)))
        else:
            tokens.append(Token(kind, raw))
    return tokens


def _unescape(body: str) -> str:
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            if nxt not in _ESCAPES:
                raise SoqlError(f"invalid escape sequence \\{nxt}")
            out.append(_ESCAPES[nxt])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


# -- the tree -------------------------------------------------------------------------------

Row = dict[str, Any]
Resolve = Callable[[Row, str], Any]


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: Any


@dataclass(frozen=True)
class InList:
    path: str
    values: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    path: str
    pattern: str


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = Compare | InList | Like | BoolOp | Not


@dataclass(frozen=True)
class OrderBy:
    path: str
    descending: bool = False
    nulls_last: bool | None = None


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Condition | None = None
    order: list[OrderBy] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    #: `SELECT COUNT() FROM …`: the answer is the number of rows (`totalSize`), no records.
    count: bool = False


class _Parser:
    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = list(tokens)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "kw" and token.text in words:
            self.index += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.keyword(word):
            token = self.peek()
            raise SoqlError(f"expected {word}, found {token.text if token else 'end of query'}")

    def expect_punct(self, char: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != char:
            raise SoqlError(f"expected {char!r}, found {token.text!r}")

    def name(self) -> str:
        token = self.take()
        if token.kind != "name":
            raise SoqlError(f"expected a field or object name, found {token.text!r}")
        return token.text

    def value(self) -> Any:
        token = self.take()
        if token.kind == "value":
            return token.value
        if token.kind == "kw" and token.text in ("TRUE", "FALSE", "NULL"):
            return {"TRUE": True, "FALSE": False, "NULL": None}[token.text]
        raise SoqlError(f"expected a value, found {token.text!r}")

    def query(self) -> Query:
        self.expect_kw("SELECT")
        token = self.peek()
        count = token is not None and token.kind == "name" and token.text.upper() == "COUNT"
        fields: list[str] = []
        if count:
            self.take()
            self.expect_punct("(")
            self.expect_punct(")")
        else:
            fields.append(self.name())
            while self._punct(","):
                fields.append(self.name())
        self.expect_kw("FROM")
        query = Query(fields=fields, sobject=self.name(), count=count)
        if self.keyword("WHERE"):
            query.where = self.expr()
        if self.keyword("ORDER"):
            self.expect_kw("BY")
            query.order.append(self.order())
            while self._punct(","):
                query.order.append(self.order())
        if self.keyword("LIMIT"):
            query.limit = self._int()
        if self.keyword("OFFSET"):
            query.offset = self._int()
        if self.peek() is not None:
            raise SoqlError(f"unexpected token: {self.take().text!r}")
        return query

    def _punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.index += 1
            return True
        return False

    def _int(self) -> int:
        value = self.value()
        if not isinstance(value, Decimal) or value != int(value) or value < 0:
            raise SoqlError("LIMIT and OFFSET take a non-negative integer")
        return int(value)

    def order(self) -> OrderBy:
        path = self.name()
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        nulls_last = None
        if self.keyword("NULLS"):
            if self.keyword("LAST"):
                nulls_last = True
            else:
                self.expect_kw("FIRST")
                nulls_last = False
        return OrderBy(path, descending, nulls_last)

    def expr(self) -> Condition:
        parts = [self.conj()]
        while self.keyword("OR"):
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def conj(self) -> Condition:
        parts = [self.unary()]
        while self.keyword("AND"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def unary(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self.unary())
        if self._punct("("):
            inner = self.expr()
            self.expect_punct(")")
            return inner
        path = self.name()
        if self.keyword("NOT"):
            self.expect_kw("IN")
            return InList(path, self._values(), negated=True)
        if self.keyword("IN"):
            return InList(path, self._values())
        if self.keyword("LIKE"):
            pattern = self.value()
            if not isinstance(pattern, str):
                raise SoqlError("LIKE takes a quoted string")
            return Like(path, pattern)
        token = self.take()
        if token.kind != "op":
            raise SoqlError(f"expected an operator after {path}, found {token.text!r}")
        return Compare(path, "!=" if token.text == "<>" else token.text, self.value())

    def _values(self) -> tuple[Any, ...]:
        self.expect_punct("(")
        values = [self.value()]
        while self._punct(","):
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)


def parse(text: str) -> Query:
    """The query tree of `text`; `SoqlError` (MALFORMED_QUERY) if it is not valid."""
    return _Parser(tokenize(text)).query()


# -- evaluation -----------------------------------------------------------------------------


class Exact(str):
    """A text value compared case-sensitively (record ids: `001…a` and `001…A` differ)."""

    __slots__ = ()


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, int | float) and not isinstance(left, bool):
        left = Decimal(str(left))
    if isinstance(left, Exact):
        return str(left), str(right)
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold(), right.casefold()  # SOQL string comparison is case-insensitive
    return left, right


def matches(condition: Condition | None, row: Row, resolve: Resolve) -> bool:
    if condition is None:
        return True
    if isinstance(condition, BoolOp):
        results = (matches(part, row, resolve) for part in condition.parts)
        return all(results) if condition.op == "AND" else any(results)
    if isinstance(condition, Not):
        return not matches(condition.part, row, resolve)
    value = resolve(row, condition.path)
    if isinstance(condition, InList):
        found = any(_equal(value, v) for v in condition.values)
        return found != condition.negated
    if isinstance(condition, Like):
        if value is None:
            return False
        pattern = re.escape(condition.pattern).replace("%", ".*").replace("_", ".")
        return re.fullmatch(pattern, str(value), re.IGNORECASE | re.DOTALL) is not None
    if condition.op == "=":
        return _equal(value, condition.value)
    if condition.op == "!=":
        return not _equal(value, condition.value)
    if value is None or condition.value is None:
        return False
    left, right = _comparable(value, condition.value)
    try:
        return bool(
            {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[
                condition.op
            ]
        )
    except TypeError as exc:
        raise SoqlError(f"cannot compare {condition.path} with {condition.value!r}") from exc


def _equal(value: Any, literal: Any) -> bool:
    if value is None or literal is None:
        return value is None and literal is None
    left, right = _comparable(value, literal)
    try:
        return bool(left == right)
    except TypeError:
        return False


def sort_rows(rows: Sequence[Row], order: Sequence[OrderBy], resolve: Resolve) -> list[Row]:
    """`rows` in ORDER BY order: nulls first ascending and last descending (SOQL's default);
    text compares case-insensitively. Stable sorts from the last key to the first."""
    result = list(rows)
    for item in reversed(order):
        present = [row for row in result if resolve(row, item.path) is not None]
        missing = [row for row in result if resolve(row, item.path) is None]

        def key(row: Row, path: str = item.path) -> Any:
            value = resolve(row, path)
            if isinstance(value, str) and not isinstance(value, Exact):
                return value.casefold()
            return value

        present.sort(key=key, reverse=item.descending)
        nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
        result = present + missing if nulls_last else missing + present
    return result
