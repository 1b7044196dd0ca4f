"""`/readyz` with a store that does not answer at all: 503 within 2 s, not when it times out."""

from __future__ import annotations

import threading
import time

import httpx

from connector.daemon.app import ReceiverDeps, create_app


class Silent:
    """A store whose ping waits until released (as a socket nobody answers on would)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def ping(self) -> bool:
        self.released.wait(30)
        return True

    def migrations_current(self) -> bool:
        return True


async def test_readyz_is_503_within_two_seconds_when_the_store_is_silent() -> None:
    store = Silent()
    app = create_app(ReceiverDeps(store=store, verifiers={}))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            started = time.monotonic()
            response = await http.get("/readyz")
            took = time.monotonic() - started
    finally:
        store.released.set()
    assert response.status_code == 503 and "did not answer" in response.json()["detail"]
    assert took < 2.0
