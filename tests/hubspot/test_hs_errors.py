"""Each documented HubSpot error path, through the adapter's client, against respx."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import SecretStr

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.errors import HUBSPOT_POLICY, decide, parse_hubspot_error
from adapters.hubspot.settings import OAuthAuth
from connector.adapter import NativeWrite
from connector.errors import ConfigurationError, QuotaExhaustedError
from connector.http import LimiterRegistry, Resolution
from connector.model import Entity

from .conftest import BASE, FakeClock, make_settings

UPSERT = f"{BASE}/crm/v3/objects/companies/batch/upsert"
SEARCH = f"{BASE}/crm/v3/objects/companies/search"


def ok_upsert(request: httpx.Request) -> httpx.Response:
    import json

    inputs = json.loads(request.content)["inputs"]
    return httpx.Response(
        200,
        json={
            "status": "COMPLETE",
            "results": [
                {
                    "id": str(1000 + n),
                    "new": True,
                    "properties": i["properties"],
                    "updatedAt": "2026-01-01T00:00:00Z",
                }
                for n, i in enumerate(inputs)
            ],
        },
    )


def one_write(key: str = "k1") -> list[NativeWrite]:
    return [NativeWrite(key=key, external_id=None, fields={"name": "Acme"})]


TEN_SECONDLY = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "policyName": "TEN_SECONDLY_ROLLING",
    "groupName": "publicapi:private_app-api-calls-ten-secondly:1:2",
}
DAILY = {
    "status": "error",
    "message": "You have reached your daily limit.",
    "errorType": "RATE_LIMIT",
    "policyName": "DAILY",
}


@respx.mock
async def test_an_isolated_429_costs_a_fraction_of_a_second_not_the_window(adapter, clock):
    route = respx.post(UPSERT).mock(side_effect=[httpx.Response(429, json=TEN_SECONDLY), ok_upsert])
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert result.ok and result.external_id == "1000" and result.created
    assert route.call_count == 2
    # One slot of the burst window as configured (10.3 s / 190 = 54 ms; equal jitter: 27-54 ms).
    slot = 10.3 / 190
    assert len(clock.sleeps) == 1 and slot / 2 <= clock.sleeps[0] <= slot


@respx.mock
async def test_repeated_429s_of_one_request_back_off_up_to_the_window(adapter, clock):
    refusals = [httpx.Response(429, json=TEN_SECONDLY)] * 9
    route = respx.post(UPSERT).mock(side_effect=[*refusals, ok_upsert])
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert result.ok and route.call_count == 10  # 429s do not use up the 8 attempts
    # Ceilings from one slot (54 ms) doubling to 6.9 s, then the 10 s window; each wait is in
    # the upper half of its ceiling (equal jitter).
    ceilings = [min(10.0, 10.3 / 190 * 2**n) for n in range(9)]
    assert len(clock.sleeps) == 9
    assert all(c / 2 <= w <= c for w, c in zip(clock.sleeps, ceilings, strict=True))


@respx.mock
async def test_429_retry_after_is_waited_exactly(adapter, clock: FakeClock):
    limited = httpx.Response(429, json=TEN_SECONDLY, headers={"Retry-After": "3"})
    respx.post(UPSERT).mock(side_effect=[limited, ok_upsert])
    await adapter.upsert(Entity.CUSTOMER, one_write())
    assert 3.0 <= clock.sleeps[0] <= 3.3


@respx.mock
async def test_429_quota_headers_fill_the_limiter_for_the_requests_behind(adapter, clock):
    """A 429 with HubSpot's headers (remaining 0 of 190 in 10 s): the limiter takes the
    window as full, so the next start waits for the first slot instead of drawing a 429."""
    limited = httpx.Response(
        429,
        json=TEN_SECONDLY,
        headers={
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        },
    )
    respx.post(UPSERT).mock(side_effect=[limited, ok_upsert])
    await adapter.upsert(Entity.CUSTOMER, one_write())
    limiter = adapter.client.api.limiter("default")
    assert limiter.in_window() == 190


@respx.mock
async def test_429_daily_stops_with_quota_exhausted_and_no_retry(adapter, clock: FakeClock):
    route = respx.post(UPSERT).mock(return_value=httpx.Response(429, json=DAILY))
    with pytest.raises(QuotaExhaustedError, match="daily"):
        await adapter.upsert(Entity.CUSTOMER, one_write())
    assert route.call_count == 1
    assert clock.sleeps == []


@respx.mock
async def test_search_secondly_limit_without_policy_waits_a_search_slot(adapter, clock):
    body = {"status": "error", "message": "You have reached your secondly limit."}
    respx.post(SEARCH).mock(
        side_effect=[httpx.Response(429, json=body), httpx.Response(200, json={"results": []})]
    )
    pages = [page async for page in adapter.read_changes(Entity.CUSTOMER, None)]
    assert pages == []
    # One slot of the search window as configured (1.3 s / 5), equal jitter: 0.13-0.26 s.
    assert len(clock.sleeps) == 1 and 0.13 <= clock.sleeps[0] <= 0.26


@respx.mock
async def test_423_locked_waits_at_least_two_seconds(adapter, clock: FakeClock):
    respx.post(UPSERT).mock(
        side_effect=[httpx.Response(423, json={"message": "locked"}), ok_upsert]
    )
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert result.ok
    assert clock.sleeps and clock.sleeps[0] >= 2.0


@respx.mock
async def test_477_honours_retry_after(adapter, clock: FakeClock):
    migrating = httpx.Response(477, headers={"Retry-After": "30"}, json={"message": "migrating"})
    respx.post(UPSERT).mock(side_effect=[migrating, ok_upsert])
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert result.ok
    assert 30.0 <= clock.sleeps[0] <= 31.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 521, 523, 524])
@respx.mock
async def test_5xx_and_524_are_retried(adapter, clock: FakeClock, status: int):
    route = respx.post(UPSERT).mock(side_effect=[httpx.Response(status), ok_upsert])
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert result.ok and route.call_count == 2


@respx.mock
async def test_400_validation_error_is_a_record_failure_with_message_and_category(adapter):
    body = {
        "status": "error",
        "message": 'Property values were not valid: [{"message":"x is not a number"}]',
        "category": "VALIDATION_ERROR",
        "correlationId": "c-1",
        "errors": [{"message": "x is not a number", "code": "INVALID_INTEGER"}],
    }
    route = respx.post(UPSERT).mock(return_value=httpx.Response(400, json=body))
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert not result.ok
    assert result.error is not None
    assert result.error.code == "VALIDATION_ERROR"
    assert "Property values were not valid" in str(result.error)
    assert route.call_count == 1  # no retry: the data must change first


@respx.mock
async def test_409_conflict_is_a_record_failure(adapter):
    body = {
        "status": "error",
        "message": "Company already exists. Existing ID: 7",
        "category": "CONFLICT",
    }
    respx.post(UPSERT).mock(return_value=httpx.Response(409, json=body))
    [result] = await adapter.upsert(Entity.CUSTOMER, one_write())
    assert result.error is not None and result.error.code == "CONFLICT"
    assert "Existing ID: 7" in str(result.error)


@respx.mock
async def test_whole_batch_400_is_bisected_so_only_the_bad_record_fails(adapter):
    import json

    def server(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if any(i["properties"].get("name") == "BAD" for i in inputs):
            return httpx.Response(400, json={"message": "bad name", "category": "VALIDATION_ERROR"})
        return ok_upsert(request)

    respx.post(UPSERT).mock(side_effect=server)
    writes = [
        NativeWrite(key=f"k{n}", external_id=None, fields={"name": "BAD" if n == 5 else f"C{n}"})
        for n in range(8)
    ]
    results = await adapter.upsert(Entity.CUSTOMER, writes)
    assert [r.key for r in results] == [w.key for w in writes]
    assert [r.ok for r in results] == [n != 5 for n in range(8)]
    assert str(results[5].error) == "bad name"


@respx.mock
async def test_archive_bisects_a_refused_batch_and_takes_404_as_already_gone(adapter):
    import json

    def server(request: httpx.Request) -> httpx.Response:
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        if "3" in ids:
            return httpx.Response(400, json={"message": "locked", "category": "VALIDATION_ERROR"})
        if "6" in ids:
            return httpx.Response(404, json={"message": "gone", "category": "OBJECT_NOT_FOUND"})
        return httpx.Response(204)

    route = respx.post(f"{BASE}/crm/v3/objects/companies/batch/archive").mock(side_effect=server)
    results = await adapter.delete(Entity.CUSTOMER, [str(n) for n in range(8)])
    assert [r.ok for r in results] == [n != 3 for n in range(8)]
    assert str(results[3].error) == "locked" and results[3].error.code == "VALIDATION_ERROR"
    # 0-7 refused, then 0-3 refused (0-1 fine, 2-3 refused, 2 fine, 3 fails), 4-7 taken as gone.
    assert route.call_count == 7


@respx.mock
async def test_403_missing_scopes_is_fatal(adapter):
    body = {"status": "error", "message": "missing scopes", "category": "MISSING_SCOPES"}
    respx.post(UPSERT).mock(return_value=httpx.Response(403, json=body))
    with pytest.raises(ConfigurationError, match="scopes"):
        await adapter.upsert(Entity.CUSTOMER, one_write())


@respx.mock
async def test_403_names_the_scopes_the_body_lists(adapter):
    """HubSpot names the missing scopes only in `context.requiredGranularScopes`."""
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "category": "MISSING_SCOPES",
        "errors": [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": ["crm.objects.companies.write"]},
            }
        ],
    }
    respx.post(UPSERT).mock(return_value=httpx.Response(403, json=body))
    with pytest.raises(ConfigurationError, match=r"crm\.objects\.companies\.write"):
        await adapter.upsert(Entity.CUSTOMER, one_write())


@respx.mock
async def test_401_refreshes_the_oauth_token_and_retries(clock: FakeClock):
    tokens = respx.post(f"{BASE}/oauth/v1/token").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "access_token": "first",
                    "refresh_token": "r2",
                    "expires_in": 1800,
                    "token_type": "bearer",
                },
            ),
            httpx.Response(
                200,
                json={
                    "access_token": "second",
                    "refresh_token": "r3",
                    "expires_in": 1800,
                    "token_type": "bearer",
                },
            ),
        ]
    )
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer first":
            return httpx.Response(
                401, json={"message": "expired", "category": "EXPIRED_AUTHENTICATION"}
            )
        return ok_upsert(request)

    respx.post(UPSERT).mock(side_effect=server)
    auth = OAuthAuth(
        client_id="client",
        client_secret=SecretStr("shh"),
        refresh_token=SecretStr("r1"),
        client_secret_env=None,
        refresh_token_env=None,
    )
    hub = HubSpotAdapter(
        "hubspot",
        make_settings(auth=auth),
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )
    await hub.open()
    try:
        [result] = await hub.upsert(Entity.CUSTOMER, one_write())
    finally:
        await hub.close()
    assert result.ok
    assert seen == ["Bearer first", "Bearer second"]
    assert tokens.call_count == 2
    form = tokens.calls[0].request.content.decode()
    assert "grant_type=refresh_token" in form and "refresh_token=r1" in form


@respx.mock
async def test_oauth_token_is_refreshed_before_expires_in_runs_out(clock: FakeClock):
    tokens = respx.post(f"{BASE}/oauth/v1/token").mock(
        side_effect=[
            httpx.Response(200, json={"access_token": f"t{n}", "expires_in": 1800})
            for n in range(2)
        ]
    )
    respx.post(UPSERT).mock(side_effect=ok_upsert)
    auth = OAuthAuth(
        client_id="c",
        client_secret=SecretStr("s"),
        refresh_token=SecretStr("r"),
        client_secret_env=None,
        refresh_token_env=None,
    )
    hub = HubSpotAdapter(
        "hubspot",
        make_settings(auth=auth),
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )
    await hub.open()
    try:
        await hub.upsert(Entity.CUSTOMER, one_write("a"))
        clock.now += 1700  # inside the 120 s margin before the 1800 s expiry
        await hub.upsert(Entity.CUSTOMER, one_write("b"))
    finally:
        await hub.close()
    assert tokens.call_count == 2


def test_policy_table_rows():
    def rule(status: int, body: dict[str, object] | None = None):
        return decide(httpx.Response(status, json=body or {}))

    assert rule(429, TEN_SECONDLY).resolution is Resolution.WAIT
    burst = rule(429, TEN_SECONDLY)
    assert (burst.wait_hint_seconds, burst.wait_cap_seconds) == (0.1, 10.0)
    assert rule(429, DAILY).resolution is Resolution.QUOTA
    secondly = rule(429, {"message": "You have reached your secondly limit."})
    assert (secondly.wait_hint_seconds, secondly.wait_cap_seconds) == (0.2, 1.0)
    assert rule(423).resolution is Resolution.WAIT and rule(423).wait_hint_seconds == 2.0
    assert rule(477).resolution is Resolution.WAIT
    assert rule(524).resolution is Resolution.RETRY
    assert rule(400, {"category": "VALIDATION_ERROR"}).resolution is Resolution.RECORD
    assert rule(409).resolution is Resolution.RECORD
    assert rule(401).resolution is Resolution.REFRESH_AUTH
    assert rule(403).resolution is Resolution.FATAL
    assert HUBSPOT_POLICY.decide(207).resolution is Resolution.OK


def test_error_parser_reads_category_or_error_type_and_survives_garbage():
    parsed = parse_hubspot_error(httpx.Response(429, json={"errorType": "RATE_LIMIT"}))
    assert parsed.category == "RATE_LIMIT"
    assert parse_hubspot_error(httpx.Response(500, content=b"<html>oops")).message == "<html>oops"
    assert parse_hubspot_error(httpx.Response(500, json=[1, 2])).category is None
