"""The receiver's HTTP server on an event loop of its own, in its own thread.

The daemon's main loop runs the inbox worker and the scheduled syncs, and the engine talks to
the state store and SQL ERPs through blocking calls on that loop. Served from the same loop,
every webhook waited behind them: with a store a millisecond away, 50 concurrent senders got a
third of the throughput and twice the p99 of the receiver alone (bench/webhooks.py, daemon case),
and the issue's 82 deliveries/s at p50 406 ms is the same effect with a slower store. On its own
loop the receiver stops sharing those waits: a blocking call holds its own thread only (the
database drivers release the GIL while they wait), so acknowledging a webhook never queues
behind a sync.

What crosses threads is deliberately small: the store (a SQLAlchemy engine, thread-safe), the
verifiers (pure), the metrics counters, and the wake-up of the worker, which `ReceiverThread`
hands to the main loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

import uvicorn

#: How long a stopping server may take after the grace period before its thread is abandoned.
FORCE_EXIT_SECONDS = 5.0
#: Allocations between young collections (CPython's default is 700), and how many collections
#: of each generation before the next older one is collected (default 10, 10).


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon decides when the server stops.

    uvicorn re-raises a captured SIGTERM after serving, which would end the process with the
    signal's status instead of our clean exit 0 (and signals can only be caught in the main
    thread anyway).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ReceiverThread:
    """Runs uvicorn (`config`) in a daemon thread on a loop uvicorn creates (uvloop if present)."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = _Server(config)
        self._thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)

    def _run(self) -> None:
        # uvicorn raises SystemExit when it cannot bind; the thread just ends and `start` says so.
        with contextlib.suppress(BaseException):
            self.server.run()

    async def start(self) -> int | None:
        """Start serving; the bound port, or None if the server could not start."""
        self._thread.start()
        # uvicorn signals readiness only through this flag.
        while not self.server.started and self._thread.is_alive():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if not self.server.started:
            return None
        for listener in getattr(self.server, "servers", []):
            for sock in listener.sockets:
                return int(sock.getsockname()[1])
        return None

    async def stop(self, grace: float) -> None:
        """Stop accepting, give requests in flight `grace` seconds, then close them."""
        self.server.should_exit = True
        await asyncio.to_thread(self._thread.join, grace)
        if self._thread.is_alive():
            self.server.force_exit = True
            await asyncio.to_thread(self._thread.join, FORCE_EXIT_SECONDS)


def threadsafe(callback: Callable[[], None]) -> Callable[[], None]:
    """`callback` made callable from the receiver's thread: it runs on the current loop."""
    loop = asyncio.get_running_loop()

    def call() -> None:
        loop.call_soon_threadsafe(callback)

    return call
