"""`connector daemon` and `connector webhooks serve`: the long-running process.

Two event loops: uvicorn serves the receiver, health and metrics (on the configured host and
port, 127.0.0.1 unless configured otherwise) on a loop of its own in a thread
(`server.ReceiverThread`); the main loop runs the inbox worker and, for the daemon, the route
scheduler. The engine talks to the store synchronously on the main loop, so a store that stops
answering holds that loop up to its timeouts (`state.statement_timeout_seconds`), and a store a
network hop away holds it for every round trip; the HTTP side keeps answering meanwhile —
`/readyz` says 503 within 2 s, and no webhook is acknowledged late because a sync holds the main
loop — and keeps taking webhooks as far as the store lets it.
SIGTERM or SIGINT stops it in order:

1. the scheduler starts no new run and the worker claims no new batch;
2. uvicorn stops accepting connections and finishes the requests in flight;
3. running route syncs and the worker's current batch get `daemon.shutdown_grace_seconds` to
   finish; whatever is still running then is cancelled. A cancelled sync loses only its batch
   in hand (the cursor is checkpointed after every durable batch) and releases its lease; inbox
   events it had claimed stay `processing` and are put back to `pending` by whichever worker
   takes the inbox lease next;
4. the store and adapters are closed and the process exits 0.

A store whose server refuses a new connection mid-run (its password rotated, its account locked,
its database dropped: `StoreRefusedError`) stops the daemon the same orderly way, with exit
status 2 and the server's reason logged (`daemon.store_refused`), as one refused at start does:
waiting cannot fix it, and a supervisor restarting the process picks up a corrected config.
An outage (no answer, a TCP connection refused) is waited out as before.

`connector webhooks serve` is the same minus the scheduler: it receives webhooks and works the
inbox, and leaves scheduled polling to a daemon (or cron running `connector sync`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from connector import gctune
from connector.config import AppConfig, RouteConfig, load_config
from connector.daemon.app import create_app, deps_from_runtime
from connector.daemon.inbox import InboxWorker, RouteTarget
from connector.daemon.logging import configure_logging, log_event
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.retrier import FailureRetrier
from connector.daemon.scheduler import RouteScheduler
from connector.daemon.server import ReceiverThread, threadsafe
from connector.errors import ConfigurationError, StoreRefusedError

LOGGER = logging.getLogger("connector.daemon")
#: The exit status for a configuration a person must fix (the CLI's usage status, 2).
EXIT_CONFIGURATION = 2


def route_targets(routes: Sequence[RouteConfig]) -> list[RouteTarget]:
    return [
        RouteTarget(name=route.name, source=route.source, entities=frozenset(route.entities))
        for route in routes
    ]


async def serve(
    config: AppConfig,
    *,
    with_scheduler: bool,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
    own_process: bool = False,
    **runtime_options: Any,
) -> int:
    """Run until `stop` is set (or a signal sets it); the process exit status.

    `own_process`: the daemon owns the interpreter (the CLI), so process-wide tuning applies.
    """
    from connector.engine.service import SyncService
    from connector.runtime import Runtime

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    grace = config.daemon.shutdown_grace_seconds
    refusals: list[StoreRefusedError] = []

    def stop_refused(error: StoreRefusedError) -> None:
        if not refusals:
            refusals.append(error)
            log_event(LOGGER, "daemon.store_refused", logging.ERROR, message=str(error))
        stop.set()

    def refused(error: StoreRefusedError) -> None:  # on whichever thread met it
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
            loop.call_soon_threadsafe(stop_refused, error)

    try:
        async with Runtime.open(config, **runtime_options) as runtime:
            runtime.store.on_refusal(refused)
            service = SyncService(runtime)
            metrics = DaemonMetrics()
            worker = InboxWorker(
                store=runtime.store,
                sync=service,
                routes=route_targets(list(config.routes.values())),
                metrics=metrics,
                poll_seconds=config.daemon.inbox_poll_seconds,
                lease_ttl=dt.timedelta(seconds=config.daemon.lease_seconds),
            )
            deps = deps_from_runtime(runtime, metrics)
            deps.on_enqueued = threadsafe(worker.wake)  # called on the receiver's thread
            receiver = ReceiverThread(
                uvicorn.Config(
                    create_app(deps),
                    host=config.daemon.host,
                    port=config.daemon.port,
                    log_config=None,
                    lifespan="off",
                    access_log=False,
                )
            )
            scheduler = RouteScheduler(service, config.routes, metrics) if with_scheduler else None
            if own_process:
                # Start-up is done: what exists now lives as long as the process.
                gctune.for_process()
            port = await receiver.start()
            if port is None:
                # uvicorn could not bind (it logs why and exits its loop).
                log_event(LOGGER, "daemon.bind_failed", logging.ERROR, port=config.daemon.port)
                return 1
            if scheduler is not None:
                scheduler.start()
            worker_stop = asyncio.Event()
            worker_task = asyncio.create_task(worker.run(worker_stop))
            retrier_task = asyncio.create_task(asyncio.sleep(0))
            if with_scheduler and config.daemon.failure_retry_seconds:
                retrier = FailureRetrier(
                    runtime.store,
                    service,
                    config.daemon.failure_retry_seconds,
                    config.daemon.failure_retry_attempts,
                    metrics,
                )
                retrier_task = asyncio.create_task(retrier.run(worker_stop))
            log_event(
                LOGGER,
                "daemon.start",
                host=config.daemon.host,
                port=port,
                scheduled=scheduler.job_ids if scheduler else [],
                webhooks=sorted(deps.verifiers),
            )
            if on_ready is not None:
                on_ready(port)
            await stop.wait()
            log_event(LOGGER, "daemon.stopping", grace_seconds=grace)
            worker_stop.set()
            await asyncio.gather(
                scheduler.stop(grace) if scheduler else asyncio.sleep(0),
                _finish(worker_task, grace),
                _finish(retrier_task, grace),
                receiver.stop(grace),
            )
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    log_event(LOGGER, "daemon.stop")
    return EXIT_CONFIGURATION if refusals else 0


async def _finish(task: asyncio.Task[Any], grace: float) -> None:
    """Wait up to `grace` seconds for `task`, then cancel it."""
    _done, pending = await asyncio.wait({task}, timeout=grace)
    for late in pending:
        late.cancel()
        with contextlib.suppress(BaseException):
            await late
    if task.done() and not task.cancelled() and task.exception() is not None:
        error = task.exception()
        log_event(LOGGER, "daemon.task_failed", logging.ERROR, error_class=type(error).__name__)


def _main(config_path: Path, with_scheduler: bool) -> int:
    configure_logging()
    try:
        config = load_config(config_path)
        return asyncio.run(serve(config, with_scheduler=with_scheduler, own_process=True))
    except ConfigurationError as error:
        log_event(LOGGER, "daemon.config_error", logging.ERROR, message=str(error))
        return EXIT_CONFIGURATION


def run_daemon(config_path: Path) -> int:
    """`connector daemon`: scheduler, webhook receiver and inbox worker in one process."""
    return _main(config_path, with_scheduler=True)


def serve_webhooks(config_path: Path) -> int:
    """`connector webhooks serve`: the webhook receiver and inbox worker, no scheduler."""
    return _main(config_path, with_scheduler=False)
