"""Settings of one HTTP connection to a remote system, as written in config.yaml.

An adapter embeds `HttpSettings` in its own `settings:` block, so every adapter is tuned with the
same keys: base URL, timeouts, connection pool size, proxy, retry budget and rate limits.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector import __version__

PRODUCT = "erp-crm-connector"


def default_user_agent() -> str:
    """`erp-crm-connector/<version>`: lets the remote side tell our traffic apart."""
    return f"{PRODUCT}/{__version__}"


class Timeouts(BaseModel):
    """Seconds allowed for each phase of a request; none is ever unbounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=30.0, gt=0)
    write: float = Field(default=30.0, gt=0)
    pool: float = Field(default=10.0, gt=0)


class RateLimit(BaseModel):
    """At most `requests` request starts in any window of `per_seconds` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)

    def __init__(self, requests: int, per_seconds: float) -> None:
        # Positional construction reads like the documentation: RateLimit(100, 10).
        super().__init__(requests=requests, per_seconds=per_seconds)


class HttpSettings(BaseModel):
    """How to reach one remote API and how hard to try."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    timeout: Timeouts = Timeouts()
    max_connections: int = Field(default=10, ge=1, le=1000)
    proxy: str | None = None
    max_attempts: int = Field(default=5, ge=1, le=50)
    max_elapsed_seconds: float = Field(default=60.0, gt=0)
    backoff_base_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=30.0, gt=0)
    user_agent: str = Field(default_factory=default_user_agent)
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// or http://")
        if "?" in value or "#" in value:
            raise ValueError("base_url must not carry a query string or fragment")
        return value.rstrip("/")
