"""The sandbox's options and its state: the org, the query engine, sessions, limits, faults.

Defaults deliberately differ from the sample ERP: the org's users are not the sample's sales
reps (an owner e-mail the org does not know must be handled, as in a real org), the org ships
Salesforce's demo accounts (a first sync meets records it did not write), Account.Industry lists
Salesforce's own values (not the sample's), and the daily API allocation is a Developer
Edition's 15,000 (salesforce.md §4.4).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .network import Reset
from .oauth import TokenIssuer
from .org import Org
from .outbound import Sender
from .query import QueryEngine
from .schema import DEFAULT_STAGES
from .tooling import Tooling, strip_custom_fields

INTEGRATION_USER = "integration@acme-corp.example"
DEFAULT_REPS = (
    ("m.lindqvist@acme-corp.example", "Maja", "Lindqvist"),
    ("j.okafor@acme-corp.example", "John", "Okafor"),
)
#: Salesforce's Developer Edition sample data: accounts a new org already holds.
DEMO_ACCOUNTS = (
    {"Name": "Edge Communications", "Industry": "Electronics", "Phone": "(512) 757-6000"},
    {"Name": "Burlington Textiles Corp of America", "Industry": "Apparel",
     "Phone": "(336) 222-7000"},
    {"Name": "GenePoint", "Industry": "Biotechnology", "Phone": "(650) 867-3450"},
)  # fmt: skip


@dataclass
class SandboxOptions:
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    #: PEM of the certificate (or public key) uploaded to the connected app, for JWT bearer.
    certificate_pem: bytes | None = None
    refresh_tokens: dict[str, str] = field(
        default_factory=lambda: {"sandbox-refresh-token": INTEGRATION_USER}
    )
    integration_user: str = INTEGRATION_USER
    reps: tuple[tuple[str, str, str], ...] = DEFAULT_REPS
    #: The host answered as `instance_url`; None: the host the token request came to.
    instance_url: str | None = None
    daily_api_limit: int = 15_000
    session_seconds: float = 7200.0
    latency_seconds: float = 0.0
    seed_demo_accounts: bool = True
    #: Standard picklists accept values outside their list unless an admin restricts them.
    industry_restricted: bool = False
    stages: tuple[tuple[str, bool, bool], ...] = DEFAULT_STAGES
    org_id: str = "00D5g000008aBcDEAU"
    #: Where Outbound Messages go when a sales rep changes a record (None: nowhere).
    outbound_url: str | None = None
    #: False: a fresh org without the connector's custom fields (`connector salesforce setup
    #: --create` makes them through the Tooling API, tooling.py).
    custom_fields: bool = True
    #: The integration user has "Customize Application" (may create fields and grant access).
    customize_application: bool = True
    #: Multi-currency on, with these active currencies (the corporate one first). Off by
    #: default, as in a new org: then no record has a `CurrencyIsoCode` field at all.
    currencies: tuple[str, ...] = ()


@dataclass
class Fault:
    """An injected failure for the next `count` requests whose path contains `path`."""

    status: int
    error_code: str
    message: str
    path: str = ""
    count: int = 1


class Sandbox:
    def __init__(
        self,
        options: SandboxOptions | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or SandboxOptions()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.monotonic = monotonic
        self.org = Org(
            self.clock,
            stages=self.options.stages,
            industry_restricted=self.options.industry_restricted,
            org_id=self.options.org_id,
            currencies=tuple(self.options.currencies),
        )
        self.queries = QueryEngine(self.org)
        self.issuer = TokenIssuer(
            consumer_key=self.options.consumer_key,
            consumer_secret=self.options.consumer_secret,
            public_key_pem=self.options.certificate_pem,
            refresh_tokens=self.options.refresh_tokens,
            audiences=("https://login.salesforce.com", "https://test.salesforce.com"),
            session_seconds=self.options.session_seconds,
        )
        self.api_used = 0
        self.api_limit = self.options.daily_api_limit
        self.faults: list[Fault] = []
        #: Connections to drop mid-request (network.py).
        self.resets: list[Reset] = []
        self.latency = self.options.latency_seconds
        self.log: list[dict[str, Any]] = []
        self.lock = asyncio.Lock()
        self.bulk_jobs: dict[str, Any] = {}
        self.outbound = Sender(self.options.outbound_url, self.org.org_id)
        if not self.options.custom_fields:
            strip_custom_fields(self.org)
        self.tooling = Tooling(self.org, customize=self.options.customize_application)
        self._seed()
        self.tooling.integration_user_id = self.integration_user_id

    def _seed(self) -> None:
        users = self.org.schema["User"]
        first = self.org.create(
            users,
            {
                "Username": self.options.integration_user,
                "Email": self.options.integration_user,
                "LastName": "Integration",
                "FirstName": "API",
            },
            "",
        )
        for row in self.org.rows["User"].values():
            row["CreatedById"] = row["LastModifiedById"] = row["OwnerId"] = first.id
        for email, first_name, last_name in self.options.reps:
            self.org.create(
                users,
                {"Username": email, "Email": email, "FirstName": first_name, "LastName": last_name},
                first.id,
            )
        self.integration_user_id = first.id
        book = self.org.create(
            self.org.schema["Pricebook2"], {"Name": "Standard Price Book"}, first.id
        )
        self.org.rows["Pricebook2"][book.id]["IsStandard"] = True
        self.standard_pricebook = book.id
        if self.options.seed_demo_accounts:
            rep = self.user_id(self.options.reps[0][0]) if self.options.reps else first.id
            for values in DEMO_ACCOUNTS:
                self.org.create(self.org.schema["Account"], {**values, "OwnerId": rep}, rep)

    def users(self) -> dict[str, str]:
        """Active usernames → user ids."""
        return {row["Username"]: row["Id"] for row in self.org.live("User") if row.get("IsActive")}

    def user_id(self, username: str) -> str:
        return self.users()[username]

    def add_product(
        self,
        code: str,
        name: str,
        price: Any,
        pricebook: str | None = None,
        currencies: tuple[str, ...] | None = None,
    ) -> str:
        """A Product2 with its standard price (and optionally in a custom price book); in a
        multi-currency org one entry per currency of `currencies` (default: the corporate one).
        Answers the first entry's id."""
        user = self.integration_user_id
        product = self.org.create(
            self.org.schema["Product2"], {"Name": name, "ProductCode": code}, user
        )
        wanted: tuple[str | None, ...] = (
            (currencies or self.org.currencies[:1]) if self.org.currencies else (None,)
        )
        ids = []
        for currency in wanted:
            values = {
                "Pricebook2Id": pricebook or self.standard_pricebook,
                "Product2Id": product.id,
                "UnitPrice": price,
            }
            if currency is not None:
                values["CurrencyIsoCode"] = currency
            ids.append(self.org.create(self.org.schema["PricebookEntry"], values, user).id)
        return ids[0]
