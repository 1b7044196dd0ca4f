"""Rate limits: the rolling 10-second burst window per app, search's own per-second limit, and
the daily allowance, with HubSpot's 429 bodies and `X-HubSpot-RateLimit-*` headers.

hubspot.md §5: burst 190/10 s for private apps; search 5/s per account and exempt from the burst
window (its responses carry no rate-limit headers); v4 association batch endpoints are exempt
from the burst window too; daily headers are not sent on OAuth-authenticated calls. Only
accepted requests use up allowance.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from .errors import JsonDict, correlation_id
from .settings import SandboxOptions

DAY_MS = 86_400_000
SEARCH_WINDOW_MS = 1_000


class Bucket(Enum):
    BURST = "burst"  # ordinary CRM calls
    SEARCH = "search"  # the search endpoints
    EXEMPT = "exempt"  # v4 association batches: daily allowance only


@dataclass
class Decision:
    allowed: bool
    policy: str | None = None  # TEN_SECONDLY_ROLLING | SECONDLY | DAILY when refused
    headers: dict[str, str] = field(default_factory=dict)
    retry_after_s: int | None = None


class RateLimiter:
    """Counts accepted requests in sliding windows; all times from the injected clock."""

    def __init__(self) -> None:
        self._burst: deque[int] = deque()
        self._search: deque[int] = deque()
        self._day = -1
        self._daily_used = 0

    def reset(self) -> None:
        self._burst.clear()
        self._search.clear()
        self._day = -1
        self._daily_used = 0

    def admit(self, bucket: Bucket, now_ms: int, options: SandboxOptions, oauth: bool) -> Decision:
        window = options.burst_interval_ms
        _trim(self._burst, now_ms - window)
        _trim(self._search, now_ms - SEARCH_WINDOW_MS)
        if now_ms // DAY_MS != self._day:
            self._day, self._daily_used = now_ms // DAY_MS, 0
        enforce = options.limits_enabled
        refused: str | None = None
        retry_ms = 0
        if enforce and self._daily_used >= options.daily_limit:
            refused, retry_ms = "DAILY", DAY_MS - now_ms % DAY_MS
        elif enforce and bucket is Bucket.BURST and len(self._burst) >= options.burst_max:
            refused, retry_ms = "TEN_SECONDLY_ROLLING", self._burst[0] + window - now_ms
        elif enforce and bucket is Bucket.SEARCH and len(self._search) >= options.search_per_second:
            refused, retry_ms = "SECONDLY", self._search[0] + SEARCH_WINDOW_MS - now_ms
        if refused is None:
            self._daily_used += 1
            if bucket is Bucket.BURST:
                self._burst.append(now_ms)
            elif bucket is Bucket.SEARCH:
                self._search.append(now_ms)
        headers = {} if bucket is Bucket.SEARCH else self._headers(options, oauth)
        retry_after = max(1, -(-retry_ms // 1000)) if refused else None
        return Decision(refused is None, refused, headers, retry_after)

    def _headers(self, options: SandboxOptions, oauth: bool) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(options.burst_interval_ms),
            "X-HubSpot-RateLimit-Max": str(options.burst_max),
            "X-HubSpot-RateLimit-Remaining": str(max(0, options.burst_max - len(self._burst))),
        }
        if not oauth:
            headers["X-HubSpot-RateLimit-Daily"] = str(options.daily_limit)
            remaining = max(0, options.daily_limit - self._daily_used)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
        return headers


def _trim(window: deque[int], older_than_ms: int) -> None:
    while window and window[0] <= older_than_ms:
        window.popleft()


_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def rate_limit_body(policy: str, options: SandboxOptions) -> JsonDict:
    """The documented 429 body (§5.3); `rate_limit_body` picks errorType, category or both."""
    body: JsonDict = {"status": "error", "message": _MESSAGES[policy]}
    if options.rate_limit_body in ("errorType", "both"):
        body["errorType"] = "RATE_LIMIT"
    if options.rate_limit_body in ("category", "both"):
        body["category"] = "RATE_LIMITS"
    body["correlationId"] = correlation_id()
    body["policyName"] = policy
    if policy == "TEN_SECONDLY_ROLLING":
        body["groupName"] = (
            f"publicapi:private_app-api-calls-ten-secondly:{options.app_id}:{options.portal_id}"
        )
    body["requestId"] = str(uuid.uuid4())
    return body
