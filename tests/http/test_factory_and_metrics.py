"""The httpx client factory's safety settings, and the Prometheus rendering of the metrics."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import ValidationError

from connector import __version__
from connector.http import (
    ApiClient,
    HttpMetrics,
    HttpSettings,
    LimiterRegistry,
    build_async_client,
    render_prometheus,
)
from connector.http.telemetry import Attempt

from .conftest import BASE_URL, FakeClock


async def test_client_factory_is_explicit_and_safe() -> None:
    settings = HttpSettings.model_validate(
        {
            "base_url": BASE_URL + "/",
            "timeout": {"connect": 2, "read": 20, "write": 15, "pool": 3},
            "max_connections": 7,
        }
    )
    client = build_async_client(settings)
    async with client:
        assert client.timeout == httpx.Timeout(connect=2, read=20, write=15, pool=3)
        assert client.follow_redirects is False
        assert client.trust_env is False
        assert settings.base_url == BASE_URL
        assert client.headers["User-Agent"] == f"erp-crm-connector/{__version__}"
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 7
        assert pool._max_keepalive_connections == 7


@respx.mock
async def test_paths_are_joined_under_the_base_path() -> None:
    route = respx.get("https://api.example.test/api/v3/items").mock(
        return_value=httpx.Response(200)
    )
    client = ApiClient(
        HttpSettings(base_url=BASE_URL + "/api/v3/"), name="x", registry=LimiterRegistry()
    )
    async with client:
        await client.request("GET", "/items")
    assert route.called


async def test_proxy_turns_on_trust_env() -> None:
    client = build_async_client(
        HttpSettings(base_url=BASE_URL, proxy="http://proxy.internal.test:3128")
    )
    async with client:
        assert client.trust_env is True


@pytest.mark.parametrize("url", ["ftp://x.test", "https://x.test/?key=1", "api.example.test"])
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="base_url"):
        HttpSettings(base_url=url)


@respx.mock
async def test_metrics_count_requests_retries_and_429s() -> None:
    clock = FakeClock()
    metrics = HttpMetrics()
    respx.get(f"{BASE_URL}/x").mock(
        side_effect=[httpx.Response(429), httpx.Response(500), httpx.Response(200)]
    )
    client = ApiClient(
        HttpSettings(base_url=BASE_URL),
        name="erp",
        metrics=metrics,
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )
    async with client:
        await client.request("GET", "/x")
    assert dict(metrics.requests) == {("erp", "429"): 1, ("erp", "500"): 1, ("erp", "200"): 1}
    assert metrics.rate_limited["erp"] == 1
    assert sum(metrics.retries.values()) == 2
    assert metrics.latency["erp"].count == 3


def test_prometheus_text_format() -> None:
    metrics = HttpMetrics()
    metrics.record(Attempt("crm", "GET", "/a", 200, 12.0, 1, "ok"))
    metrics.record(Attempt("crm", "GET", "/a", 429, 3.0, 1, "wait", "rate limited"))
    metrics.record(Attempt("crm", "GET", "/a", None, 7000.0, 2, "retry", "ReadTimeout"))
    metrics.record_retry("crm", 'HTTP 429 "rate" limited')
    text = render_prometheus(metrics)
    assert text.endswith("\n")
    lines = text.splitlines()
    assert "# TYPE connector_http_requests_total counter" in lines
    assert 'connector_http_requests_total{system="crm",status="200"} 1' in lines
    assert 'connector_http_requests_total{system="crm",status="transport_error"} 1' in lines
    assert 'connector_http_retries_total{system="crm",reason="HTTP 429 \\"rate\\" limited"} 1' in (
        lines
    )
    assert 'connector_http_rate_limited_total{system="crm"} 1' in lines
    assert "# TYPE connector_http_request_duration_seconds histogram" in lines
    name = "connector_http_request_duration_seconds"
    assert f'{name}_bucket{{system="crm",le="0.005"}} 1' in lines
    assert f'{name}_bucket{{system="crm",le="0.025"}} 2' in lines
    assert f'{name}_bucket{{system="crm",le="5.0"}} 2' in lines
    assert f'{name}_bucket{{system="crm",le="10.0"}} 3' in lines
    assert f'{name}_bucket{{system="crm",le="+Inf"}} 3' in lines
    assert f'{name}_count{{system="crm"}} 3' in lines
    assert f'{name}_sum{{system="crm"}} 7.015' in lines
