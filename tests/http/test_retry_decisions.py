"""Pure decision functions: Retry-After, idempotency, backoff, the policy table."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from connector.http import (
    DEFAULT_POLICY,
    ApiError,
    Resolution,
    Rule,
    is_idempotent,
    parse_json_error,
    parse_retry_after,
)
from connector.http.retry import doubling_wait, full_jitter_backoff, told_wait

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),  # IMF-fixdate (RFC 9110 §5.6.7)
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Sun Mar  1 12:00:05 2026", 5.0),  # obsolete asctime form, no zone: GMT
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: go now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_both_forms(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("method", "declared", "expected"),
    [
        ("GET", None, True),
        ("put", None, True),
        ("DELETE", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("POST", True, True),
        ("GET", False, False),
    ],
)
def test_idempotency(method: str, declared: bool | None, expected: bool) -> None:
    assert is_idempotent(method, declared) is expected


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    ceilings: list[float] = []

    def top(low: float, high: float) -> float:
        ceilings.append(high)
        return high

    for retry in range(1, 9):
        full_jitter_backoff(retry, base=0.5, cap=30.0, uniform=top)
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert full_jitter_backoff(3, 0.5, 30.0, lambda low, high: low) == 0.0


def test_doubling_wait_starts_small_and_never_passes_the_window() -> None:
    top = [doubling_wait(n, 0.1, 10.0, lambda low, high: high) for n in range(1, 10)]
    bottom = [doubling_wait(n, 0.1, 10.0, lambda low, high: low) for n in range(1, 10)]
    assert top == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])
    assert bottom == pytest.approx([t / 2 for t in top])  # equal jitter: never below half


def test_a_told_wait_gets_at_most_a_tenth_of_itself_on_top() -> None:
    assert told_wait(2.0, lambda low, high: high) == pytest.approx(2.2)
    assert told_wait(60.0, lambda low, high: high) == pytest.approx(61.0)  # capped at 1 s
    assert told_wait(0.0, lambda low, high: high) == 0.0


def test_default_policy_by_status_and_class() -> None:
    assert DEFAULT_POLICY.decide(200).resolution is Resolution.OK
    assert DEFAULT_POLICY.decide(207).resolution is Resolution.OK
    assert DEFAULT_POLICY.decide(429).resolution is Resolution.WAIT
    assert DEFAULT_POLICY.decide(401).resolution is Resolution.REFRESH_AUTH
    assert DEFAULT_POLICY.decide(403).resolution is Resolution.FATAL
    assert DEFAULT_POLICY.decide(409).resolution is Resolution.RECORD
    assert DEFAULT_POLICY.decide(418).resolution is Resolution.RECORD  # unknown 4xx
    assert DEFAULT_POLICY.decide(599).resolution is Resolution.RETRY  # unknown 5xx
    assert DEFAULT_POLICY.decide(301).resolution is Resolution.FATAL


def test_override_matches_codes_and_leaves_the_original_alone() -> None:
    policy = DEFAULT_POLICY.override(
        {
            (403, "REQUEST_LIMIT_EXCEEDED"): Rule(Resolution.QUOTA, reason="allocation spent"),
            (400, "UNABLE_TO_LOCK_ROW"): Rule(Resolution.RETRY, wait_hint_seconds=2),
            423: Rule(Resolution.WAIT, wait_hint_seconds=2),
        }
    )
    quota = policy.decide(403, ApiError(code="REQUEST_LIMIT_EXCEEDED"))
    assert quota.resolution is Resolution.QUOTA
    assert policy.decide(403, ApiError(code="INSUFFICIENT_ACCESS")).resolution is Resolution.FATAL
    assert policy.decide(400, ApiError(code="UNABLE_TO_LOCK_ROW")).wait_hint_seconds == 2
    assert policy.decide(423).resolution is Resolution.WAIT
    assert DEFAULT_POLICY.decide(423).resolution is Resolution.RETRY
    assert DEFAULT_POLICY.decide(403, ApiError(code="REQUEST_LIMIT_EXCEEDED")).resolution is (
        Resolution.FATAL
    )


def test_policy_name_outranks_category() -> None:
    policy = DEFAULT_POLICY.override(
        {
            (429, "RATE_LIMITS"): Rule(Resolution.WAIT, wait_hint_seconds=1),
            (429, "DAILY"): Rule(Resolution.QUOTA),
        }
    )
    error = ApiError(category="RATE_LIMITS", policy_name="DAILY")
    assert policy.decide(429, error).resolution is Resolution.QUOTA


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"message": "bad", "category": "VALIDATION_ERROR"}',
            ApiError(category="VALIDATION_ERROR", message="bad"),
        ),
        (
            b'[{"message": "Session expired", "errorCode": "INVALID_SESSION_ID"}]',
            ApiError(code="INVALID_SESSION_ID", message="Session expired"),
        ),
        (b"<html>oops</html>", ApiError()),
        (b"", ApiError()),
        (b'"just a string"', ApiError()),
    ],
)
def test_default_error_parser(body: bytes, expected: ApiError) -> None:
    assert parse_json_error(httpx.Response(400, content=body)) == expected
