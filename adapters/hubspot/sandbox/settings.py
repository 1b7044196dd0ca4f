"""Every switch of the sandbox in one validated model: set at construction, most also at runtime.

Defaults follow the reference (hubspot.md §5): 190 requests per rolling 10 s per app (private
apps, Professional/Enterprise), 5 search requests per second per account, 625,000 a day
(Professional; the 2024 changelog said 650,000, so it is a switch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OBJECT_PREFIXES = ("/crm/v3/objects", "/crm/objects/2026-03")
ASSOCIATION_PREFIXES = ("/crm/v4/associations", "/crm/associations/2026-03")
ASSOCIATION_RECORD_PREFIXES = ("/crm/v4/objects", "/crm/objects/2026-03")
PROPERTY_PREFIXES = ("/crm/v3/properties", "/crm/properties/2026-03")
# The dated owners path follows the pattern of the others; HubSpot's docs show only /crm/v3.
OWNER_PREFIXES = ("/crm/v3/owners", "/crm/owners/2026-03")

# HubSpot retries a failed delivery up to 10 times over about 24 hours (hubspot.md §8.3);
# the exact randomized schedule is not published, so this is an even spread of that span.
HUBSPOT_RETRY_DELAYS_S = (
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    10800.0,
    14400.0,
    21600.0,
    21600.0,
)


class FaultRates(BaseModel):
    """Probability per API request of each injected fault; they must sum to at most 1."""

    model_config = ConfigDict(extra="forbid")

    rate_limited: float = Field(0.0, ge=0, le=1, description="429 TEN_SECONDLY_ROLLING")
    internal_error: float = Field(0.0, ge=0, le=1, description="500")
    bad_gateway: float = Field(0.0, ge=0, le=1, description="502")
    unavailable: float = Field(0.0, ge=0, le=1, description="503")
    gateway_timeout: float = Field(0.0, ge=0, le=1, description="504")
    origin_timeout: float = Field(0.0, ge=0, le=1, description="524")
    locked: float = Field(0.0, ge=0, le=1, description="423 Locked")
    migrating: float = Field(0.0, ge=0, le=1, description="477 with Retry-After")
    connection_reset: float = Field(0.0, ge=0, le=1, description="transport closed mid-reply")
    stall: float = Field(0.0, ge=0, le=1, description="no reply for stall_seconds, then 524")

    @model_validator(mode="after")
    def _at_most_one(self) -> FaultRates:
        if sum(self.model_dump().values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must sum to at most 1")
        return self


class Subscription(BaseModel):
    """One webhook subscription; `property_name` None on propertyChange means every property."""

    model_config = ConfigDict(extra="forbid")

    subscription_type: str
    property_name: str | None = None


def _default_subscriptions() -> list[Subscription]:
    kinds = ("company", "contact", "deal", "line_item")
    actions = ("creation", "deletion", "propertyChange")
    return [Subscription(subscription_type=f"{k}.{a}") for k in kinds for a in actions]


class WebhookOptions(BaseModel):
    """Where and how the sandbox delivers outgoing webhook batches."""

    model_config = ConfigDict(extra="forbid")

    target_url: str | None = None
    client_secret: str = "sandbox-client-secret"
    subscriptions: list[Subscription] = Field(default_factory=_default_subscriptions)
    retry_delays_s: list[float] = Field(default_factory=lambda: list(HUBSPOT_RETRY_DELAYS_S))
    timeout_s: float = 5.0
    batch_window_ms: int = 50
    max_batch: int = Field(100, ge=1, le=100)
    max_concurrent: int = Field(10, ge=1)
    api_change_source: str = "INTEGRATION"


#: When the default owners were "created": a fixed instant, so their JSON never changes.
DEFAULT_OWNER_CREATED_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


class SandboxOwner(BaseModel):
    """One owner of the portal (a HubSpot user or queue), as `GET /crm/v3/owners` lists it.

    Its `id` is what `hubspot_owner_id` takes; `user_id` is the user's id, a different number
    that HubSpot refuses as an owner (the owners guide warns about mixing them up).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[1-9][0-9]*$")
    email: str | None = None
    first_name: str = ""
    last_name: str = ""
    user_id: int | None = None
    type: Literal["PERSON", "QUEUE"] = "PERSON"
    archived: bool = False
    created_ms: int = DEFAULT_OWNER_CREATED_MS
    updated_ms: int | None = None


def _default_owners() -> list[SandboxOwner]:
    """The portal's own sales team, with stable ids.

    Deliberately *not* the sample ERP's `crm_owner` e-mails (alice@, bob@, carol@example.com): a
    sandbox whose owners are the sample's agrees with it by construction and hides every owner
    the product cannot resolve. One of them is a deactivated user, as real portals have: its
    owner is archived, keeps its id, and is no longer a `hubspot_owner_id` option.
    """
    return [
        SandboxOwner(id="82000101", email="jordan.blake@northwind-trading.test",
                     first_name="Jordan", last_name="Blake", user_id=5300101),
        SandboxOwner(id="82000102", email="priya.nair@northwind-trading.test",
                     first_name="Priya", last_name="Nair", user_id=5300102),
        SandboxOwner(id="82000103", email="tomas.weber@northwind-trading.test",
                     first_name="Tomas", last_name="Weber", user_id=5300103),
        SandboxOwner(id="82000104", email="sam.okafor@northwind-trading.test",
                     first_name="Sam", last_name="Okafor", user_id=5300104, archived=True),
    ]  # fmt: skip


class SandboxOptions(BaseModel):
    """Construction options; the names in `RUNTIME_SWITCHES` may also change while running."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Auth and identity.
    access_tokens: list[str] = Field(default_factory=lambda: ["sandbox-token"])
    require_auth: bool = True
    oauth_client_id: str = "sandbox-client-id"
    oauth_client_secret: str = "sandbox-client-secret"
    oauth_refresh_tokens: list[str] = Field(default_factory=lambda: ["sandbox-refresh-token"])
    access_token_ttl_s: int = 1800
    portal_id: int = 12345678
    app_id: int = 1000001
    # Paths (v3 and the dated 2026-03 form are both served by default).
    object_prefixes: list[str] = Field(default_factory=lambda: list(OBJECT_PREFIXES))
    association_prefixes: list[str] = Field(default_factory=lambda: list(ASSOCIATION_PREFIXES))
    association_record_prefixes: list[str] = Field(
        default_factory=lambda: list(ASSOCIATION_RECORD_PREFIXES)
    )
    property_prefixes: list[str] = Field(default_factory=lambda: list(PROPERTY_PREFIXES))
    owner_prefixes: list[str] = Field(default_factory=lambda: list(OWNER_PREFIXES))
    # The portal's owners: the allowed values of every `hubspot_owner_id` (a runtime switch).
    owners: list[SandboxOwner] = Field(default_factory=_default_owners)
    # Runtime switches.
    latency_ms: float = Field(0.0, ge=0)
    limits_enabled: bool = True
    burst_max: int = Field(190, ge=1)
    burst_interval_ms: int = Field(10_000, ge=1)
    search_per_second: int = Field(5, ge=1)
    daily_limit: int = Field(625_000, ge=1)
    retry_after_on_429: bool = False
    rate_limit_body: Literal["errorType", "category", "both"] = "both"
    faults: FaultRates = Field(default_factory=FaultRates)
    # Where faults may strike: requests whose path contains one of these (e.g.
    # "/line_items/batch/create"); empty means every API request.
    fault_paths: list[str] = Field(default_factory=list)
    seed: int = 0
    stall_seconds: float = Field(30.0, ge=0)
    migrating_retry_after_s: int = Field(30, ge=0)
    search_index_delay_ms: int = Field(0, ge=0)
    date_values: Literal["iso", "epoch_ms"] = "iso"
    enforce_required: bool = True
    # Store values as a portal normalises them (`values.py`): on, as in HubSpot.
    normalize_values: bool = True
    # Refuse a batch read without `propertiesWithHistory` (required in HubSpot's API description).
    require_properties_with_history: bool = True
    webhooks: WebhookOptions = Field(default_factory=WebhookOptions)

    @model_validator(mode="after")
    def _distinct_owners(self) -> SandboxOptions:
        ids = [owner.id for owner in self.owners]
        if len(ids) != len(set(ids)):
            raise ValueError("owner ids must be distinct")
        # A HubSpot user's e-mail is unique among the active users.
        emails = [o.email.casefold() for o in self.owners if o.email and not o.archived]
        if len(emails) != len(set(emails)):
            raise ValueError("active owners must have distinct e-mails")
        return self


RUNTIME_SWITCHES = frozenset(
    {
        "latency_ms",
        "limits_enabled",
        "burst_max",
        "burst_interval_ms",
        "search_per_second",
        "daily_limit",
        "retry_after_on_429",
        "rate_limit_body",
        "faults",
        "fault_paths",
        "seed",
        "stall_seconds",
        "migrating_retry_after_s",
        "search_index_delay_ms",
        "date_values",
        "enforce_required",
        "normalize_values",
        "require_properties_with_history",
        "webhooks",
        "owners",
        "access_tokens",
        "require_auth",
        "access_token_ttl_s",
    }
)
