"""ApiClient against respx: what is retried, how long it waits, and what it finally raises."""

from __future__ import annotations

import datetime as dt
import logging
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from connector.errors import ConfigurationError, QuotaExhaustedError, RecordError
from connector.http import (
    DEFAULT_POLICY,
    ApiClient,
    ApiError,
    HttpRecordError,
    HttpSettings,
    RateLimit,
    Resolution,
    RetriesExhaustedError,
    Rule,
    TransportError,
)

from .conftest import BASE_URL, FakeClock


def make_client(
    settings: HttpSettings, clock: FakeClock, registry, metrics, **kw: Any
) -> ApiClient:
    return ApiClient(
        settings,
        name="remote",
        clock=clock,
        sleep=clock.sleep,
        now=clock.wall,
        uniform=lambda low, high: high,  # deterministic: the top of every jitter range
        registry=registry,
        metrics=metrics,
        **kw,
    )


@respx.mock
async def test_429_with_retry_after_waits_that_long_then_succeeds(
    settings, clock, registry, metrics
) -> None:
    route = respx.get(f"{BASE_URL}/items").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    async with make_client(settings, clock, registry, metrics) as client:
        response = await client.request("GET", "/items")
    assert response.json() == {"ok": True}
    assert route.call_count == 2
    # 7 s as told, plus a tenth of it as jitter at most (the fake picks the top: 0.7 s).
    assert clock.sleeps == [pytest.approx(7.7)]
    assert metrics.rate_limited["remote"] == 1
    assert dict(metrics.retries) == {("remote", "HTTP 429 rate limited"): 1}


@respx.mock
async def test_503_twice_then_200(settings, clock, registry, metrics) -> None:
    route = respx.get(f"{BASE_URL}/items").mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200, json=[])]
    )
    async with make_client(settings, clock, registry, metrics) as client:
        response = await client.request("GET", "/items")
    assert response.status_code == 200
    assert route.call_count == 3
    # Full jitter ceilings 0.5 * 2**0 and 0.5 * 2**1 (the fake uniform returns the ceiling).
    assert clock.sleeps == [0.5, 1.0]
    assert metrics.retries[("remote", "HTTP 503 service unavailable")] == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("Connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
    ],
    ids=["connection-reset", "server-disconnected", "read-timeout"],
)
@respx.mock
async def test_reset_and_read_timeout_are_retried(
    failure, settings, clock, registry, metrics
) -> None:
    route = respx.get(f"{BASE_URL}/items/1").mock(
        side_effect=[failure, httpx.Response(200, json={"id": "1"})]
    )
    async with make_client(settings, clock, registry, metrics) as client:
        response = await client.request("GET", "/items/1")
    assert response.json() == {"id": "1"}
    assert route.call_count == 2


@respx.mock
async def test_400_is_not_retried_and_carries_the_api_message(
    settings, clock, registry, metrics
) -> None:
    route = respx.post(f"{BASE_URL}/items").mock(
        return_value=httpx.Response(
            400,
            json={"message": 'Property "colour" does not exist', "category": "VALIDATION_ERROR"},
        )
    )
    async with make_client(settings, clock, registry, metrics) as client:
        with pytest.raises(RecordError) as caught:
            await client.request("POST", "/items", json={"colour": "red"}, idempotent=True)
    assert route.call_count == 1
    error = caught.value
    assert isinstance(error, HttpRecordError)
    assert error.status == 400
    assert error.category == "VALIDATION_ERROR"
    assert error.code == "VALIDATION_ERROR"
    assert error.api_message == 'Property "colour" does not exist'
    assert 'Property "colour" does not exist' in str(error)
    assert "red" not in str(error)  # the request body is never quoted
    assert clock.sleeps == []


@respx.mock
async def test_attempts_exhausted_names_method_endpoint_and_count(
    settings, clock, registry, metrics
) -> None:
    respx.get(f"{BASE_URL}/items").mock(return_value=httpx.Response(502))
    async with make_client(settings, clock, registry, metrics) as client:
        with pytest.raises(RetriesExhaustedError) as caught:
            await client.request("GET", "/items", params={"after": "abc"})
    error = caught.value
    assert error.attempts == 5
    assert error.path == "/items"
    assert "GET /items failed after 5 attempts" in str(error)
    assert "after=abc" not in str(error)
    assert "HTTP 502" in str(error)
    assert len(clock.sleeps) == 4


@respx.mock
async def test_deadline_exhausted_stops_before_sleeping_past_it(clock, registry, metrics) -> None:
    settings = HttpSettings(base_url=BASE_URL, max_attempts=50, max_elapsed_seconds=20)
    route = respx.get(f"{BASE_URL}/slow").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "6"})
    )
    async with make_client(settings, clock, registry, metrics) as client:
        with pytest.raises(RetriesExhaustedError) as caught:
            await client.request("GET", "/slow")
    # Waits of 6.6 s each (6 told + 10 % jitter): 0 → 6.6 → 13.2 → 19.8; the next would end
    # at 26.4 s > 20 s, so it stops there.
    assert route.call_count == 4
    assert clock.sleeps == [pytest.approx(6.6)] * 3
    assert "GET /slow failed after 4 attempts" in str(caught.value)


@respx.mock
async def test_non_idempotent_post_is_not_retried_after_a_timeout(
    settings, clock, registry, metrics, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="connector.http")
    route = respx.post(f"{BASE_URL}/items").mock(side_effect=httpx.ReadTimeout("timed out"))
    async with make_client(settings, clock, registry, metrics) as client:
        with pytest.raises(TransportError) as caught:
            await client.request("POST", "/items", json={"name": "x"})
    assert route.call_count == 1
    assert caught.value.sent is True
    assert "POST /items" in str(caught.value)
    assert clock.sleeps == []
    [line] = [r.__dict__["http"] for r in caplog.records if r.name == "connector.http"]
    assert line["outcome"] == "failed_not_idempotent"
    assert line["retry_reason"] == "ReadTimeout"


@respx.mock
async def test_post_declared_idempotent_is_retried_after_a_timeout(
    settings, clock, registry, metrics
) -> None:
    route = respx.post(f"{BASE_URL}/items/upsert").mock(
        side_effect=[httpx.ReadTimeout("timed out"), httpx.Response(200, json={})]
    )
    async with make_client(settings, clock, registry, metrics) as client:
        await client.request("POST", "/items/upsert", json={}, idempotent=True)
    assert route.call_count == 2


@respx.mock
async def test_post_is_retried_when_the_connection_was_never_made(
    settings, clock, registry, metrics
) -> None:
    route = respx.post(f"{BASE_URL}/items").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={})]
    )
    async with make_client(settings, clock, registry, metrics) as client:
        response = await client.request("POST", "/items", json={})
    assert response.status_code == 201
    assert route.call_count == 2


@respx.mock
async def test_body_code_selects_quota_or_wait_from_the_adapter_table(
    settings, clock, registry, metrics
) -> None:
    def parser(response: httpx.Response) -> ApiError:
        body = response.json()
        return ApiError(message=body["message"], policy_name=body.get("policyName"))

    policy = DEFAULT_POLICY.override(
        {
            (429, "DAILY"): Rule(Resolution.QUOTA, wait_hint_seconds=3600, reason="daily limit"),
            (429, "ROLLING"): Rule(Resolution.WAIT, wait_hint_seconds=10, reason="burst"),
        }
    )
    route = respx.get(f"{BASE_URL}/items").mock(
        side_effect=[
            httpx.Response(429, json={"message": "burst", "policyName": "ROLLING"}),
            httpx.Response(200, json={}),
            httpx.Response(429, json={"message": "daily", "policyName": "DAILY"}),
        ]
    )
    async with make_client(
        settings, clock, registry, metrics, policy=policy, error_parser=parser
    ) as client:
        await client.request("GET", "/items")
        assert clock.sleeps == [11.0]
        with pytest.raises(QuotaExhaustedError) as caught:
            await client.request("GET", "/items")
    assert caught.value.resets_in == 3600
    assert route.call_count == 3
    clock.now += 1800
    async with make_client(
        settings, clock, registry, metrics, policy=policy, error_parser=parser
    ) as client:
        with pytest.raises(QuotaExhaustedError) as again:
            await client.request("GET", "/items")
    assert route.call_count == 3  # refused locally until the reset: no call spent
    assert again.value.resets_in == pytest.approx(1800)


@respx.mock
async def test_retry_after_as_http_date(settings, clock, registry, metrics) -> None:
    when = clock.wall() + dt.timedelta(seconds=30)
    route = respx.get(f"{BASE_URL}/items").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}),
            httpx.Response(200, json=[]),
        ]
    )
    async with make_client(settings, clock, registry, metrics) as client:
        await client.request("GET", "/items")
    assert route.call_count == 2
    assert clock.sleeps == [31.0]  # 30 s until the date, plus the (top of the) jitter


@respx.mock
async def test_207_is_success_and_redirect_is_fatal(settings, clock, registry, metrics) -> None:
    respx.post(f"{BASE_URL}/batch").mock(return_value=httpx.Response(207, json={"errors": []}))
    respx.get(f"{BASE_URL}/moved").mock(
        return_value=httpx.Response(302, headers={"Location": "https://elsewhere.test/"})
    )
    async with make_client(settings, clock, registry, metrics) as client:
        assert (await client.request("POST", "/batch", json=[])).status_code == 207
        with pytest.raises(ConfigurationError):
            await client.request("GET", "/moved")


async def test_absolute_urls_are_refused(settings, clock, registry, metrics) -> None:
    async with make_client(settings, clock, registry, metrics) as client:
        with pytest.raises(ValueError, match="relative"):
            await client.request("GET", "https://evil.test/steal")


@respx.mock
async def test_a_rolling_window_429_backs_off_from_the_table_and_not_from_max_attempts(
    clock, registry, metrics
) -> None:
    """A row with `wait_cap_seconds`: the waits double from the hint up to the cap, 429s do not
    use up `max_attempts`, and the limiter takes the server's window as full."""
    policy = DEFAULT_POLICY.override(
        {429: Rule(Resolution.WAIT, 0.5, "rolling window", wait_cap_seconds=3.0)}
    )
    settings = HttpSettings(base_url=BASE_URL, max_attempts=2, max_elapsed_seconds=60)
    route = respx.get(f"{BASE_URL}/busy").mock(
        side_effect=[httpx.Response(429)] * 5 + [httpx.Response(200, json={})]
    )
    client = make_client(settings, clock, registry, metrics, policy=policy)
    async with client:
        await client.request("GET", "/busy")
    assert route.call_count == 6
    # No window of our own to take a slot's time from: the table's 0.5 s, doubling to the cap
    # (the top of each equal-jitter range).
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


@respx.mock
async def test_a_429_without_quota_headers_slows_only_its_own_request(
    clock, registry, metrics
) -> None:
    """Without quota headers the server has not said its window is full for everyone: the
    refused request backs off, the limiter's window stays as our own count has it."""
    policy = DEFAULT_POLICY.override(
        {429: Rule(Resolution.WAIT, 0.01, "rolling window", wait_cap_seconds=0.01)}
    )
    respx.get(f"{BASE_URL}/busy").mock(side_effect=[httpx.Response(429), httpx.Response(200)])
    client = make_client(
        HttpSettings(base_url=BASE_URL),
        clock,
        registry,
        metrics,
        policy=policy,
        limits={"default": RateLimit(4, 1.0)},
    )
    async with client:
        await client.request("GET", "/busy")
        assert client.limiter("default").in_window() == 2
    assert clock.sleeps == [pytest.approx(0.01)]
