"""HubSpot's statuses and error categories → what to do: the adapter's one error table.

`HUBSPOT_POLICY` is the shared `ErrorPolicy` with the rows HubSpot documents, and
`parse_hubspot_error` reads the body fields the rows match on. Facts from hubspot.md §5.3-§5.4
and §6 (error-handling docs):

* 429 names the limit in `policyName`: `TEN_SECONDLY_ROLLING` (the burst limit), `DAILY` (stop
  until the reset at midnight in the account's time zone), legacy `SECONDLY` (search, sometimes
  sent with no `policyName` at all and only the message "You have reached your secondly
  limit."). Bodies may carry `category: RATE_LIMITS` and/or `errorType: RATE_LIMIT`; both are
  parsed. HubSpot documents no `Retry-After` on REST 429s; one that comes is honoured.

  Both short limits are *rolling* windows: a full window frees a slot each time its oldest
  request ages out, about every window/limit seconds at steady state (10 s / 100 = 0.1 s on
  Free/Starter, less on higher tiers; search 1 s / 5 = 0.2 s). So a 429 waits that long first
  and doubles the wait only while the same request keeps being refused, up to one whole window
  (after which every request the window held has aged out). Waiting the whole window for every
  429, as the Node SDK does (10 s times the attempt number), made an isolated 429 cost ~10 s.
  A 429 with HubSpot's quota headers (remaining 0) also fills the limiter, so the requests
  queued behind it wait for a slot too; one without them (an outside fault) slows only itself.
* 423 Locked follows heavy upserting; the lock lasts 2 s, so wait at least that.
* 477 Migration in Progress carries `Retry-After` in seconds.
* 502/503/504/521/523/524 (524: no answer within 100 s) and other 5xx are transient.
* 400 `VALIDATION_ERROR` and 409 `CONFLICT` concern the records sent: record-level failures that
  carry HubSpot's message and category.
* 401 → refresh the token once; 403 `MISSING_SCOPES` → nothing works until scopes are added.
  The scopes are named only in `context.requiredGranularScopes` (top level or per entry of
  `errors`), not in the message, so the parsed message gets them appended.

Every body field "should be treated as optional", so parsing never fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from connector.errors import RecordError
from connector.http.policy import DEFAULT_POLICY, ApiError, ErrorPolicy, Resolution, Rule

#: HubSpot messages are shown to people and stored in `failures`; keep them bounded.
MAX_MESSAGE_CHARS = 1000

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"

HUBSPOT_POLICY: ErrorPolicy = DEFAULT_POLICY.override(
    {
        (429, TEN_SECONDLY): Rule(
            Resolution.WAIT, 0.1, "HubSpot burst (ten-secondly) limit", wait_cap_seconds=10.0
        ),
        (429, SECONDLY): Rule(
            Resolution.WAIT, 0.2, "HubSpot search per-second limit", wait_cap_seconds=1.0
        ),
        (429, DAILY): Rule(
            Resolution.QUOTA,
            reason="HubSpot daily API limit reached; the route stops until the daily reset "
            "(midnight in the account's time zone)",
        ),
        429: Rule(Resolution.WAIT, 1.0, "HubSpot rate limit", wait_cap_seconds=10.0),
        423: Rule(Resolution.WAIT, 2.0, "HubSpot locked the records after heavy upserting"),
        477: Rule(Resolution.WAIT, 60.0, "HubSpot portal is migrating between data centres"),
        (400, "VALIDATION_ERROR"): Rule(Resolution.RECORD, reason="HubSpot validation error"),
        409: Rule(Resolution.RECORD, reason="HubSpot conflict (duplicate unique value)"),
        401: Rule(Resolution.REFRESH_AUTH, reason="HubSpot refused the access token"),
        403: Rule(Resolution.FATAL, reason="HubSpot refused access; check the app's scopes"),
        404: Rule(Resolution.RECORD, reason="HubSpot object not found"),
        414: Rule(Resolution.FATAL, reason="URI too long: too many properties requested"),
        **{
            status: Rule(Resolution.RETRY, reason="HubSpot transient server error")
            for status in (500, 502, 503, 504, 520, 521, 522, 523, 524)
        },
    }
)


def _clip(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_MESSAGE_CHARS]


def parse_error_content(status: int, content: bytes) -> ApiError:
    """The fields of a HubSpot error body the policy matches on (every one optional)."""
    try:
        body: Any = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, Mapping):
        text = content.decode("utf-8", "replace").strip() if content else ""
        return ApiError(message=text[:MAX_MESSAGE_CHARS])
    message = _clip(body.get("message")) or ""
    policy = _clip(body.get("policyName"))
    category = _clip(body.get("category")) or _clip(body.get("errorType"))
    code = None
    details = body.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        code = _clip(details[0].get("code"))
    scopes = _required_scopes(body)
    if scopes:
        message = f"{message} (missing scope; one of these is required: {', '.join(scopes)})"
    if status == 429 and policy is None and "secondly limit" in message.lower():
        # Search reports its per-second limit this way, often without a policyName.
        policy = SECONDLY
    # `X-HubSpot-RateLimit-Interval-Milliseconds` is the window's length, not a wait: the quota
    # headers of the 429 go to the limiter (client.py), which then knows when a slot is free.
    return ApiError(
        code=code,
        category=category,
        message=message,
        policy_name=policy.upper() if policy else None,
    )


def _required_scopes(body: Mapping[str, Any]) -> list[str]:
    """The scopes a 403 `MISSING_SCOPES` body says the call needs, in order, once each."""
    contexts = [body.get("context")]
    details = body.get("errors")
    if isinstance(details, list):
        contexts += [d.get("context") for d in details if isinstance(d, Mapping)]
    found: list[str] = []
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        for key in ("requiredGranularScopes", "requiredScopes"):
            values = context.get(key)
            for value in values if isinstance(values, list) else []:
                if str(value) not in found:
                    found.append(str(value))
    return found


def parse_hubspot_error(response: httpx.Response) -> ApiError:
    """The `error_parser` hook of the shared client."""
    return parse_error_content(response.status_code, response.content)


def decide(response: httpx.Response) -> Rule:
    """The rule for one response (what the shared client will do with it)."""
    return HUBSPOT_POLICY.decide(response.status_code, parse_hubspot_error(response))


def batch_error_message(entry: Mapping[str, Any]) -> str:
    """The readable message of one entry of a batch response's `errors` array."""
    message = str(entry.get("message") or entry.get("category") or "error")
    details = entry.get("errors")
    if isinstance(details, list):
        extra = [
            str(d.get("message")) for d in details if isinstance(d, Mapping) and d.get("message")
        ]
        if extra and not all(e in message for e in extra):
            message = f"{message} ({'; '.join(extra)})"
    return message[:MAX_MESSAGE_CHARS]


def batch_item_error(entry: Mapping[str, Any]) -> RecordError:
    """A record-level error from one entry of a 207's `errors` (HubSpot's message and category)."""
    category = _clip(entry.get("category")) or "ERROR"
    return RecordError(batch_error_message(entry), code=category)
