"""The sandbox over real loopback HTTP (uvicorn): admin endpoints, resets, webhooks end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.hubspot.sandbox import create_app

from .test_sandbox_webhooks_faults import independent_v3

AUTH = {"Authorization": "Bearer sandbox-token"}


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag, no event
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_admin_endpoints_and_reset_fault_over_loopback() -> None:
    async with served(create_app()) as base, httpx.AsyncClient(base_url=base, headers=AUTH) as hs:
        seeded = await hs.post(
            "/_sandbox/seed",
            json={"objectType": "companies", "count": 3, "template": {"name": "Co {n}"}},
        )
        assert seeded.status_code == 201 and len(seeded.json()["ids"]) == 3
        stamped = await hs.post(
            "/_sandbox/timestamps", json={"objectType": "companies", "timestamp": 1_700_000_000_000}
        )
        assert stamped.json() == {"updated": 3}
        same_stamp = {"propertyName": "hs_lastmodifieddate", "operator": "EQ",
                      "value": "1700000000000"}  # fmt: skip
        search = {"filterGroups": [{"filters": [same_stamp]}]}
        assert (await hs.post("/crm/v3/objects/companies/search", json=search)).json()["total"] == 3
        bad = await hs.patch("/_sandbox/switches", json={"object_prefixes": []})
        assert bad.status_code == 400
        switched = await hs.patch("/_sandbox/switches", json={"faults": {"connection_reset": 1.0}})
        assert switched.json()["faults"]["connection_reset"] == 1.0
        with pytest.raises(httpx.TransportError):
            await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "Lost"}})
        await hs.patch("/_sandbox/switches", json={"faults": {}})
        dump = (await hs.get("/_sandbox/objects/companies")).json()
        assert "Lost" in {r["properties"]["name"] for r in dump["results"]}
        log = (await hs.get("/_sandbox/requests")).json()["results"]
        assert [(e["method"], e["status"], e["fault"]) for e in log] == [
            ("POST", 200, None),
            ("POST", 201, "connection_reset"),  # the head went out, the body never did
        ]
        assert log[0]["requestBytes"] > 0 and log[0]["responseBytes"] > 0
        await hs.post("/_sandbox/reset")
        assert (await hs.get("/_sandbox/objects/companies")).json()["total"] == 0


async def test_webhook_reaches_a_real_receiver_signed() -> None:
    received: list[tuple[str, dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((str(request.url), dict(request.headers), await request.body()))
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with served(receiver) as receiver_base:
        target = f"{receiver_base}/hook?app=sbx"
        app = create_app(webhooks={"target_url": target, "client_secret": "s3cret",
                                   "batch_window_ms": 0})  # fmt: skip
        async with served(app) as base, httpx.AsyncClient(base_url=base, headers=AUTH) as hs:
            created = (
                await hs.post("/_sandbox/ui/companies", json={"properties": {"name": "A"}})
            ).json()
            await hs.patch(
                f"/_sandbox/ui/companies/{created['id']}", json={"properties": {"name": "B"}}
            )
            log = (await hs.post("/_sandbox/webhooks/flush")).json()
    assert all(a["status"] == 204 for a in log["attempts"])
    events = []
    for url, headers, body in received:
        stamp = headers["x-hubspot-request-timestamp"]
        assert headers["x-hubspot-signature-v3"] == independent_v3(
            "s3cret", "POST", url, body, stamp
        )
        events += json.loads(body)
    assert {e["subscriptionType"] for e in events} == {"company.creation", "company.propertyChange"}
    assert all(e["changeSource"] == "CRM_UI" for e in events)
