"""The shared HTTP layer: every adapter's calls go through `ApiClient`. It names no remote system.

Public API (import from `connector.http`):

* `HttpSettings` — pydantic model for an adapter's `settings:` block: `base_url`, `timeout`
  (`Timeouts`: connect/read/write/pool seconds), `max_connections`, `proxy` (environment proxy
  variables are honoured only when set), `max_attempts` (5), `max_elapsed_seconds` (60),
  `backoff_base_seconds`, `backoff_max_seconds`, `user_agent`, `rate_limits`
  (`{endpoint_class: RateLimit}`, overriding the adapter's defaults).
* `ApiClient(settings, *, name, policy=DEFAULT_POLICY, auth=None, limits=None,
  error_parser=None, quota_parser=None, account=None, clock=..., sleep=..., transport=...)` —
  `await client.request(method, path, *, json, params, headers, endpoint_class="default",
  idempotent=None) -> httpx.Response` returns successful responses only (2xx, 207 included)
  and raises typed errors otherwise; `aclose()`; `async with`.
* Errors raised (all from `connector.errors`' hierarchy): `HttpRecordError` (a `RecordError`
  with `status`, `code`, `category`, `api_message`), `QuotaExhaustedError` (`resets_in`),
  `HttpConfigurationError` (a `ConfigurationError`), `RetriesExhaustedError` (a
  `TransientError` naming method, path and attempts), `TransportError`/`ServerError`
  (transient; seen only when a request may not be repeated), `RateLimitedError` (when a
  non-repeatable wait is not possible).
* `ErrorPolicy`, `Rule`, `Resolution`, `DEFAULT_POLICY`, `ApiError`, `parse_json_error` —
  the status/(status, code) → `Rule(resolution, wait_hint_seconds, reason)` table;
  `DEFAULT_POLICY.override({429: ..., (429, "DAILY"): Rule(Resolution.QUOTA)})`.
  `error_parser(response) -> ApiError(code, category, message, policy_name, retry_after)`.
* `TokenProvider` (protocol: `token()`, `refresh(stale)`, `invalidate()`), `StaticToken`,
  `OAuthRefreshTokenProvider`.
* `RateLimit`, `RateLimiter`, `LimiterRegistry`, `QuotaHint`, `remaining_header_parser`,
  `usage_ratio_parser` — client-side limits per (system, account, endpoint class), slowed by
  remaining-quota headers.
* `HttpMetrics`, `METRICS`, `render_prometheus` — counters and latency for `/metrics`.
* `parse_retry_after`, `is_idempotent` — pure helpers, exposed for adapters and tests.
* `side_client(transport, base_url=)` — the plain `httpx.AsyncClient` for an adapter's calls
  outside `ApiClient` (token endpoints, a probe's read): no redirects, nothing from the env.
"""

from connector.http.auth import OAuthRefreshTokenProvider, StaticToken, TokenProvider
from connector.http.client import ApiClient, build_async_client, side_client
from connector.http.errors import (
    HttpConfigurationError,
    HttpRecordError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
)
from connector.http.policy import (
    DEFAULT_POLICY,
    ApiError,
    ErrorParser,
    ErrorPolicy,
    Resolution,
    Rule,
    parse_json_error,
)
from connector.http.ratelimit import (
    DEFAULT_REGISTRY,
    LimiterRegistry,
    QuotaHint,
    QuotaParser,
    RateLimiter,
    remaining_header_parser,
    usage_ratio_parser,
)
from connector.http.retry import is_idempotent, parse_retry_after
from connector.http.settings import HttpSettings, RateLimit, Timeouts
from connector.http.telemetry import METRICS, HttpMetrics, render_prometheus

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_REGISTRY",
    "METRICS",
    "ApiClient",
    "ApiError",
    "ErrorParser",
    "ErrorPolicy",
    "HttpConfigurationError",
    "HttpMetrics",
    "HttpRecordError",
    "HttpSettings",
    "LimiterRegistry",
    "OAuthRefreshTokenProvider",
    "QuotaHint",
    "QuotaParser",
    "RateLimit",
    "RateLimiter",
    "Resolution",
    "RetriesExhaustedError",
    "Rule",
    "ServerError",
    "StaticToken",
    "Timeouts",
    "TokenProvider",
    "TransportError",
    "build_async_client",
    "is_idempotent",
    "parse_json_error",
    "parse_retry_after",
    "remaining_header_parser",
    "render_prometheus",
    "side_client",
    "usage_ratio_parser",
]
