"""Salesforce's statuses and error codes → what to do: the adapter's one error table.

Facts from salesforce.md §4: top-level errors are a JSON array of `{message, errorCode,
fields?}`; per-record results (Collections, Bulk) carry `{statusCode, message, fields}`.

* 401 `INVALID_SESSION_ID` → a new token once, the request repeated once;
* 403 `REQUEST_LIMIT_EXCEEDED` for the daily allocation → the route stops until usage falls;
  the same code for too many concurrent long requests → wait and repeat;
* 400 `UNABLE_TO_LOCK_ROW`, 500/502/503/504 → back off and repeat;
* 400 `INVALID_FIELD`, `INVALID_TYPE`, `MALFORMED_QUERY`, 404 `NOT_FOUND` → configuration:
  stop, naming the field;
* 400 `JSON_PARSER_ERROR` and other 400s, 300 (an external id matched several records) →
  record-level (a Collections batch refused whole is bisected);
* per record `UNABLE_TO_LOCK_ROW` → re-sent (`limits.lock_retries`), then a retryable failure;
* per record anything else (`DUPLICATE_VALUE`, `REQUIRED_FIELD_MISSING`,
  `FIELD_CUSTOM_VALIDATION_EXCEPTION`, `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`,
  `ENTITY_IS_DELETED`, …) → a record-level failure with Salesforce's message and fields.

Salesforce sends no Retry-After (§4.2); the daily allocation is a rolling 24 hours, so a spent
one is re-tried after an hour (`QUOTA_PAUSE_SECONDS`), not hammered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from connector.errors import RecordError
from connector.http.policy import DEFAULT_POLICY, ApiError, ErrorPolicy, Resolution, Rule

MAX_MESSAGE_CHARS = 1000
QUOTA_PAUSE_SECONDS = 3600.0
CONCURRENT_LIMIT = "CONCURRENT_REQUEST_LIMIT"
LOCKED = "UNABLE_TO_LOCK_ROW"
ROLLED_BACK = frozenset({"ALL_OR_NONE_OPERATION_ROLLED_BACK", "PROCESSING_HALTED"})

_CONFIG = "Salesforce refused the request's shape; fix the mapping or the org (names the field)"

SALESFORCE_POLICY: ErrorPolicy = DEFAULT_POLICY.override(
    {
        300: Rule(Resolution.RECORD, reason="external id matched several records"),
        (400, LOCKED): Rule(Resolution.RETRY, 1.0, "row locked by another transaction"),
        (400, "INVALID_FIELD"): Rule(Resolution.FATAL, reason=_CONFIG),
        (400, "INVALID_TYPE"): Rule(Resolution.FATAL, reason=_CONFIG),
        (400, "MALFORMED_QUERY"): Rule(Resolution.FATAL, reason="query refused (a bug)"),
        (400, "INVALID_QUERY_LOCATOR"): Rule(Resolution.FATAL, reason="query locator expired"),
        400: Rule(Resolution.RECORD, reason="Salesforce refused the record"),
        401: Rule(Resolution.REFRESH_AUTH, reason="Salesforce session expired or invalid"),
        (403, "REQUEST_LIMIT_EXCEEDED"): Rule(
            Resolution.QUOTA,
            QUOTA_PAUSE_SECONDS,
            "Salesforce daily API allocation used up; the route stops until usage falls",
        ),
        (403, CONCURRENT_LIMIT): Rule(
            Resolution.WAIT, 5.0, "too many concurrent long-running requests in the org"
        ),
        403: Rule(Resolution.FATAL, reason="Salesforce refused: check the user's permissions"),
        (404, "NOT_FOUND"): Rule(
            Resolution.FATAL,
            reason="resource not found: check the API version and that the external-id field "
            "exists and is marked External ID",
        ),
        429: Rule(Resolution.WAIT, 10.0, "rate limited"),
        **{
            status: Rule(Resolution.RETRY, reason="Salesforce unavailable")
            for status in (500, 502, 503, 504)
        },
    }
)


def _clip(value: Any) -> str:
    return str(value)[:MAX_MESSAGE_CHARS] if value is not None else ""


def parse_salesforce_error(response: httpx.Response) -> ApiError:
    """The first entry of Salesforce's error array (or an OAuth-style object)."""
    try:
        body: Any = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        entry: Mapping[str, Any] = body[0]
    elif isinstance(body, Mapping):
        entry = body
    else:
        if response.status_code == 300 and isinstance(body, list):
            return ApiError(code="MULTIPLE_CHOICES", message=_matches(body))
        return ApiError(message=response.text[:MAX_MESSAGE_CHARS] if response.content else "")
    code = _clip(entry.get("errorCode") or entry.get("statusCode") or entry.get("error")) or None
    message = _clip(entry.get("message") or entry.get("error_description"))
    fields = entry.get("fields")
    if isinstance(fields, list) and fields:
        message = f"{message} (fields: {', '.join(map(str, fields))})"
    policy = None
    if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" in message.lower():
        policy = CONCURRENT_LIMIT
    return ApiError(code=code, message=message, policy_name=policy)


def _matches(body: Sequence[Any]) -> str:
    return "external id matched several records: " + ", ".join(map(str, body[:5]))


def record_error(errors: Sequence[Mapping[str, Any]]) -> RecordError:
    """A record-level error from one result's `errors`, the real cause first (a rolled-back
    neighbour's `ALL_OR_NONE_OPERATION_ROLLED_BACK` is not a cause)."""
    real = [e for e in errors if e.get("statusCode") not in ROLLED_BACK] or list(errors)
    if not real:
        return RecordError("Salesforce refused the record without saying why", code="UNKNOWN")
    first = real[0]
    code = _clip(first.get("statusCode")) or "UNKNOWN"
    parts = [f"{_clip(e.get('statusCode'))}: {_clip(e.get('message'))}" for e in real]
    fields = [str(f) for e in real for f in (e.get("fields") or [])]
    message = "; ".join(parts)
    if fields:
        message += f" (fields: {', '.join(dict.fromkeys(fields))})"
    return RecordError(message[:MAX_MESSAGE_CHARS], code=code, retryable=code == LOCKED)
