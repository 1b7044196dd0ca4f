"""The `settings:` block of a HubSpot system in config.yaml, validated by pydantic.

Secrets are `SecretStr` and are read from the environment (the variable names are configurable;
config.yaml's `${ENV}` interpolation may also place them directly). They never reach a message.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from connector.http import HttpSettings, RateLimit
from connector.settings_base import StrictModel, secret_from_env

from .paths import ApiPaths

#: Endpoint classes with separate limits: the burst limit, CRM search (exempt from the burst
#: limit, 5/s of its own) and the v4 association batches (exempt too, with their own burst).
DEFAULT_CLASS = "default"
SEARCH_CLASS = "search"
ASSOCIATIONS_CLASS = "associations"


class TokenAuth(StrictModel):
    """A private-app access token or a service key: a static bearer token."""

    kind: Literal["token"] = "token"
    token: SecretStr | None = None
    token_env: str | None = "HUBSPOT_TOKEN"

    def resolve_token(self) -> SecretStr:
        return secret_from_env(self.token, self.token_env, "access token", system="HubSpot")


class OAuthAuth(StrictModel):
    """OAuth 2.0 refresh-token flow; the access token is refreshed before `expires_in` runs out."""

    kind: Literal["oauth"] = "oauth"
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_env: str | None = "HUBSPOT_CLIENT_SECRET"
    refresh_token: SecretStr | None = None
    refresh_token_env: str | None = "HUBSPOT_REFRESH_TOKEN"
    #: Refresh this many seconds before the token would expire (HubSpot tokens live 1800 s).
    refresh_margin_seconds: float = Field(default=120.0, ge=0)

    def resolve_client_secret(self) -> SecretStr:
        return secret_from_env(
            self.client_secret, self.client_secret_env, "OAuth client secret", system="HubSpot"
        )

    def resolve_refresh_token(self) -> SecretStr:
        return secret_from_env(
            self.refresh_token, self.refresh_token_env, "OAuth refresh token", system="HubSpot"
        )


class Limits(StrictModel):
    """Client-side throttles, kept under HubSpot's published limits (hubspot.md §5.1)."""

    #: General burst limit per app: 100 (Free/Starter), 190 (Pro/Enterprise), 250 (add-on).
    burst_requests: int = Field(default=190, ge=1)
    burst_window_seconds: float = Field(default=10.0, gt=0)
    #: Added to the window client-side: HubSpot counts arrivals, we count departures, and a
    #: request delayed in flight must not land inside the previous window (costs ~3 %).
    burst_margin_seconds: float = Field(default=0.3, ge=0)
    #: CRM search has its own limit: 5 requests per second per account.
    search_per_second: int = Field(default=5, ge=1)
    #: The v4 association batch endpoints have their own burst limit (150 per 10 s on Pro).
    association_requests: int = Field(default=150, ge=1)
    #: Retry budget for one call (transient errors, 429, 423, 5xx). A 477 asking for longer
    #: than the elapsed budget ends the call; the route retries on its next run.
    max_attempts: int = Field(default=8, ge=1, le=50)
    max_elapsed_seconds: float = Field(default=120.0, gt=0)
    max_connections: int = Field(default=20, ge=1, le=1000)


SignatureVersion = Literal["v1", "v2", "v3"]
ALL_VERSIONS: tuple[SignatureVersion, ...] = ("v3", "v2", "v1")


class WebhookSettings(StrictModel):
    """Client secrets that sign incoming webhooks; two or more let a secret be rotated."""

    client_secrets: list[SecretStr] = Field(default_factory=list)
    client_secret_envs: list[str] = Field(
        default_factory=lambda: ["HUBSPOT_CLIENT_SECRET", "HUBSPOT_CLIENT_SECRET_PREVIOUS"]
    )
    #: v1/v2 signatures carry no timestamp and so cannot be replay-checked; allow them only for
    #: older apps that cannot send v3.
    versions: list[SignatureVersion] = Field(default_factory=lambda: list(ALL_VERSIONS))
    max_age_seconds: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1_000_000, gt=0)

    def resolve_secrets(self) -> list[SecretStr]:
        secrets = [s for s in self.client_secrets if s.get_secret_value()]
        for name in self.client_secret_envs:
            value = os.environ.get(name)
            if value:
                secrets.append(SecretStr(value))
        return secrets


class HubSpotSettings(StrictModel):
    """Everything needed to talk to one HubSpot account."""

    base_url: str = "https://api.hubapi.com"
    #: "v3" for `/crm/v3/...`, or a dated version such as "2026-03".
    api_version: str = "v3"
    oauth_token_path: str = "/oauth/v1/token"
    auth: Annotated[TokenAuth | OAuthAuth, Field(discriminator="kind")] = Field(
        default_factory=TokenAuth
    )
    limits: Limits = Field(default_factory=Limits)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    batch_size: int = Field(default=100, ge=1, le=100)
    #: 8 calls of 100 records at ~100 ms carry 8,000 records/s, so a push below the burst
    #: window is bound by the engine, not by waiting; the burst limiter still paces a longer
    #: one (bench/README.md, 2026-12-06: sustained 93.6 % of the ceiling with 8, as with 4).
    max_in_flight: int = Field(default=8, ge=1, le=32)
    search_page_size: int = Field(default=200, ge=1, le=200)
    #: Re-read this much before `since`, because search results lag writes by "a few moments".
    search_overlap_seconds: float = Field(default=60.0, ge=0)
    #: Report archived records (recycle bin) as deletes in `read_changes`.
    read_archived: bool = True
    #: Properties requested besides the defaults (per entity: customer, contact, sale, line).
    extra_properties: dict[str, list[str]] = Field(default_factory=dict)
    #: The property group setup creates for the connector's own properties.
    property_group: str = "erp_sync"
    property_group_label: str = "ERP sync"
    #: The deal pipeline new deals land in when the mapping does not name one.
    default_pipeline: str = "default"
    #: The owners list (for the `owner_email` pseudo-field) is cached; an owner id or e-mail it
    #: does not know reloads it, but at most once in this many seconds (owners.py says why).
    owners_refresh_seconds: float = Field(default=300.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(
                "base_url must start with https:// or http:// (https://api.hubapi.com, or the "
                "local sandbox's http://127.0.0.1:8081)"
            )
        return value

    def paths(self) -> ApiPaths:
        return ApiPaths(self.api_version, self.oauth_token_path)

    def http_settings(self) -> HttpSettings:
        """The shared HTTP layer's settings, with HubSpot's three separately limited classes."""
        limits = self.limits
        window = limits.burst_window_seconds + limits.burst_margin_seconds
        return HttpSettings(
            base_url=self.base_url,
            max_connections=limits.max_connections,
            max_attempts=limits.max_attempts,
            max_elapsed_seconds=limits.max_elapsed_seconds,
            rate_limits={
                DEFAULT_CLASS: RateLimit(requests=limits.burst_requests, per_seconds=window),
                # The same margin as the burst window: HubSpot counts arrivals, we departures.
                SEARCH_CLASS: RateLimit(
                    requests=limits.search_per_second,
                    per_seconds=1.0 + limits.burst_margin_seconds,
                ),
                ASSOCIATIONS_CLASS: RateLimit(
                    requests=limits.association_requests, per_seconds=window
                ),
            },
        )
