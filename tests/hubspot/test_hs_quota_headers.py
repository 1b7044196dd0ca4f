"""The HubSpot client's limiter starts from the quota HubSpot's headers report (respx, fake clock).

A process that restarts believes its window is empty, while HubSpot still counts what the
previous process sent in the last ten seconds. The first response's `X-HubSpot-RateLimit-*`
headers correct that, so the new process does not spend the old one's quota a second time.
"""

from __future__ import annotations

import httpx
import pytest
import respx

from adapters.hubspot.client import HubSpotClient
from connector.http import LimiterRegistry
from connector.testing.clock import FakeClock

from .conftest import BASE, make_settings

READ = f"{BASE}/crm/v3/objects/companies/batch/read"
ASSOC = f"{BASE}/crm/v4/associations/deals/line_items/batch/read"


def quota(remaining: int, maximum: int = 190) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }


def client(clock: FakeClock) -> HubSpotClient:
    return HubSpotClient(
        make_settings(), registry=LimiterRegistry(), clock=clock, sleep=clock.sleep
    )


@respx.mock
async def test_a_fresh_client_adopts_what_the_previous_process_left() -> None:
    clock = FakeClock(start=100.0)
    remaining = iter(range(10, -1, -1))  # the previous process spent 180 of 190
    respx.post(READ).mock(
        side_effect=lambda request: httpx.Response(
            200, json={"results": []}, headers=quota(next(remaining, 0))
        )
    )
    hub = client(clock)
    try:
        for _ in range(11):  # the first answer reports 10 left, then each spends one
            await hub.call("POST", "/crm/v3/objects/companies/batch/read", json={"inputs": []})
        assert clock.sleeps == []
        assert hub.api.limiter("default").in_window() == 190
        # The 12th waits for the first of the 179 requests adopted from the previous process to
        # leave the window (assumed spread evenly over it: 10 s / 180), not a whole window.
        await hub.call("POST", "/crm/v3/objects/companies/batch/read", json={"inputs": []})
        assert clock.sleeps == [pytest.approx(10 / 180)]
    finally:
        await hub.aclose()


@respx.mock
async def test_an_idle_account_changes_nothing() -> None:
    clock = FakeClock(start=100.0)
    respx.post(READ).mock(
        return_value=httpx.Response(200, json={"results": []}, headers=quota(189))
    )
    hub = client(clock)
    try:
        await hub.call("POST", "/crm/v3/objects/companies/batch/read", json={"inputs": []})
        assert hub.api.limiter("default").in_window() == 1
    finally:
        await hub.aclose()


@respx.mock
async def test_association_batches_do_not_take_the_burst_windows_count() -> None:
    """The v4 association batches are exempt from the burst window their headers describe."""
    clock = FakeClock(start=100.0)
    respx.post(ASSOC).mock(return_value=httpx.Response(200, json={"results": []}, headers=quota(0)))
    hub = client(clock)
    try:
        await hub.call(
            "POST",
            "/crm/v4/associations/deals/line_items/batch/read",
            json={"inputs": []},
            endpoint_class="associations",
        )
        assert hub.api.limiter("associations").in_window() == 1
        assert hub.api.limiter("default").in_window() == 0
    finally:
        await hub.aclose()
