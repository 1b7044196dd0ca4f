"""The error policy: a data table from an HTTP outcome to what the client does next.

A response is classified by its status and, where the body says more, by the API's own error
code, policy or category (an `ApiError` produced by the adapter's `error_parser`). The table maps
`status` or `(status, code)` to a `Rule`; adapters start from `DEFAULT_POLICY` and `override` the
entries their API documents, so body-based decisions are rows in a table, not code.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import httpx


class Resolution(enum.Enum):
    """What the client does with an outcome."""

    OK = "ok"  # hand the response to the caller (207 Multi-Status included)
    RETRY = "retry"  # transient: back off and repeat, if the request is safe to repeat
    WAIT = "wait"  # rate limited: wait as told (Retry-After or the rule's hint), then repeat
    REFRESH_AUTH = "refresh_auth"  # refresh the token once, then repeat once
    RECORD = "record"  # this record is bad: raise a RecordError, the batch goes on
    QUOTA = "quota"  # a daily/rolling allocation is spent: stop the route until the reset
    FATAL = "fatal"  # configuration or credentials: raise ConfigurationError


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table. `wait_hint_seconds` is used when the server sends no Retry-After.

    With `wait_cap_seconds` set (a rolling rate window), `wait_hint_seconds` is only the first
    wait: each further refusal of the same request doubles it, up to the cap.
    """

    resolution: Resolution
    wait_hint_seconds: float | None = None
    reason: str = ""
    wait_cap_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ApiError:
    """What an error body says, in the API's own words. Never holds request data or headers.

    `policy_name`, `code` and `category` are the keys a policy entry `(status, key)` may match,
    tried in that order; `retry_after` is a wait, in seconds, that the body or a non-standard
    header asked for.
    """

    code: str | None = None
    category: str | None = None
    message: str = ""
    policy_name: str | None = None
    retry_after: float | None = None

    def match_keys(self) -> Iterator[str]:
        """The identifiers a table entry `(status, key)` can match, most specific first."""
        for key in (self.policy_name, self.code, self.category):
            if key:
                yield key


ErrorParser = Callable[[httpx.Response], ApiError]
PolicyKey = int | tuple[int, str]

_MESSAGE_FIELDS = ("message", "error_description", "detail", "title", "error")
_CODE_FIELDS = ("errorCode", "code", "error")
_CATEGORY_FIELDS = ("category", "errorType", "type")


def _first_text(body: Mapping[str, object], fields: tuple[str, ...]) -> str | None:
    for field in fields:
        value = body.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def parse_json_error(response: httpx.Response) -> ApiError:
    """A best-effort reading of common JSON error shapes: an object, or a list of objects."""
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return ApiError()
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return ApiError()
    return ApiError(
        code=_first_text(body, _CODE_FIELDS),
        category=_first_text(body, _CATEGORY_FIELDS),
        message=_first_text(body, _MESSAGE_FIELDS) or "",
    )


def _by_status_class(status: int) -> Rule:
    if 200 <= status < 300:
        return Rule(Resolution.OK)
    if 300 <= status < 400:
        # Redirects are never followed (a redirect could carry the token elsewhere).
        return Rule(Resolution.FATAL, reason="unexpected redirect; check base_url")
    if 400 <= status < 500:
        return Rule(Resolution.RECORD, reason="request rejected")
    return Rule(Resolution.RETRY, reason="server error")


class ErrorPolicy:
    """An immutable status (and error code) → `Rule` table with class-wide fallbacks."""

    def __init__(self, table: Mapping[PolicyKey, Rule]) -> None:
        self._table: dict[PolicyKey, Rule] = dict(table)
        self._statuses_with_codes = frozenset(key[0] for key in table if isinstance(key, tuple))

    def override(self, entries: Mapping[PolicyKey, Rule]) -> ErrorPolicy:
        """A new policy with `entries` replacing or adding rows; this one is unchanged."""
        return ErrorPolicy({**self._table, **entries})

    def decide(self, status: int, error: ApiError | None = None) -> Rule:
        """The rule for an outcome: `(status, key)` first, then `status`, then its class."""
        if error is not None:
            for key in error.match_keys():
                rule = self._table.get((status, key))
                if rule is not None:
                    return rule
        rule = self._table.get(status)
        return rule if rule is not None else _by_status_class(status)

    def needs_body(self, status: int) -> bool:
        """Whether the body can change the decision (skips parsing on the happy path)."""
        return status in self._statuses_with_codes or not 200 <= status < 300

    def entries(self) -> Mapping[PolicyKey, Rule]:
        return dict(self._table)


# Generic semantics of HTTP (RFC 9110 §15; 429 from RFC 6585 §4). Adapters override per API.
DEFAULT_POLICY = ErrorPolicy(
    {
        207: Rule(Resolution.OK, reason="multi-status: the adapter splits per-item results"),
        400: Rule(Resolution.RECORD, reason="bad request"),
        401: Rule(Resolution.REFRESH_AUTH, reason="unauthorized"),
        403: Rule(Resolution.FATAL, reason="forbidden: missing permissions or scopes"),
        404: Rule(Resolution.RECORD, reason="not found"),
        405: Rule(Resolution.FATAL, reason="method not allowed"),
        407: Rule(Resolution.FATAL, reason="proxy authentication required"),
        408: Rule(Resolution.RETRY, reason="request timeout"),
        409: Rule(Resolution.RECORD, reason="conflict"),
        410: Rule(Resolution.FATAL, reason="resource retired"),
        413: Rule(Resolution.RECORD, reason="payload too large"),
        414: Rule(Resolution.FATAL, reason="URI too long"),
        415: Rule(Resolution.FATAL, reason="unsupported media type"),
        422: Rule(Resolution.RECORD, reason="unprocessable"),
        423: Rule(Resolution.RETRY, wait_hint_seconds=2.0, reason="locked"),
        425: Rule(Resolution.RETRY, reason="too early"),
        429: Rule(Resolution.WAIT, reason="rate limited"),
        500: Rule(Resolution.RETRY, reason="server error"),
        501: Rule(Resolution.FATAL, reason="not implemented"),
        502: Rule(Resolution.RETRY, reason="bad gateway"),
        503: Rule(Resolution.RETRY, reason="service unavailable"),
        504: Rule(Resolution.RETRY, reason="gateway timeout"),
    }
)
