"""Burst and daily limits with HubSpot's 429 body and headers; bearer auth; OAuth refresh."""

from __future__ import annotations

import httpx

from adapters.hubspot.sandbox import ManualClock, Sandbox

LIST = "/crm/v3/objects/companies"


async def test_burst_limit_429_body_and_headers(hs: httpx.AsyncClient, clock: ManualClock) -> None:
    for n in range(190):
        response = await hs.get(LIST)
        assert response.status_code == 200
        assert response.headers["X-HubSpot-RateLimit-Remaining"] == str(189 - n)
        clock.advance(10)
    assert response.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert response.headers["X-HubSpot-RateLimit-Daily"] == "625000"
    assert response.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(625_000 - 190)
    refused = await hs.get(LIST)
    assert refused.status_code == 429
    body = refused.json()
    assert body["status"] == "error"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT" and body["category"] == "RATE_LIMITS"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["groupName"].startswith("publicapi:private_app-api-calls-ten-secondly:")
    assert body["correlationId"] and body["requestId"]
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in refused.headers  # undocumented for REST 429s
    # The window rolls: the first request leaves it 10 s after it was made.
    clock.advance(10_000 - 190 * 10)
    assert (await hs.get(LIST)).status_code == 200
    assert (await hs.get(LIST)).status_code == 429


async def test_retry_after_and_body_style_switches(hs: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.update_switches(
        {"burst_max": 1, "retry_after_on_429": True, "rate_limit_body": "category"}
    )
    await hs.get(LIST)
    refused = await hs.get(LIST)
    assert refused.headers["Retry-After"] == "10"
    assert "errorType" not in refused.json() and refused.json()["category"] == "RATE_LIMITS"


async def test_daily_limit_and_reset_at_midnight(
    hs: httpx.AsyncClient, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.update_switches({"daily_limit": 3})
    assert [(await hs.get(LIST)).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = await hs.get(LIST)
    assert refused.json()["policyName"] == "DAILY"
    assert refused.json()["message"] == "You have reached your daily limit."
    clock.advance(86_400_000)
    assert (await hs.get(LIST)).status_code == 200


async def test_limits_off_never_refuse(hs: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.update_switches({"limits_enabled": False, "burst_max": 2})
    assert {(await hs.get(LIST)).status_code for _ in range(5)} == {200}


async def test_missing_or_unknown_token_is_401(sandbox_app) -> None:
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hs") as client:
        missing = await client.get(LIST)
        unknown = await client.get(LIST, headers={"Authorization": "Bearer nope"})
    for response in (missing, unknown):
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
        assert body["correlationId"]


async def test_oauth_refresh_issues_expiring_tokens(sandbox_app, clock: ManualClock) -> None:
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hs") as client:
        form = {
            "grant_type": "refresh_token",
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "refresh_token": "sandbox-refresh-token",
        }
        granted = await client.post("/oauth/v1/token", data=form)
        assert granted.status_code == 200
        token = granted.json()
        assert token["expires_in"] == 1800 and token["token_type"] == "bearer"
        assert token["refresh_token"] == "sandbox-refresh-token"
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        used = await client.get(LIST, headers=auth)
        assert used.status_code == 200
        assert "X-HubSpot-RateLimit-Daily" not in used.headers  # not sent on OAuth calls
        assert "X-HubSpot-RateLimit-Max" in used.headers
        clock.advance(1_800_000)
        expired = await client.get(LIST, headers=auth)
        assert expired.status_code == 401
        assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
        v3 = await client.post("/oauth/v3/token", data=form)
        assert v3.status_code == 200 and v3.json()["access_token"] != token["access_token"]
        bad = await client.post("/oauth/v1/token", data={**form, "refresh_token": "stolen"})
        assert bad.status_code == 400 and bad.json()["status"] == "BAD_REFRESH_TOKEN"
        wrong_secret = await client.post("/oauth/v1/token", data={**form, "client_secret": "x"})
        assert wrong_secret.status_code == 400
