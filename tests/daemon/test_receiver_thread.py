"""The receiver's own loop: it answers while the daemon's main loop is blocked, and a port that
cannot be bound is reported instead of hanging the start."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn

from connector.daemon.app import ReceiverDeps, create_app
from connector.daemon.server import ReceiverThread


def receiver(deps: ReceiverDeps, port: int = 0) -> ReceiverThread:
    config = uvicorn.Config(
        create_app(deps), host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    return ReceiverThread(config)


async def test_it_answers_while_the_main_loop_is_blocked(sqlite_store, verifier) -> None:
    server = receiver(ReceiverDeps(store=sqlite_store, verifiers={"erp": verifier}))
    port = await server.start()
    assert port is not None
    answered: dict[str, float] = {}

    def probe() -> None:
        status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=60).status_code
        answered[str(status)] = time.monotonic()

    try:
        client = threading.Thread(target=probe)
        client.start()
        # The main loop held, as by a store call, until the probe is answered (the deadline only
        # against a hang): an answer that needed this loop could not come at all, however long
        # the machine's load makes the wait.
        client.join(60)
        assert list(answered) == ["200"]
    finally:
        await server.stop(5)


async def test_a_port_in_use_is_reported(sqlite_store, verifier) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = receiver(ReceiverDeps(store=sqlite_store, verifiers={"erp": verifier}), port)
        assert await server.start() is None
