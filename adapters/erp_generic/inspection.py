"""`connector erp inspect`: read a database's schema and propose a starting configuration.

The first hour of an integration in one command: for every table, its key, the column that
looks like its change time (a timestamp, a date, text in a recognised format, or checksum mode
when there is none), the tables that hang off it (children for checksum mode, an order's
lines), the columns an insert must fill (NOT NULL without a default), and a mapping skeleton
whose canonical names are guesses from the column names. Only the catalog and a few sample
values of candidate change columns are read; nothing is written. The output is a proposal to
edit, not a configuration to trust: every guess says so in a comment.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.model import Entity, canonical_fields

#: Column names that usually hold a change time (English, German, Tryton/Odoo style).
_CHANGE_NAMES = re.compile(
    r"(write_?date|updated?(_at|_on)?|modified|modif|changed?(_at|_on)?|last_?mod|"
    r"geaendert|geändert|aenderung|änderung|bearbeitet|timestamp|^ts$)",
    re.IGNORECASE,
)
_CREATE_NAMES = re.compile(r"(create_?date|created(_at|_on)?|angelegt|erstellt)", re.IGNORECASE)
#: Text formats tried on sample values of a text change column, most specific first.
TEXT_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%d%H%M%S",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d",
)
#: Entity guesses by table name.
_ENTITY_NAMES = (
    ("contact", re.compile(r"(contact|ansprech|person)", re.I)),
    ("customer", re.compile(r"(customer|kunde|client|party|partner|account|debitor)", re.I)),
    ("sale", re.compile(r"(sale|order|auftrag|bestellung|beleg)", re.I)),
)
_LINE_NAMES = re.compile(r"(line|pos|position|item|zeile)", re.I)
#: Canonical path guesses by column name.
_CANONICAL = (
    ("email", re.compile(r"^(e_?mail|mail)", re.I)),
    ("phone", re.compile(r"(phone|telefon|tel$|fon$)", re.I)),
    ("number", re.compile(r"(number|_no$|^no$|nummer|nr$|code$)", re.I)),
    ("last_name", re.compile(r"^(nachname|last_?name|surname)$", re.I)),
    ("name", re.compile(r"^(name|firma|company|bezeichnung|nachname|last_?name)$", re.I)),
    ("first_name", re.compile(r"^(first_?name|vorname)$", re.I)),
    ("website", re.compile(r"(website|web|url|homepage)", re.I)),
    ("billing_address.street", re.compile(r"(street|strasse|straße)", re.I)),
    ("billing_address.city", re.compile(r"^(city|ort|stadt)$", re.I)),
    ("billing_address.postal_code", re.compile(r"(zip|plz|postal)", re.I)),
    ("billing_address.country", re.compile(r"^(country|land)$", re.I)),
    ("currency", re.compile(r"(currency|waehrung|währung)", re.I)),
    ("order_date", re.compile(r"^(order_?date|datum|sale_?date)$", re.I)),
)


@dataclass
class TableProposal:
    name: str
    key: str | None
    columns: list[tuple[str, str, bool, bool]]  # name, type, nullable, has default
    entity: str | None = None
    change: dict[str, Any] | None = None
    change_note: str = ""
    children: list[tuple[str, str]] = field(default_factory=list)  # (table, foreign key)
    parent: tuple[str, str] | None = None  # a lines table: (parent table, foreign key)
    #: Columns that point at another table: column → referred table.
    references: dict[str, str] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        """NOT NULL columns without a default, besides the key: an insert must fill them."""
        return [
            n
            for n, _, nullable, default in self.columns
            if not nullable and not default and n != self.key
        ]


def choose(proposals: list[TableProposal]) -> dict[str, TableProposal]:
    """One table per entity: the first (by name) the entity's name pattern matches."""
    chosen: dict[str, TableProposal] = {}
    for proposal in proposals:
        if proposal.entity is not None and proposal.key is not None:
            chosen.setdefault(proposal.entity, proposal)
    return chosen


def inspect_database(connection: Connection, schema: str | None = None) -> list[TableProposal]:
    """One proposal per table (views are left out: they have no keys to rely on)."""
    inspector = sa.inspect(connection)
    proposals: dict[str, TableProposal] = {}
    foreign: list[tuple[str, str, str]] = []  # child table, its column, parent table
    for name in sorted(inspector.get_table_names(schema=schema)):
        columns = inspector.get_columns(name, schema=schema)
        primary = inspector.get_pk_constraint(name, schema=schema).get("constrained_columns", [])
        described = [
            (
                column["name"],
                str(column["type"]),
                bool(column["nullable"]),
                column.get("default") is not None or bool(column.get("autoincrement") is True),
            )
            for column in columns
        ]
        key = primary[0] if len(primary) == 1 else None
        proposal = TableProposal(name, key, described)
        proposal.change, proposal.change_note = _change(connection, name, schema, columns)
        proposals[name] = proposal
        for constraint in inspector.get_foreign_keys(name, schema=schema):
            if len(constraint["constrained_columns"]) == 1:
                column = constraint["constrained_columns"][0]
                foreign.append((name, column, constraint["referred_table"]))
                proposal.references[column] = constraint["referred_table"]
    for child, column, parent in foreign:
        if parent in proposals and child != parent:
            proposals[parent].children.append((child, column))
    for proposal in proposals.values():
        proposal.entity = _entity(proposal)
        if proposal.entity is None and _LINE_NAMES.search(proposal.name):
            for child, column, parent in foreign:
                if child == proposal.name and _entity(proposals[parent]) == "sale":
                    proposal.parent = (parent, column)
    return list(proposals.values())


def _entity(proposal: TableProposal) -> str | None:
    if _LINE_NAMES.search(proposal.name) and not proposal.name.lower().startswith("party"):
        return None
    for entity, pattern in _ENTITY_NAMES:
        if pattern.search(proposal.name):
            return entity
    return None


def _change(
    connection: Connection, table: str, schema: str | None, columns: list[Any]
) -> tuple[dict[str, Any] | None, str]:
    """The best change column, as a `read.change` block, and why; None: checksum mode."""
    named = [c for c in columns if _CHANGE_NAMES.search(c["name"])]
    created = [c for c in columns if _CREATE_NAMES.search(c["name"])]
    for column in named:
        kind = column["type"]
        if isinstance(kind, sa.DateTime):
            if column["nullable"] and created:
                expression = f"coalesce({column['name']}, {created[0]['name']})"
                return {
                    "expression": expression
                }, "NULL until first written: with the creation time"
            note = "NULLs are read on every run" if column["nullable"] else ""
            return {"column": column["name"]}, note
        if isinstance(kind, sa.Date):
            return {
                "column": column["name"],
                "type": "date",
            }, "a date: changes within a day re-read"
        if isinstance(kind, sa.Integer | sa.Numeric):
            return {"column": column["name"], "type": "epoch"}, "a number: taken as epoch seconds"
        if isinstance(kind, sa.String):
            fmt = _text_format(connection, table, schema, column["name"])
            if fmt is not None:
                return {"column": column["name"], "type": "text", "format": fmt}, "format guessed"
    return None, "no change column found: checksum mode"


def _text_format(connection: Connection, table: str, schema: str | None, column: str) -> str | None:
    """The first format every sampled value of the column parses in."""
    reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=connection)
    target = reflected.c[column]
    values = (
        connection.execute(sa.select(target).where(target.is_not(None)).limit(20)).scalars().all()
    )
    values = [str(v).strip() for v in values if str(v).strip()]
    if not values:
        return None
    for fmt in TEXT_FORMATS:
        try:
            for value in values:
                dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
        return fmt
    return None


def render_config(proposals: list[TableProposal], url: str) -> str:
    """A `systems.erp` block for config.yaml, with every guess marked for review."""
    out = [
        "# Proposed by `connector erp inspect`: review every line before use.",
        "systems:",
        "  erp:",
        "    adapter: erp_generic",
        "    settings:",
        f"      url: {url}",
        "      entities:",
    ]
    lines_of = {p.parent[0]: p for p in proposals if p.parent}
    chosen = choose(proposals)
    for proposal in chosen.values():
        out += _entity_block(proposal, lines_of.get(proposal.name))
    out += ["", "# Other tables (not proposed as an entity):"]
    names = {p.name for p in chosen.values()}
    for proposal in proposals:
        if proposal.name not in names:
            key = proposal.key or "no single-column key"
            change = "checksum mode" if proposal.change is None else f"change {proposal.change}"
            out.append(
                f"#   {proposal.name} (key {key}; {len(proposal.columns)} columns; {change})"
            )
    return "\n".join(out) + "\n"


def _entity_block(proposal: TableProposal, lines: TableProposal | None) -> list[str]:
    out = [f"        {proposal.entity}:", f"          table: {proposal.name}"]
    out.append(f"          primary_key: {proposal.key}")
    if lines is not None and lines.parent is not None:
        out.append(
            f"          lines: {{table: {lines.name}, primary_key: {lines.key}, "
            f"foreign_key: {lines.parent[1]}}}"
        )
    out.append("          read:")
    if proposal.change is not None:
        inner = ", ".join(f"{k}: {_yaml(v)}" for k, v in proposal.change.items())
        note = f"  # {proposal.change_note}" if proposal.change_note else ""
        out.append(f"            change: {{{inner}}}{note}")
    else:
        children = [c for c in proposal.children if lines is None or c[0] != lines.name]
        out.append("            checksum:  # no change column found")
        out.append("              children:")
        out += [f"                - {{table: {t}, foreign_key: {k}}}" for t, k in children]
        if not children:
            out[-1] = "              children: []"
    out.append('            # filter: "…"          # which rows are this entity')
    out.append('            # deleted_when: "…"    # e.g. active = false')
    if proposal.required:
        out.append(f"          # NOT NULL without a default: {', '.join(proposal.required)}")
    return out


def render_mapping(proposal: TableProposal, chosen: dict[str, TableProposal]) -> str:
    """A mapping-file skeleton: guessed canonical names, the rest as comments."""
    out = [
        f"# Proposed by `connector erp inspect` from table {proposal.name}: review every line.",
        f"entity: {proposal.entity}",
        "fields:",
    ]
    used: set[str] = set()
    rest: list[str] = []
    tables = {p.name: entity for entity, p in chosen.items()}
    assert proposal.entity is not None
    known = canonical_fields(Entity(proposal.entity))
    for name, kind, nullable, default in proposal.columns:
        if name == proposal.key:
            continue
        refers = tables.get(proposal.references.get(name, ""))
        if refers is not None and refers != proposal.entity and refers not in used:
            used.add(refers)
            out.append(
                f"  - {{canonical: {refers}, native: {name}, transform: string, ref: {refers}}}"
            )
            continue
        canonical = next(
            (c for c, p in _CANONICAL if p.search(name) and c not in used and c in known), None
        )
        required = "" if nullable or default else "  # NOT NULL without a default"
        if canonical is None:
            rest.append(f"#  - {{canonical: ?, native: {name}}}  # {kind}{required}")
            continue
        used.add(canonical)
        out.append(f"  - {{canonical: {canonical}, native: {name}}}  # {kind}{required}")
    return "\n".join(out + rest) + "\n"


def _yaml(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if re.search(r"[:%#{}\[\],]", text) else text
