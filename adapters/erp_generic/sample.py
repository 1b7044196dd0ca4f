"""The sample ERP: its schema (docs/native-shapes.md) and deterministic generated data.

`create_sample_erp(path)` writes a SQLite ERP database that the shipped config.yaml points at;
`sample_metadata(schema)` gives the same tables for SQLite, PostgreSQL and MySQL/MariaDB (the
tests use all three). The same seed always gives the same rows. Timestamps are naive UTC with
microseconds, written by the ERP (SQLAlchemy's ISO-8601 text form on SQLite, `DATETIME(6)` on
MySQL, whose plain `DATETIME` keeps whole seconds). A trigger plays the ERP's order intake:
it assigns `order_no` on insert when missing, and turns a won sale that arrives with status
`none` into an `ordered` order; numbering and order state are the ERP's business, not the
connector's.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import sqlite3
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from adapters.erp_generic.history import NO_HISTORY, InvoiceFact, OrderFact, compute_history

EPOCH = dt.datetime(2024, 1, 1)
SPAN_SECONDS = 2 * 365 * 24 * 3600
#: Rows generated and inserted at a time: what the generator holds at most.
CHUNK = 10_000
_TABLES = ("customers", "contacts", "products", "sales_orders", "sales_order_lines", "invoices")
_Row = dict[str, Any]
T = TypeVar("T")

# (ISO country, currency, language, tld, legal form, tax prefix, [(city, region, zip)])
_COUNTRIES: tuple[tuple[str, str, str, str, str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("DE", "EUR", "de", "de", "GmbH", "DE", (("Berlin", "BE", "10115"), ("Munich", "BY", "80331"),
     ("Hamburg", "HH", "20095"), ("Cologne", "NW", "50667"))),
    ("AT", "EUR", "de", "at", "GmbH", "ATU", (("Vienna", "W", "1010"), ("Graz", "ST", "8010"))),
    ("FR", "EUR", "fr", "fr", "SAS", "FR", (("Paris", "IDF", "75001"), ("Lyon", "ARA", "69001"))),
    ("NL", "EUR", "nl", "nl", "B.V.", "NL", (("Amsterdam", "NH", "1011"),
     ("Utrecht", "UT", "3511"))),
    ("GB", "GBP", "en", "co.uk", "Ltd", "GB", (("London", "ENG", "EC1A 1BB"),
     ("Manchester", "ENG", "M1 1AE"), ("Edinburgh", "SCT", "EH1 1YZ"))),
    ("US", "USD", "en", "com", "Inc.", "US", (("New York", "NY", "10001"),
     ("Chicago", "IL", "60601"), ("Austin", "TX", "73301"), ("Seattle", "WA", "98101"))),
    ("CH", "CHF", "de", "ch", "AG", "CHE", (("Zurich", "ZH", "8001"), ("Geneva", "GE", "1201"))),
    ("SE", "SEK", "sv", "se", "AB", "SE", (("Stockholm", "AB", "111 20"),)),
    ("ES", "EUR", "es", "es", "S.L.", "ES", (("Madrid", "MD", "28001"),
     ("Valencia", "VC", "46001"))),
    ("IT", "EUR", "it", "it", "S.r.l.", "IT", (("Milan", "MI", "20121"), ("Turin", "TO", "10121"))),
)  # fmt: skip
_NAME_HEADS = (
    "Alpine", "Atlas", "Blue", "Bright", "Cedar", "Coastal", "Crown", "Delta", "Eagle", "Evergreen",
    "Falcon", "Granite", "Harbor", "Horizon", "Iron", "Juniper", "Keystone", "Lumen", "Maple",
    "Meridian", "Nordic", "Northern", "Oak", "Orbit", "Pacific", "Pioneer", "Quantum", "Redwood",
    "River", "Sierra", "Silver", "Summit", "Sun", "Titan", "Union", "Vertex", "Vista", "West",
)  # fmt: skip
_NAME_TAILS = (
    "Systems", "Logistics", "Foods", "Industries", "Machines", "Textiles", "Pharma", "Energy",
    "Components", "Labs", "Tools", "Plastics", "Electronics", "Furniture", "Papers", "Metals",
    "Optics", "Motors", "Chemicals", "Builders", "Supplies", "Trading", "Software", "Robotics",
)  # fmt: skip
_INDUSTRIES = (
    "Manufacturing", "Retail", "Wholesale", "Construction", "Healthcare", "Food & Beverage",
    "Logistics", "Energy", "Technology", "Automotive", "Chemicals", "Textiles",
)  # fmt: skip
_STREETS = ("Main", "Station", "Market", "Church", "Park", "Mill", "High", "Lake", "Garden",
            "Harbour", "Castle", "Bridge")  # fmt: skip
_FIRST = ("Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
          "Karin", "Lukas", "Maria", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tara", "Victor",
          "Wendy", "Xavier", "Yara", "Zoe", "Amir", "Chen", "Fatima", "Kenji", "Priya",
          "Sofia")  # fmt: skip
_LAST = ("Adler", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ivanova",
         "Jensen", "Keller", "Larsen", "Martin", "Novak", "Olsen", "Peters", "Rossi", "Schmidt",
         "Tanaka", "Umar", "Vogel", "Weber", "Young", "Zimmer", "Brown", "Smith",
         "Moreau")  # fmt: skip
_TITLES = ("CEO", "CFO", "Purchasing Manager", "Buyer", "Head of Operations", "Accountant",
           "Plant Manager", "Procurement Lead", "Office Manager", "CTO")  # fmt: skip
_PRODUCT_WORDS = ("Bolt", "Valve", "Sensor", "Pump", "Cable", "Bearing", "Filter", "Panel",
                  "Motor", "Gear", "Switch", "Hose", "Bracket", "Seal", "Relay", "Fan")  # fmt: skip
_PRODUCT_SIZES = ("S", "M", "L", "XL", "Pro", "Mini", "Max", "Plus")
_TERMS = ("NET14", "NET30", "NET30", "NET30", "NET60", "PREPAID")
_OWNERS = ("alice@example.com", "bob@example.com", "carol@example.com", None, None)
# Order status, weight: most orders in an ERP are past orders, invoiced or paid.
_STATUSES = (("ordered", 15), ("shipped", 12), ("invoiced", 30), ("paid", 38), ("cancelled", 5))


def sample_metadata(schema: str | None = None) -> sa.MetaData:
    """The sample ERP's tables (and the order-number trigger) in `schema`."""
    metadata = sa.MetaData(schema=schema)
    money = sa.Numeric(14, 2)
    stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    customers = sa.Table(
        "customers",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_no", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        *(sa.Column(name, sa.String(200)) for name in ("email", "phone", "website", "industry")),
        sa.Column("employees", sa.Integer),
        sa.Column("annual_revenue", money),
        sa.Column("tax_id", sa.String(40)),
        sa.Column("currency", sa.CHAR(3)),
        sa.Column("credit_limit", money),
        sa.Column("payment_terms", sa.String(20)),
        sa.Column("status", sa.String(10), nullable=False, server_default="active"),
        *_address_columns("billing"),
        *_address_columns("shipping"),
        sa.Column("crm_owner", sa.String(200)),
        sa.Column("lifetime_revenue", money),
        sa.Column("last_order_date", sa.Date),
        sa.Column("open_order_count", sa.Integer),
        sa.Column("sync_key", sa.String(64), unique=True),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("deleted_at", stamp),
        sa.CheckConstraint("status IN ('active','blocked','inactive')", name="customer_status"),
    )
    sa.Index("ix_customers_changes", customers.c.updated_at, customers.c.id)
    contacts = sa.Table(
        "contacts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("contact_no", sa.String(20), unique=True),
        sa.Column("customer_id", sa.ForeignKey(customers.c.id), nullable=False, index=True),
        *(
            sa.Column(name, sa.String(200))
            for name in ("first_name", "last_name", "email", "phone", "mobile", "job_title")
        ),
        sa.Column("is_primary", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("language", sa.String(5)),
        sa.Column("sync_key", sa.String(64), unique=True),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("deleted_at", stamp),
    )
    sa.Index("ix_contacts_changes", contacts.c.updated_at, contacts.c.id)
    sa.Table(
        "products",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(40), unique=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_price", money, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
    )
    orders = sa.Table(
        "sales_orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_no", sa.String(20), unique=True),
        sa.Column("customer_id", sa.ForeignKey(customers.c.id), nullable=False, index=True),
        sa.Column("contact_id", sa.ForeignKey(contacts.c.id)),
        sa.Column("title", sa.String(200)),
        sa.Column("stage", sa.String(10), nullable=False, server_default="open"),
        sa.Column("status", sa.String(10), nullable=False, server_default="none"),
        sa.Column("order_date", sa.Date),
        sa.Column("close_date", sa.Date),
        sa.Column("currency", sa.CHAR(3)),
        sa.Column("total_amount", money),
        sa.Column("sync_key", sa.String(64), unique=True),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("deleted_at", stamp),
        sa.CheckConstraint("stage IN ('open','won','lost')", name="order_stage"),
        sa.CheckConstraint(
            "status IN ('none','ordered','shipped','invoiced','paid','cancelled')",
            name="order_status",
        ),
    )
    sa.Index("ix_sales_orders_changes", orders.c.updated_at, orders.c.id)
    lines = sa.Table(
        "sales_order_lines",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.ForeignKey(orders.c.id, ondelete="CASCADE"), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("sku", sa.String(40)),
        sa.Column("description", sa.String(200)),
        sa.Column("quantity", sa.Numeric(14, 3), nullable=False),
        sa.Column("unit_price", money),
        sa.Column("discount", money),
        sa.Column("line_total", money),
    )
    sa.Index("ix_sales_order_lines_order", lines.c.order_id, lines.c.line_no)
    invoices = sa.Table(
        "invoices",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_no", sa.String(20), unique=True),
        sa.Column("order_id", sa.ForeignKey(orders.c.id), nullable=False),
        sa.Column("customer_id", sa.ForeignKey(customers.c.id), nullable=False, index=True),
        sa.Column("invoice_date", sa.Date, nullable=False),
        sa.Column("amount", money, nullable=False),
        sa.Column("paid", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", stamp, nullable=False),
    )
    sa.Index("ix_invoices_changes", invoices.c.updated_at)
    event.listen(orders, "after_create", _create_order_intake_trigger)
    return metadata


def _address_columns(kind: str) -> Iterator[sa.Column[Any]]:
    for part in ("street", "city", "zip", "region"):
        yield sa.Column(f"{kind}_{part}", sa.String(200))
    yield sa.Column(f"{kind}_country", sa.CHAR(2))


def _create_order_intake_trigger(target: sa.Table, connection: Connection, **_: Any) -> None:
    """The ERP's order intake: a new order without a number is numbered `SO-000042` (from its
    id), and a won sale that arrives without an order status becomes an order (`ordered`,
    dated today unless it brings a date). Numbering and order state are the ERP's business."""
    quote = connection.dialect.identifier_preparer
    table = quote.format_table(target)
    schema = f"{quote.quote_schema(target.schema)}." if target.schema else ""
    if connection.dialect.name == "sqlite":
        # In an UPDATE every SET expression sees the row as it was before the statement.
        connection.exec_driver_sql(
            f"CREATE TRIGGER order_intake AFTER INSERT ON {table} "
            "WHEN NEW.order_no IS NULL OR (NEW.stage = 'won' AND NEW.status = 'none') BEGIN "
            f"UPDATE {table} SET "
            "order_no = COALESCE(order_no, printf('SO-%06d', NEW.id)), "
            "status = CASE WHEN stage = 'won' AND status = 'none' THEN 'ordered' "
            "ELSE status END, "
            "order_date = CASE WHEN stage = 'won' AND status = 'none' "
            "THEN COALESCE(order_date, date('now')) ELSE order_date END "
            "WHERE id = NEW.id; END"
        )
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"CREATE FUNCTION {schema}order_intake() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NEW.order_no IS NULL THEN "
            "NEW.order_no := 'SO-' || lpad(NEW.id::text, 6, '0'); END IF; "
            "IF NEW.stage = 'won' AND NEW.status = 'none' THEN NEW.status := 'ordered'; "
            "NEW.order_date := COALESCE(NEW.order_date, current_date); END IF; "
            "RETURN NEW; END $$"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER order_intake BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {schema}order_intake()"
        )
    elif connection.dialect.name in ("mysql", "mariadb"):
        # A MySQL trigger may not update the table it fires on, and a BEFORE INSERT trigger
        # sees 0 for the AUTO_INCREMENT id it is about to get: so it takes the next id itself.
        # Two orders inserted at once may then pick the same id: the later insert fails as a
        # duplicate key, a refused row that the adapter replays once in a fresh transaction.
        connection.exec_driver_sql(
            f"CREATE TRIGGER {schema}order_intake BEFORE INSERT ON {table} FOR EACH ROW BEGIN "
            "IF NEW.id IS NULL OR NEW.id = 0 THEN "
            f"SET NEW.id = (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}); END IF; "
            "IF NEW.order_no IS NULL THEN "
            "SET NEW.order_no = CONCAT('SO-', LPAD(NEW.id, 6, '0')); END IF; "
            "IF NEW.stage = 'won' AND NEW.status = 'none' THEN SET NEW.status = 'ordered', "
            "NEW.order_date = COALESCE(NEW.order_date, UTC_DATE()); END IF; END"
        )


@dataclass(frozen=True)
class SampleStats:
    customers: int
    contacts: int
    products: int
    orders: int
    order_lines: int
    invoices: int


def create_sample_erp(
    path: Path,
    *,
    customers: int = 1000,
    contacts: int = 3000,
    orders: int = 5000,
    seed: int = 42,
    products: int = 200,
    chunk: int = CHUNK,
) -> SampleStats:
    """Create (or replace) a SQLite sample ERP at `path` filled with generated data, `chunk`
    rows at a time (a million customers take ~100 MiB of RSS, not the 1.9 GiB of whole tables)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            # A fresh file nobody else reads yet: skip the journal's fsyncs while filling it.
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
        return populate(
            engine, sample_metadata(), customers, contacts, orders, seed, products, chunk=chunk
        )
    finally:
        engine.dispose()


def populate(
    engine: Engine,
    metadata: sa.MetaData,
    customers: int = 1000,
    contacts: int = 3000,
    orders: int = 5000,
    seed: int = 42,
    products: int = 200,
    *,
    chunk: int = CHUNK,
) -> SampleStats:
    """Create the sample tables in `metadata` on `engine` and fill them.

    Rows are generated and inserted `chunk` at a time, never a whole table: what the contacts
    and orders need of a customer is kept in a few bytes (`_Directory`), and each order leaves
    only a small fact for the customers' history, written once the orders are in (an UPDATE of
    the customers that have orders). The same seed gives the same rows for any `chunk`.
    """
    rng = random.Random(seed)
    metadata.create_all(engine, checkfirst=False)  # a fresh database: nothing to check
    prefix = f"{metadata.schema}." if metadata.schema else ""
    tables = {name: metadata.tables[prefix + name] for name in _TABLES}
    directory = _Directory()
    order_facts: list[OrderFact] = []
    invoice_facts: list[InvoiceFact] = []
    counts = dict.fromkeys(_TABLES, 0)
    with engine.begin() as connection:

        def insert(name: str, rows: list[dict[str, Any]]) -> None:
            if rows:
                connection.execute(sa.insert(tables[name]), rows)
                counts[name] += len(rows)

        for rows in _chunks(_customers(rng, customers, directory), chunk):
            insert("customers", rows)
        for rows in _chunks(_contacts(rng, directory, contacts), chunk):
            insert("contacts", rows)
        catalogue = _products(rng, max(products, 1))
        insert("products", catalogue)
        owners = _ContactsOf(directory.count, counts["contacts"], directory.extra_owners)
        sales = _orders(rng, directory, owners, catalogue, orders)
        for sold in _chunks(sales, chunk):
            insert("sales_orders", [order for order, _, _ in sold])
            insert("sales_order_lines", [line for _, lines, _ in sold for line in lines])
            insert("invoices", [invoice for _, _, invoice in sold if invoice is not None])
            for order, _, invoice in sold:
                order_facts.append(
                    OrderFact(order["customer_id"], order["status"], order["order_date"])
                )
                if invoice is not None:
                    invoice_facts.append(InvoiceFact(invoice["customer_id"], invoice["amount"]))
        _write_history(connection, tables["customers"], order_facts, invoice_facts, chunk)
        if connection.dialect.name == "postgresql":
            _advance_sequences(connection, metadata)
    return SampleStats(
        customers=counts["customers"],
        contacts=counts["contacts"],
        products=counts["products"],
        orders=counts["sales_orders"],
        order_lines=counts["sales_order_lines"],
        invoices=counts["invoices"],
    )


def _chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _write_history(
    connection: Connection,
    customers: sa.Table,
    orders: list[OrderFact],
    invoices: list[InvoiceFact],
    chunk: int,
) -> None:
    """Set the history columns of the customers that have orders (the others keep the
    defaults they were inserted with, `NO_HISTORY`)."""
    history = compute_history(orders, invoices)
    statement = (
        sa.update(customers)
        .where(customers.c.id == sa.bindparam("customer"))
        .values(
            lifetime_revenue=sa.bindparam("revenue"),
            last_order_date=sa.bindparam("last"),
            open_order_count=sa.bindparam("open"),
        )
    )
    rows = (
        {
            "customer": customer,
            "revenue": figures.lifetime_revenue,
            "last": figures.last_order_date,
            "open": figures.open_order_count,
        }
        for customer, figures in history.items()
    )
    for batch in _chunks(rows, chunk):
        connection.execute(statement, batch)


def _advance_sequences(connection: Connection, metadata: sa.MetaData) -> None:
    """Rows were inserted with explicit ids; move each serial past them so the ERP's next
    insert gets a fresh id (PostgreSQL does not do this by itself)."""
    quote = connection.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        key = table.c.id
        sequence = sa.func.pg_get_serial_sequence(quote.format_table(table), "id")
        highest = sa.select(sa.func.coalesce(sa.func.max(key), 0) + 1).scalar_subquery()
        connection.execute(sa.select(sa.func.setval(sequence, highest, False)))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _phone(rng: random.Random, low: int, high: int) -> str:
    return f"+{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(low, high)}"


def _moment(rng: random.Random) -> dt.datetime:
    return EPOCH + dt.timedelta(
        seconds=rng.randrange(SPAN_SECONDS), microseconds=rng.randrange(10**6)
    )


class _Directory:
    """What the contacts and orders need of each customer, in four bytes a customer instead of
    its row: the indexes of its country and name parts, and whether its domain carries its
    number. Also the owners of the contacts beyond the first of each customer."""

    def __init__(self) -> None:
        self.country = bytearray()
        self.head = bytearray()
        self.tail = bytearray()
        self.numbered = bytearray()
        self.extra_owners = array("q")

    @property
    def count(self) -> int:
        return len(self.country)

    def add(self, country: int, head: int, tail: int, numbered: bool) -> None:
        self.country.append(country)
        self.head.append(head)
        self.tail.append(tail)
        self.numbered.append(numbered)

    def domain(self, customer: int) -> str:
        """The domain of customer `customer` (its id: its place in the directory, from 1)."""
        at = customer - 1
        tld = _COUNTRIES[self.country[at]][3]
        words = _slug(_NAME_HEADS[self.head[at]] + _NAME_TAILS[self.tail[at]])
        return f"{words}{customer if self.numbered[at] else ''}.{tld}"

    def name(self, customer: int) -> str:
        at = customer - 1
        legal = _COUNTRIES[self.country[at]][4]
        return f"{_NAME_HEADS[self.head[at]]} {_NAME_TAILS[self.tail[at]]} {legal}"

    def country_of(self, customer: int) -> tuple[str, str, str]:
        """(ISO country, currency, language)."""
        country, currency, language = _COUNTRIES[self.country[customer - 1]][:3]
        return country, currency, language


class _ContactsOf:
    """The contact ids of each customer, in id order: contact `n` belongs to customer `n` (the
    first pass gives every customer one), the contacts after those to `extra_owners`. Kept as
    two arrays (a customer's extra contacts are contiguous in `ids`), not a list a customer."""

    def __init__(self, customers: int, contacts: int, extra_owners: array[int]) -> None:
        self.first = min(customers, contacts)
        self.starts = array("q", [0]) * (customers + 2)
        for owner in extra_owners:
            self.starts[owner + 1] += 1
        for at in range(1, len(self.starts)):
            self.starts[at] += self.starts[at - 1]
        self.ids = array("q", [0]) * len(extra_owners)
        filled = array("q", self.starts)
        for offset, owner in enumerate(extra_owners):
            self.ids[filled[owner]] = customers + 1 + offset
            filled[owner] += 1

    def choose(self, rng: random.Random, customer: int) -> int | None:
        """What `rng.choice(ids)` gives for the list of the customer's contact ids."""
        own = 1 if customer <= self.first else 0
        start, end = self.starts[customer], self.starts[customer + 1]
        count = own + end - start
        if not count:
            return None
        at = rng.randrange(count)  # what random.choice draws, for a list of `count`
        return customer if at < own else self.ids[start + at - own]


def _customers(rng: random.Random, count: int, directory: _Directory) -> Iterator[_Row]:
    # A domain is its name's words and its country's tld: the second customer with the same
    # ones gets its number in its domain. One flag per (country, head, tail) tells.
    taken = bytearray(len(_COUNTRIES) * len(_NAME_HEADS) * len(_NAME_TAILS))
    for number in range(1, count + 1):
        country_at = _randindex(rng, _COUNTRIES)
        country, currency, _, tld, legal, tax, cities = _COUNTRIES[country_at]
        head_at, tail_at = _randindex(rng, _NAME_HEADS), _randindex(rng, _NAME_TAILS)
        head, tail = _NAME_HEADS[head_at], _NAME_TAILS[tail_at]
        name = f"{head} {tail} {legal}"
        flag = (country_at * len(_NAME_HEADS) + head_at) * len(_NAME_TAILS) + tail_at
        numbered = bool(taken[flag])
        taken[flag] = 1
        domain = f"{_slug(head + tail)}{number if numbered else ''}.{tld}"
        directory.add(country_at, head_at, tail_at, numbered)
        city, region, postal = rng.choice(cities)
        street = f"{rng.randrange(1, 200)} {rng.choice(_STREETS)} Street"
        same_shipping = rng.random() < 0.8
        ship_city, ship_region, ship_zip = (
            (city, region, postal) if same_shipping else rng.choice(cities)
        )
        employees = rng.choice((5, 12, 25, 50, 120, 250, 800, 2500))
        yield {
            "id": number,
            "customer_no": f"C{100000 + number}",
            "name": name,
            "email": f"info@{domain}",
            "phone": _phone(rng, 100000, 999999),
            "website": f"https://www.{domain}",
            "industry": rng.choice(_INDUSTRIES),
            "employees": employees,
            "annual_revenue": Decimal(employees * rng.randrange(80_000, 250_000)),
            "tax_id": f"{tax}{rng.randrange(10**8, 10**9)}",
            "currency": currency,
            "credit_limit": Decimal(rng.choice((5, 10, 25, 50, 100, 250)) * 1000),
            "payment_terms": rng.choice(_TERMS),
            "status": rng.choices(("active", "blocked", "inactive"), (90, 4, 6))[0],
            "billing_street": street,
            "billing_city": city,
            "billing_zip": postal,
            "billing_region": region,
            "billing_country": country,
            "shipping_street": street if same_shipping else f"{rng.randrange(1, 90)} Depot Road",
            "shipping_city": ship_city,
            "shipping_zip": ship_zip,
            "shipping_region": ship_region,
            "shipping_country": country,
            "crm_owner": rng.choice(_OWNERS),
            # The history is written once the orders are in (`_write_history`).
            "lifetime_revenue": NO_HISTORY.lifetime_revenue,
            "last_order_date": NO_HISTORY.last_order_date,
            "open_order_count": NO_HISTORY.open_order_count,
            "sync_key": None,
            "updated_at": _moment(rng),
            "deleted_at": None,
        }


def _randindex(rng: random.Random, options: Sequence[Any]) -> int:
    """The index `rng.choice(options)` would pick, drawing the same number."""
    return rng.randrange(len(options))


def _contacts(rng: random.Random, directory: _Directory, count: int) -> Iterator[_Row]:
    customers = directory.count
    if not customers:
        return
    for number in range(1, count + 1):
        # The first pass gives every customer one contact (its primary); the rest spread at
        # random.
        if number <= customers:
            customer = number
        else:
            customer = 1 + rng.randrange(customers)  # what rng.choice(customers) draws
            directory.extra_owners.append(customer)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        yield {
            "id": number,
            "contact_no": f"P{200000 + number}",
            "customer_id": customer,
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}.{number}@{directory.domain(customer)}",
            "phone": _phone(rng, 1000, 9999),
            "mobile": f"+{rng.randrange(10, 99)} 17{rng.randrange(10000000, 99999999)}",
            "job_title": rng.choice(_TITLES),
            "is_primary": number <= customers,
            "language": directory.country_of(customer)[2],
            "sync_key": None,
            "updated_at": _moment(rng),
            "deleted_at": None,
        }


def _products(rng: random.Random, count: int) -> list[_Row]:
    return [
        {
            "id": number,
            "sku": f"P-{number:05d}",
            "name": f"{rng.choice(_PRODUCT_WORDS)} {rng.choice(_PRODUCT_SIZES)} {number}",
            "unit_price": Decimal(rng.randrange(150, 250_000)) / 100,
            "currency": "EUR",
            "updated_at": _moment(rng),
        }
        for number in range(1, count + 1)
    ]


def _orders(
    rng: random.Random,
    directory: _Directory,
    contacts_of: _ContactsOf,
    products: list[_Row],
    count: int,
) -> Iterator[tuple[_Row, list[_Row], _Row | None]]:
    """Each order with its lines and, once invoiced or paid, its invoice."""
    customers = directory.count
    if not customers:
        return
    statuses = [status for status, _ in _STATUSES]
    weights = [weight for _, weight in _STATUSES]
    invoices = 0
    for number in range(1, count + 1):
        customer = 1 + rng.randrange(customers)  # what rng.choice(customers) draws
        placed = _moment(rng)
        status = rng.choices(statuses, weights)[0]
        order_lines = []
        for line_no in range(1, rng.randint(1, 5) + 1):
            product = rng.choice(products)
            quantity = Decimal(rng.randint(1, 20))
            discount = rng.choice((Decimal(0), Decimal(0), Decimal("0.05"), Decimal("0.10")))
            gross = quantity * product["unit_price"]
            rebate = (gross * discount).quantize(Decimal("0.01"))
            order_lines.append(
                {
                    "order_id": number,
                    "line_no": line_no,
                    "sku": product["sku"],
                    "description": product["name"],
                    "quantity": quantity,
                    "unit_price": product["unit_price"],
                    "discount": rebate,
                    "line_total": gross - rebate,
                }
            )
        total = sum((line["line_total"] for line in order_lines), Decimal(0))
        changed = placed + dt.timedelta(days=rng.randrange(0, 30))
        contact = contacts_of.choose(rng, customer)
        order = {
            "id": number,
            "order_no": f"SO-{number:06d}",
            "customer_id": customer,
            "contact_id": contact,
            "title": f"{order_lines[0]['description']} for {directory.name(customer)}",
            "stage": "won",
            "status": status,
            "order_date": placed.date(),
            "close_date": placed.date(),
            "currency": directory.country_of(customer)[1],
            "total_amount": total,
            "sync_key": None,
            "updated_at": changed,
            "deleted_at": None,
        }
        invoice = None
        if status in ("invoiced", "paid"):
            invoices += 1
            invoice = {
                "invoice_no": f"INV-{invoices:06d}",
                "order_id": number,
                "customer_id": customer,
                "invoice_date": changed.date(),
                "amount": total,
                "paid": status == "paid",
                "updated_at": changed,
            }
        yield order, order_lines, invoice


def sample_config(url: str, schema: str | None = None) -> dict[str, Any]:
    """The `settings:` block of an `erp_generic` system for the sample ERP at `url`."""
    located = {"schema": schema} if schema else {}
    # The sample ERP is the product's own: its tables are written directly.
    common = {"soft_delete": "deleted_at", "sync_key": "sync_key", "write": "table", **located}
    return {
        "mode": "sql",
        "url": url,
        "entities": {
            "customer": {"table": "customers", **common},
            "contact": {"table": "contacts", **common},
            "sale": {
                "table": "sales_orders",
                **common,
                "lines": {
                    "table": "sales_order_lines",
                    "foreign_key": "order_id",
                    "order_by": "line_no",
                },
            },
        },
        "refresh_history": {},
    }


def log_customer_writes(path: Path) -> None:
    """Log every insert and update of the sample ERP's customers in `write_log` (SQLite).

    For tests and benchmarks that count how often each record was written, whoever wrote it.
    """
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE write_log (customer_no TEXT NOT NULL);
            CREATE TRIGGER log_insert AFTER INSERT ON customers
                BEGIN INSERT INTO write_log VALUES (NEW.customer_no); END;
            CREATE TRIGGER log_update AFTER UPDATE ON customers
                BEGIN INSERT INTO write_log VALUES (NEW.customer_no); END;
            """
        )


def customer_writes(path: Path) -> tuple[int, int]:
    """(writes logged, customers written more than once) since `log_customer_writes`."""
    with sqlite3.connect(path) as conn:
        total = conn.execute("SELECT count(*) FROM write_log").fetchone()[0]
        again = conn.execute(
            "SELECT count(*) FROM "
            "(SELECT 1 FROM write_log GROUP BY customer_no HAVING count(*) > 1)"
        ).fetchone()[0]
    return int(total), int(again)
