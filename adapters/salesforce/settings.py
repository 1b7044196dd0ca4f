"""The `settings:` block of a Salesforce system in config.yaml, validated by pydantic.

Secrets (the JWT private key, client secrets, refresh tokens) are `SecretStr` read from the
environment or a file; they never reach a message. The login URL is production
(`https://login.salesforce.com`), a sandbox org (`https://test.salesforce.com`) or the org's
My Domain; the API host is the `instance_url` of the token response (salesforce.md §5).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from connector.errors import ConfigurationError
from connector.http import HttpSettings
from connector.settings_base import StrictModel, secret_from_env

_Strict = StrictModel
MIN_API_VERSION = 48.0
GENERIC_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})
SANDBOX_AUDIENCE = "https://test.salesforce.com"


def secret(value: SecretStr | None, env_name: str | None, what: str) -> SecretStr:
    return secret_from_env(value, env_name, what, system="Salesforce")


class JwtAuth(_Strict):
    """OAuth 2.0 JWT bearer flow: server-to-server as a named integration user (recommended)."""

    kind: Literal["jwt"] = "jwt"
    #: The connected app's consumer key (the JWT `iss`).
    client_id: str
    #: The integration user's Salesforce username (the JWT `sub`).
    username: str
    private_key: SecretStr | None = None
    private_key_env: str | None = "SALESFORCE_PRIVATE_KEY"
    private_key_file: Path | None = None
    #: The JWT `aud`: `https://login.salesforce.com`, or `https://test.salesforce.com` for a
    #: sandbox org (the values public JWT clients document for the flow of Salesforce Help's
    #: "OAuth 2.0 JWT Bearer Flow"), even when posting to My Domain (salesforce.md §5.2).
    #: Unset, it follows `login_url`: test for `test.salesforce.com` and
    #: `*.sandbox.my.salesforce.com`.
    audience: str = "https://login.salesforce.com"

    def resolve_private_key(self, base_dir: Path) -> SecretStr:
        if self.private_key_file is not None:
            path = self.private_key_file
            path = path if path.is_absolute() else base_dir / path
            try:
                return SecretStr(path.read_text())
            except OSError as exc:
                raise ConfigurationError(
                    f"Salesforce private key file {path}: {exc.strerror}"
                ) from None
        return secret(self.private_key, self.private_key_env, "JWT private key")


class ClientCredentialsAuth(_Strict):
    """OAuth 2.0 client credentials flow (the connected app names a run-as user)."""

    kind: Literal["client_credentials"] = "client_credentials"
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_env: str | None = "SALESFORCE_CLIENT_SECRET"

    def resolve_client_secret(self) -> SecretStr:
        return secret(self.client_secret, self.client_secret_env, "client secret")


class RefreshTokenAuth(_Strict):
    """OAuth 2.0 refresh-token flow, for a token obtained once through the web-server flow."""

    kind: Literal["refresh_token"] = "refresh_token"
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_env: str | None = "SALESFORCE_CLIENT_SECRET"
    refresh_token: SecretStr | None = None
    refresh_token_env: str | None = "SALESFORCE_REFRESH_TOKEN"

    def resolve_client_secret(self) -> SecretStr | None:
        if self.client_secret is None and not (
            self.client_secret_env and os.environ.get(self.client_secret_env)
        ):
            return None  # a public client refreshes without a secret
        return secret(self.client_secret, self.client_secret_env, "client secret")

    def resolve_refresh_token(self) -> SecretStr:
        return secret(self.refresh_token, self.refresh_token_env, "refresh token")


Auth = Annotated[JwtAuth | ClientCredentialsAuth | RefreshTokenAuth, Field(discriminator="kind")]


class Limits(_Strict):
    """How much of the org's API the connector may use, and how hard it retries."""

    #: Share of the org's daily API allocation (`Sforce-Limit-Info`) the connector may use; the
    #: route stops (until usage falls) when the org's usage reaches it.
    daily_share: float = Field(default=0.5, gt=0, le=1)
    #: Concurrent long-running requests are limited to 25 per org (salesforce.md §4.3).
    max_connections: int = Field(default=10, ge=1, le=25)
    max_attempts: int = Field(default=6, ge=1, le=50)
    max_elapsed_seconds: float = Field(default=120.0, gt=0)
    #: Per-record UNABLE_TO_LOCK_ROW results are re-sent this many times.
    lock_retries: int = Field(default=3, ge=0, le=10)


class OutboundMessages(_Strict):
    """The org whose Outbound Messages the daemon accepts (they carry no signature)."""

    organization_id: str
    max_body_bytes: int = Field(default=1_000_000, gt=0)

    @field_validator("organization_id")
    @classmethod
    def _org(cls, value: str) -> str:
        from .ids import is_record_id

        if not is_record_id(value.strip()) or not value.startswith("00D"):
            raise ValueError("organization_id is the org's id (15 or 18 characters, 00D…)")
        return value.strip()


class SalesforceSettings(_Strict):
    """Everything needed to talk to one Salesforce org."""

    login_url: str = "https://login.salesforce.com"
    #: The REST API version, in one place. v48.0 or later: upsert through Collections needs
    #: v46.0, Bulk API 2.0 query jobs v47.0, Composite's `collateSubrequests` v48.0.
    api_version: str = "v62.0"
    auth: Auth
    limits: Limits = Field(default_factory=Limits)
    #: Records per Collections call: at most 200 (salesforce.md §2.3).
    batch_size: int = Field(default=200, ge=1, le=200)
    #: Collections calls in flight at once. Short calls are not limited by Salesforce (only
    #: those running 20 s or more count against the 25 concurrent per org, salesforce.md §4.3).
    max_in_flight: int = Field(default=8, ge=1, le=16)
    #: Rows per query response (`Sforce-Query-Options: batchSize`, 200-2,000).
    query_batch_size: int = Field(default=2000, ge=200, le=2000)
    #: A change query reads at most this many rows before the next query resumes after the
    #: last (SystemModstamp, Id): a query locator expires after 15 minutes unused.
    query_chunk: int = Field(default=10_000, ge=200)
    #: The largest batch the engine hands to one write call. Above `batch_size` the adapter
    #: splits it into Collections calls itself, or sends it as a Bulk API 2.0 job when it holds
    #: `bulk_threshold` records or more: raise it (and the source's page size) for first loads.
    write_batch: int = Field(default=200, ge=1, le=150_000)
    #: Write calls of at least this many customers or contacts go through Bulk API 2.0
    #: (salesforce.md §3.4: Salesforce's own rule of thumb is above 2,000).
    bulk_threshold: int = Field(default=10_000, ge=1)
    #: A pull from the beginning (a first sync, `--full`) of at least this many rows reads
    #: through one Bulk API 2.0 query job instead of REST query pages (one `COUNT()` query
    #: decides); None: never.
    bulk_query_threshold: int | None = Field(default=10_000, ge=1)
    #: Rows per Bulk query result page (`maxRecords`).
    bulk_query_page: int = Field(default=50_000, ge=1)
    #: The price book Opportunity lines take their PricebookEntry from.
    pricebook: str = "Standard Price Book"
    #: Whether the org has multi-currency on (records then carry `CurrencyIsoCode`, and a
    #: line's PricebookEntry must be in its opportunity's currency). None: found out from
    #: describe the first time a sale's lines are priced. true also reads `CurrencyIsoCode`
    #: on customers, contacts and sales, so a mapping can carry the currency.
    multi_currency: bool | None = None
    #: Report deleted rows (Recycle Bin, through queryAll) as deletes in `read_changes`.
    read_deleted: bool = True
    #: The client name in `Sforce-Call-Options`, so the org's logs (and CDC's changeOrigin)
    #: show which writes are ours.
    client_name: str = "erp-crm-connector"
    #: Accept Outbound Messages (SOAP) at `/webhooks/<system>` from this org.
    outbound_messages: OutboundMessages | None = None
    #: Fields read besides the mapped defaults (per entity: customer, contact, sale, line).
    extra_fields: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        text = value if value.startswith("v") else f"v{value}"
        try:
            number = float(text[1:])
        except ValueError:
            raise ValueError("api_version looks like v62.0") from None
        if number < MIN_API_VERSION:
            raise ValueError(
                "api_version must be v48.0 or later (Collections upsert v46.0, Bulk query "
                "jobs v47.0, Composite collateSubrequests v48.0)"
            )
        return f"v{number:.1f}"

    @field_validator("login_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("login_url must start with https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _login_host(self) -> SalesforceSettings:
        host = (urlsplit(self.login_url).hostname or "").lower()
        if isinstance(self.auth, ClientCredentialsAuth) and host in GENERIC_LOGIN_HOSTS:
            # Salesforce Help 000886201: the client credentials flow doesn't support calls to
            # login.salesforce.com or test.salesforce.com; use the org's My Domain login URL.
            raise ValueError(
                "the client credentials flow needs the org's My Domain login URL "
                "(https://MyDomain.my.salesforce.com, or …--Sandbox.sandbox.my.salesforce.com); "
                f"{host} does not accept it"
            )
        if isinstance(self.auth, JwtAuth) and "audience" not in self.auth.model_fields_set:
            sandbox = host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com")
            if sandbox:
                self.auth = self.auth.model_copy(update={"audience": SANDBOX_AUDIENCE})
        return self

    def http_settings(self, instance_url: str) -> HttpSettings:
        limits = self.limits
        return HttpSettings(
            base_url=instance_url,
            max_connections=limits.max_connections,
            max_attempts=limits.max_attempts,
            max_elapsed_seconds=limits.max_elapsed_seconds,
        )

    @property
    def data_path(self) -> str:
        return f"/services/data/{self.api_version}"
