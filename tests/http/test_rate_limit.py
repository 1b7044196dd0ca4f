"""The rate limiter: the configured rate holds under concurrency, and server hints slow it."""

from __future__ import annotations

import httpx
import pytest
import respx

from connector.errors import QuotaExhaustedError
from connector.http import (
    ApiClient,
    HttpSettings,
    LimiterRegistry,
    QuotaHint,
    RateLimit,
    RateLimiter,
    remaining_header_parser,
    usage_ratio_parser,
)
from connector.http.ratelimit import pacing_for

from .conftest import BASE_URL, FakeClock, VirtualTime


def max_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        inside = [t for t in ordered[i:] if t < start + window - 1e-9]
        best = max(best, len(inside))
    return best


@respx.mock
async def test_bucket_holds_the_rate_under_50_concurrent_callers(vtime: VirtualTime) -> None:
    hits: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        hits.append(vtime.now)
        return httpx.Response(200, json={})

    respx.get(f"{BASE_URL}/things").mock(side_effect=record)
    client = ApiClient(
        HttpSettings(base_url=BASE_URL),
        name="remote",
        limits={"default": RateLimit(requests=10, per_seconds=1.0)},
        registry=LimiterRegistry(),
        clock=vtime,
        sleep=vtime.sleep,
    )
    async with client:
        await vtime.run([client.request("GET", "/things") for _ in range(50)])
    assert len(hits) == 50
    assert max_in_any_window(hits, 1.0) == 10  # never more than the limit in a window ...
    assert max(hits) == pytest.approx(4.0)  # ... and no slower than it allows: 5 windows


async def test_limiter_is_shared_per_account_and_endpoint_class() -> None:
    registry = LimiterRegistry()
    settings = HttpSettings(base_url=BASE_URL)
    limits = {"default": RateLimit(requests=5, per_seconds=1), "search": RateLimit(2, 1)}
    first = ApiClient(settings, name="remote", account="a1", limits=limits, registry=registry)
    second = ApiClient(settings, name="remote", account="a1", limits=limits, registry=registry)
    other = ApiClient(settings, name="remote", account="a2", limits=limits, registry=registry)
    async with first, second, other:
        assert first.limiter("search") is second.limiter("search")
        assert first.limiter("search") is not first.limiter("default")
        assert first.limiter("search") is not other.limiter("search")
        assert first.limiter("search").limit == RateLimit(requests=2, per_seconds=1)


async def test_configured_limits_override_the_adapter_defaults() -> None:
    settings = HttpSettings(
        base_url=BASE_URL, rate_limits={"search": RateLimit(requests=3, per_seconds=1)}
    )
    client = ApiClient(
        settings,
        name="remote",
        limits={"search": RateLimit(requests=5, per_seconds=1)},
        registry=LimiterRegistry(),
    )
    async with client:
        assert client.limiter("search").limit == RateLimit(requests=3, per_seconds=1)


def test_no_pacing_while_plenty_remains() -> None:
    assert pacing_for(QuotaHint(remaining=100, limit=190, window_seconds=10)) is None


def test_pacing_spreads_what_is_left_over_the_window() -> None:
    pacing = pacing_for(QuotaHint(remaining=5, limit=190, window_seconds=10))
    assert pacing is not None
    assert pacing.spacing == pytest.approx(2.0)
    assert not pacing.exhausted


def test_a_spent_long_quota_is_exhaustion_not_a_pause() -> None:
    pacing = pacing_for(QuotaHint(remaining=0, limit=100_000, window_seconds=86_400))
    assert pacing is not None and pacing.exhausted


async def test_limiter_adopts_a_lower_remaining_count_from_headers() -> None:
    """Ours says 97 left, the server 4 (someone else sent 93): 4 go at once, then one per slot
    the server's window frees, assumed spread evenly over it."""
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests=100, per_seconds=10), clock=clock, sleep=clock.sleep)
    parse = remaining_header_parser(
        "X-Rate-Remaining", limit="X-Rate-Max", window_ms="X-Rate-Interval-Ms"
    )
    headers = httpx.Headers(
        {"X-Rate-Remaining": "4", "X-Rate-Max": "100", "X-Rate-Interval-Ms": "10000"}
    )
    hint = parse(headers)
    assert hint == QuotaHint(remaining=4, limit=100, window_seconds=10.0)
    for _ in range(3):
        await limiter.acquire()
    limiter.observe(hint)
    assert limiter.in_window() == 96  # 3 of ours + 93 adopted
    for _ in range(4):
        await limiter.acquire()
    assert clock.sleeps == []  # the server said 4 are left: no pacing on top of that
    await limiter.acquire()
    assert clock.sleeps == [pytest.approx(10 / 94)]  # the first adopted start frees its slot


async def test_a_count_the_limiter_already_holds_changes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests=10, per_seconds=10), clock=clock, sleep=clock.sleep)
    for _ in range(6):
        await limiter.acquire()
    limiter.observe(QuotaHint(remaining=5, limit=10, window_seconds=10))  # one still in flight
    assert limiter.in_window() == 6
    for _ in range(4):
        await limiter.acquire()
    assert clock.sleeps == []


async def test_a_lower_server_limit_lowers_the_capacity() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests=190, per_seconds=10), clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    limiter.observe(QuotaHint(remaining=99, limit=100, window_seconds=10))  # a Starter account
    for _ in range(99):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.sleeps == [pytest.approx(10.0)]  # the 101st waits for the first to leave


async def test_usage_ratio_header_at_limit_raises_quota_exhausted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, name="remote", clock=clock, sleep=clock.sleep)
    parse = usage_ratio_parser("Limit-Info", "api-usage", window_seconds=86_400)
    hint = parse(httpx.Headers({"Limit-Info": "api-usage=100000/100000, other=1/750"}))
    assert hint == QuotaHint(remaining=0, limit=100_000, window_seconds=86_400)
    limiter.observe(hint)
    with pytest.raises(QuotaExhaustedError) as caught:
        await limiter.acquire()
    assert caught.value.resets_in == pytest.approx(86_400)


@respx.mock
async def test_client_feeds_response_headers_to_the_limiter() -> None:
    clock = FakeClock()
    respx.get(f"{BASE_URL}/x").mock(
        return_value=httpx.Response(200, headers={"Usage": "calls=9990/10000"})
    )
    client = ApiClient(
        HttpSettings(base_url=BASE_URL),
        name="remote",
        quota_parser=usage_ratio_parser("Usage", "calls", window_seconds=100),
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )
    async with client:
        await client.request("GET", "/x")
        await client.request("GET", "/x")
    assert clock.sleeps == [10.0]  # 10 left of 10,000 in 100 s: one per 10 s
