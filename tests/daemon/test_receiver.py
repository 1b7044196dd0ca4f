"""The webhook receiver: every rejection with its status, durable acceptance, health, metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from connector.daemon.app import ReceiverDeps, create_app
from connector.state import schema
from connector.state.store import StateStore


@pytest.fixture
def deps(sqlite_store: StateStore, verifier, clock) -> ReceiverDeps:
    return ReceiverDeps(
        store=sqlite_store, verifiers={"erp": verifier}, clock=clock, max_body_bytes=1024 * 1024
    )


@pytest.fixture
async def client(deps: ReceiverDeps) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


def inbox_rows(store: StateStore) -> list[tuple[str, str, str, str]]:
    table = schema.inbox
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.source, table.c.event_id, table.c.entity, table.c.external_id)
        )
        return [tuple(row) for row in rows]


async def test_verified_event_is_in_the_inbox_when_202_arrives(
    client, sqlite_store, deliver, change_body, clock
) -> None:
    raw, headers = deliver("msg_1", change_body("customer", "42"), at=clock())
    response = await client.post("/webhooks/erp", content=raw, headers=headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    # Read through a separate connection: the row is committed, not merely in a session.
    assert inbox_rows(sqlite_store) == [("erp", "msg_1", "customer", "42")]


async def test_redelivery_is_2xx_and_stored_once(client, sqlite_store, deliver, change_body, clock):
    raw, headers = deliver("msg_1", change_body("customer", "42"), at=clock())
    first = await client.post("/webhooks/erp", content=raw, headers=headers)
    clock.advance(30)  # a retry carries a new timestamp and signature, the same id
    raw, headers = deliver("msg_1", change_body("customer", "42"), at=clock())
    again = await client.post("/webhooks/erp", content=raw, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"accepted": 0, "duplicates": 1}
    assert len(inbox_rows(sqlite_store)) == 1


async def test_unknown_system_is_404(client, deliver, change_body, clock) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=clock())
    response = await client.post("/webhooks/nosuch", content=raw, headers=headers)
    assert response.status_code == 404


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_415(client, deliver, change_body, clock, content_type):
    raw, headers = deliver("m", change_body("customer", "1"), at=clock())
    headers.pop("content-type")
    if content_type:
        headers["content-type"] = content_type
    response = await client.post("/webhooks/erp", content=raw, headers=headers)
    assert response.status_code == 415


async def test_json_with_charset_is_accepted(client, deliver, change_body, clock) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=clock())
    headers["content-type"] = "application/json; charset=utf-8"
    assert (await client.post("/webhooks/erp", content=raw, headers=headers)).status_code == 202


async def test_declared_oversize_body_is_413_before_reading(client, deliver, clock) -> None:
    _, headers = deliver("m", b"{}", at=clock())
    headers["content-length"] = str(1024 * 1024 + 1)

    async def never_read() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    response = await client.post("/webhooks/erp", content=never_read(), headers=headers)
    assert response.status_code == 413


async def test_oversize_chunked_body_is_413_while_reading(client, deliver, clock) -> None:
    _, headers = deliver("m", b"{}", at=clock())

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 65536  # 40 chunks of 64 KiB = 2.5 MiB, no Content-Length

    response = await client.post("/webhooks/erp", content=chunks(), headers=headers)
    assert response.status_code == 413


async def test_body_of_exactly_the_limit_is_read(deps, deliver, clock) -> None:
    deps.max_body_bytes = 64
    raw = b'{"type":"customer.updated","data":{"id":"1"}}'
    raw += b" " * (64 - len(raw))
    raw, headers = deliver("m", raw, at=clock())
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.post("/webhooks/erp", content=raw, headers=headers)).status_code == 202
        raw, headers = deliver("n", raw + b" ", at=clock())
        assert (await http.post("/webhooks/erp", content=raw, headers=headers)).status_code == 413


async def test_bad_content_length_is_400(client, deliver, change_body, clock) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=clock())
    headers["content-length"] = "-5"
    # httpx would correct a wrong length; the raw ASGI call shows what a client could send.
    app = client._transport.app
    status = await raw_asgi_post(app, "/webhooks/erp", raw, headers)
    assert status == 400


async def test_bad_signature_is_401(client, deliver, change_body, clock) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=clock(), key=b"z" * 32)
    assert (await client.post("/webhooks/erp", content=raw, headers=headers)).status_code == 401


async def test_stale_timestamp_is_401(client, deliver, change_body, clock) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=clock() - dt.timedelta(minutes=6))
    assert (await client.post("/webhooks/erp", content=raw, headers=headers)).status_code == 401


async def test_malformed_signed_body_is_400(client, sqlite_store, deliver, clock) -> None:
    raw, headers = deliver("m", b'{"type": "customer.updated", "data": "x"}', at=clock())
    assert (await client.post("/webhooks/erp", content=raw, headers=headers)).status_code == 400
    assert inbox_rows(sqlite_store) == []


async def test_overlong_ids_are_400_not_a_database_error(client, deliver, change_body, clock):
    raw, headers = deliver("m" * 300, change_body("customer", "1"), at=clock())
    assert (await client.post("/webhooks/erp", content=raw, headers=headers)).status_code == 400
    raw, headers = deliver("m", change_body("customer", "9" * 300), at=clock())
    assert (await client.post("/webhooks/erp", content=raw, headers=headers)).status_code == 400


async def test_a_crashing_verifier_is_400_not_500(deps, deliver, change_body, clock) -> None:
    class Broken:
        def verify(self, request):
            raise KeyError("surprise")

    deps.verifiers = {"erp": Broken()}
    raw, headers = deliver("m", change_body("customer", "1"), at=clock())
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.post("/webhooks/erp", content=raw, headers=headers)).status_code == 400


async def test_store_down_is_503_with_retry_after(deps, deliver, change_body, clock) -> None:
    class DownStore:
        def enqueue_new_events(self, events):
            raise ConnectionError("database gone")

    deps.store = DownStore()  # type: ignore[assignment]
    raw, headers = deliver("m", change_body("customer", "1"), at=clock())
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.post("/webhooks/erp", content=raw, headers=headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"


async def test_new_events_wake_the_worker(deps, deliver, change_body, clock) -> None:
    woken = []
    deps.on_enqueued = lambda: woken.append(1)
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        raw, headers = deliver("m", change_body("customer", "1"), at=clock())
        await http.post("/webhooks/erp", content=raw, headers=headers)
        await http.post("/webhooks/erp", content=raw, headers=headers)  # duplicate: no wake
    assert woken == [1]


async def test_healthz_and_readyz(client) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_readyz_is_503_when_migrations_are_pending(deps) -> None:
    class Behind:
        def ping(self) -> bool:
            return True

        def migrations_current(self) -> bool:
            return False

    deps.store = Behind()  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.get("/readyz")
    assert response.status_code == 503 and "migrations" in response.json()["detail"]


async def test_readyz_is_503_when_the_store_is_unreachable(deps) -> None:
    class Gone:
        def ping(self) -> bool:
            raise OSError("connection refused")

    deps.store = Gone()  # type: ignore[assignment]
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/readyz")).status_code == 503


async def test_metrics_count_requests_events_and_inbox(client, deliver, change_body, clock):
    raw, headers = deliver("m1", change_body("customer", "1"), at=clock())
    await client.post("/webhooks/erp", content=raw, headers=headers)
    await client.post("/webhooks/erp", content=raw, headers=headers)
    await client.post("/webhooks/erp", content=b"{}", headers={"content-type": "application/json"})
    await client.post("/webhooks/garbage", content=b"{}", headers=headers)
    clock.advance(42)
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'connector_webhook_requests_total{system="erp",status="202"} 2' in text
    assert 'connector_webhook_requests_total{system="erp",status="401"} 1' in text
    assert 'connector_webhook_requests_total{system="unknown",status="404"} 1' in text
    assert 'connector_webhook_events_total{system="erp",outcome="new"} 1' in text
    assert 'connector_webhook_events_total{system="erp",outcome="duplicate"} 1' in text
    assert "connector_inbox_depth 1" in text
    assert "connector_inbox_lag_seconds 42.0" in text
    assert "# TYPE connector_http_requests_total counter" in text


async def test_openapi_is_published(client) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/webhooks/{system}"]["post"]
    assert set(operation["responses"]) >= {"202", "400", "401", "404", "413", "415"}
    assert {"healthz", "readyz", "metrics"} <= {path.strip("/") for path in document["paths"]}


async def raw_asgi_post(app, path: str, body: bytes, headers: dict[str, str]) -> int:
    """Send one request straight to the ASGI app, headers exactly as given."""
    sent = {"done": False}
    status: list[int] = []

    async def receive():
        if sent["done"]:
            return {"type": "http.disconnect"}
        sent["done"] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return status[0]
