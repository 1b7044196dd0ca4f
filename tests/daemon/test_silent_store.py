"""`/readyz` with a store that does not answer at all: 503 on the probe's own deadline
(`READY_TIMEOUT_SECONDS`), not when the store's ping gives up."""

from __future__ import annotations

import threading
import time

import httpx

from connector.daemon.app import READY_TIMEOUT_SECONDS, ReceiverDeps, create_app


class Silent:
    """A store whose ping waits until released (as a socket nobody answers on would)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def ping(self) -> bool:
        self.released.wait(30)
        return True

    def migrations_current(self) -> bool:
        return True


async def test_readyz_is_503_on_its_own_deadline_when_the_store_is_silent() -> None:
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
    # The text only the probe's deadline writes, and an answer long before the silent ping's
    # 30 s: how close to 1.5 s it comes on a loaded machine is bench/, not a test's, business.
    assert response.status_code == 503
    assert response.json()["detail"] == f"store did not answer within {READY_TIMEOUT_SECONDS:g} s"
    assert took < 15
