"""The daemon in one process over real loopback HTTP: webhook → inbox → sync, and stopping.

Two in-memory systems stand in for the ERP and the CRM; the ERP one signs webhooks with the
Standard Webhooks verifier. uvicorn listens on 127.0.0.1 on a free port. Nothing here is timed:
waits end on what they await, and their deadline (`HANG_SECONDS`) only stops a hang; how fast a
webhook's change lands belongs to bench/webhooks.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from adapters.erp_generic.webhooks import StandardWebhooksVerifier
from connector.adapter import WebhookVerifier
from connector.config import AppConfig, load_config
from connector.daemon.runner import serve
from connector.model import Entity
from connector.state.store import open_store
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.daemon.processes import HANG_SECONDS


class SigningErp(MemoryAdapter):
    secret: Any = None

    def webhook_verifier(self) -> WebhookVerifier | None:
        return StandardWebhooksVerifier([self.secret])


def config(tmp_path: Path, grace: float = 5.0, poll_seconds: float = 0.2) -> AppConfig:
    data = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {
            "erp": {"adapter": "memory", "settings": {}},
            "crm": {"adapter": "memory", "settings": {}},
        },
        "routes": [
            {
                "name": "erp-to-crm",
                "from": "erp",
                "to": "crm",
                "entities": {"customer": {"match": ["number"]}},
                "schedule": "0 3 * * *",  # cron: no run during the test
            }
        ],
        "daemon": {
            "host": "127.0.0.1",
            "port": 0,
            "inbox_poll_seconds": poll_seconds,
            "shutdown_grace_seconds": grace,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def systems(secret: Any, **erp_settings: Any) -> tuple[SigningErp, MemoryAdapter]:
    erp = SigningErp("erp", MemorySettings(**erp_settings))
    erp.secret = secret
    return erp, MemoryAdapter("crm", MemorySettings())


async def start(cfg: AppConfig, erp, crm) -> tuple[asyncio.Task[int], asyncio.Event, int]:
    stop = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(cfg, with_scheduler=True, stop=stop, on_ready=ready.set_result, erp=erp, crm=crm)
    )
    port = await asyncio.wait_for(ready, HANG_SECONDS)
    return task, stop, port


async def wait_for(condition, seconds: float = HANG_SECONDS) -> None:
    """Wait until `condition` holds; `seconds` only against a hang."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.02)


def crm_names(crm: MemoryAdapter) -> list[str]:
    return [row.fields.get("name") for row in crm.records(Entity.CUSTOMER)]


async def test_webhook_change_reaches_the_target_through_the_workers_wake_up(
    tmp_path, deliver, change_body, secret
) -> None:
    erp, crm = systems(secret)
    # The route runs at 03:00 and the inbox is polled hourly: what arrives came through the
    # webhook and the worker's wake-up.
    cfg = config(tmp_path, poll_seconds=3600)
    task, stop, port = await start(cfg, erp, crm)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/readyz")).status_code == 200
            record = erp.put(Entity.CUSTOMER, {"number": "C1", "name": "Acme"})
            raw, headers = deliver("evt-1", change_body("customer", record), at=now())
            response = await http.post("/webhooks/erp", content=raw, headers=headers)
            assert response.status_code == 202
            await wait_for(lambda: crm_names(crm) == ["Acme"])

            # A later edit, announced twice and once more out of order, lands once, as it is now.
            erp.put(Entity.CUSTOMER, {"name": "Acme GmbH"}, record_id=record)
            for event_id in ("evt-2", "evt-2", "evt-1"):
                raw, headers = deliver(event_id, change_body("customer", record), at=now())
                assert (await http.post("/webhooks/erp", content=raw, headers=headers)).is_success
            await wait_for(lambda: crm_names(crm) == ["Acme GmbH"])
            metrics = (await http.get("/metrics")).text
    finally:
        stop.set()
        assert await asyncio.wait_for(task, HANG_SECONDS) == 0
    assert 'connector_webhook_events_total{system="erp",outcome="duplicate"} 2' in metrics
    assert 'connector_runs_total{route="erp-to-crm",trigger="webhook",outcome="succeeded"}' in (
        metrics
    )
    store = open_store(cfg.state.url, tmp_path)
    try:
        assert store.inbox_depth() == 0
        assert store.lease_holder("route:erp-to-crm") is None
    finally:
        store.close()


async def test_stop_while_a_sync_is_slow_abandons_it_and_a_restart_finishes(
    tmp_path, deliver, change_body, secret
) -> None:
    # Each write to the CRM takes 30 s: far past the 0.3 s grace period.
    erp, crm = systems(secret)
    slow_crm = MemoryAdapter("crm", MemorySettings(write_delay_seconds=30))
    cfg = config(tmp_path, grace=0.3)
    task, stop, port = await start(cfg, erp, slow_crm)
    record = erp.put(Entity.CUSTOMER, {"number": "C1", "name": "Acme"})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        raw, headers = deliver("evt-1", change_body("customer", record), at=now())
        assert (await http.post("/webhooks/erp", content=raw, headers=headers)).status_code == 202
    store = open_store(cfg.state.url, tmp_path)
    try:
        await wait_for(lambda: store.inbox_stats()[0].get("processing") == 1)
        stopping = time.monotonic()
        stop.set()
        # Far sooner than the 30 s write it would wait for without the grace period's cancel.
        assert await asyncio.wait_for(task, 25) == 0
        assert time.monotonic() - stopping < 25
        assert store.inbox_stats()[0] == {"processing": 1}  # abandoned, not lost
        assert store.lease_holder("route:erp-to-crm") is None  # the cancelled sync let go

        # Restarted with a CRM that answers: the abandoned event is picked up and applied once.
        task, stop, port = await start(cfg, erp, crm)
        try:
            await wait_for(lambda: crm_names(crm) == ["Acme"])
            await wait_for(lambda: store.inbox_stats()[0] == {"done": 1})
        finally:
            stop.set()
            assert await asyncio.wait_for(task, HANG_SECONDS) == 0
    finally:
        store.close()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
