"""Token providers and the client's refresh-once-on-401 rule."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connector.errors import ConfigurationError
from connector.http import (
    ApiClient,
    HttpSettings,
    LimiterRegistry,
    OAuthRefreshTokenProvider,
    StaticToken,
)

from .conftest import BASE_URL, FakeClock

TOKEN_URL = "https://auth.example.test/oauth/token"


def oauth(clock: FakeClock, refresh_token: str = "rt-1") -> OAuthRefreshTokenProvider:
    return OAuthRefreshTokenProvider(
        TOKEN_URL,
        client_id=SecretStr("client-id"),
        client_secret=SecretStr("client-secret"),
        refresh_token=SecretStr(refresh_token),
        refresh_margin_seconds=60,
        clock=clock,
    )


def client_with(auth, clock: FakeClock) -> ApiClient:
    return ApiClient(
        HttpSettings(base_url=BASE_URL),
        name="remote",
        auth=auth,
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )


@respx.mock
async def test_401_refreshes_once_retries_once_and_a_second_401_is_fatal() -> None:
    clock = FakeClock()
    grants = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "at-1", "expires_in": 1800}),
            httpx.Response(200, json={"access_token": "at-2", "expires_in": 1800}),
        ]
    )
    api = respx.get(f"{BASE_URL}/me").mock(return_value=httpx.Response(401))
    async with client_with(oauth(clock), clock) as client:
        with pytest.raises(ConfigurationError, match="again after a token refresh"):
            await client.request("GET", "/me")
    assert grants.call_count == 2  # the first token, then exactly one refresh
    assert api.call_count == 2  # the original request and exactly one retry
    tokens = [call.request.headers["Authorization"] for call in api.calls]
    assert tokens == ["Bearer at-1", "Bearer at-2"]
    assert clock.sleeps == [0.0]  # the retry after a refresh does not back off


@respx.mock
async def test_401_then_refresh_then_success() -> None:
    clock = FakeClock()
    respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "old", "expires_in": 1800}),
            httpx.Response(200, json={"access_token": "new", "expires_in": 1800}),
        ]
    )

    def api(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] == "Bearer new"
        return httpx.Response(200 if ok else 401, json={})

    respx.get(f"{BASE_URL}/me").mock(side_effect=api)
    async with client_with(oauth(clock), clock) as client:
        assert (await client.request("GET", "/me")).status_code == 200


@respx.mock
async def test_static_token_401_is_fatal_without_retry() -> None:
    clock = FakeClock()
    api = respx.get(f"{BASE_URL}/me").mock(return_value=httpx.Response(401))
    async with client_with(StaticToken(SecretStr("pat-123")), clock) as client:
        with pytest.raises(ConfigurationError, match="rejected"):
            await client.request("GET", "/me")
    assert api.call_count == 1
    assert api.calls[0].request.headers["Authorization"] == "Bearer pat-123"
    assert "pat-123" not in str(api.calls[0].request.url)


@respx.mock
async def test_50_concurrent_401s_cause_exactly_one_refresh() -> None:
    clock = FakeClock()
    grants = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "old", "expires_in": 1800}),
            httpx.Response(200, json={"access_token": "new", "expires_in": 1800}),
        ]
    )
    arrived_with_old = 0
    all_in = asyncio.Event()

    async def api(request: httpx.Request) -> httpx.Response:
        nonlocal arrived_with_old
        if request.headers["Authorization"] == "Bearer new":
            return httpx.Response(200, json={})
        arrived_with_old += 1
        if arrived_with_old == 50:
            all_in.set()
        await all_in.wait()  # every request is in flight with the old token before any 401
        return httpx.Response(401, json={})

    respx.get(f"{BASE_URL}/me").mock(side_effect=api)
    provider = oauth(clock)
    await provider.token()
    async with client_with(provider, clock) as client:
        responses = await asyncio.gather(*(client.request("GET", "/me") for _ in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert arrived_with_old == 50
    assert grants.call_count == 2  # the first token and one refresh, not fifty


@respx.mock
async def test_proactive_refresh_before_expiry_and_rotated_refresh_token() -> None:
    clock = FakeClock()
    grants = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(
                200, json={"access_token": "a1", "expires_in": 1800, "refresh_token": "rt-2"}
            ),
            httpx.Response(200, json={"access_token": "a2", "expires_in": 1800}),
        ]
    )
    provider = oauth(clock)
    assert await provider.token() == "a1"
    clock.now += 1700  # still 100 s left, more than the 60 s margin
    assert await provider.token() == "a1"
    clock.now += 50  # 50 s left: inside the margin, refresh before it expires
    assert await provider.token() == "a2"
    assert grants.call_count == 2
    forms = [parse_qs(call.request.content.decode()) for call in grants.calls]
    assert forms[0]["refresh_token"] == ["rt-1"]
    assert forms[1]["refresh_token"] == ["rt-2"]  # the rotated one replaced the old
    assert forms[1]["grant_type"] == ["refresh_token"]
    assert forms[1]["client_secret"] == ["client-secret"]
    assert provider.refresh_token_value.get_secret_value() == "rt-2"
    await provider.aclose()


@respx.mock
async def test_refused_refresh_is_a_configuration_error_without_secrets() -> None:
    clock = FakeClock()
    respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400,
            json={"error": "invalid_grant", "error_description": "token rt-1 is revoked"},
        )
    )
    provider = oauth(clock)
    with pytest.raises(ConfigurationError) as caught:
        await provider.token()
    text = str(caught.value)
    assert "invalid_grant" in text
    assert "rt-1" not in text and "client-secret" not in text
    await provider.aclose()
