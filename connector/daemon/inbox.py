"""The inbox worker: turns stored webhook events into syncs of the records they name.

An event is only a hint that a record changed. The worker never applies what an event says; it
asks the engine to re-read the record from its source and sync it (`SyncService.sync_ids`),
so events arriving late, twice or out of order cannot put stale data anywhere. Events for the
same (source, entity, record) in one claimed batch collapse into one sync of that record, and
all records of one (source, entity) go in one `sync_ids` call per route carrying that entity.

One worker at a time drains (the `inbox-worker` lease), so two daemons on one store never
requeue each other's claimed events; the other daemons' workers wait and take over when the
holder stops or dies.

A failed sync puts its events back with a growing delay; after `Backoff.max_attempts` they end
as `failed` in the inbox and as rows in `failures` with the reason. A route whose lease is held
(a scheduled run of it is going on) is not a failure: its events are simply tried again soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import random
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

from connector.daemon.logging import log_event
from connector.daemon.metrics import DaemonMetrics
from connector.engine.summary import RunSummary
from connector.errors import LeaseHeldError
from connector.model import Entity
from connector.state.store import InboxEvent

LOGGER = logging.getLogger("connector.daemon.inbox")
#: One worker drains the inbox at a time, whichever daemon it runs in.
INBOX_LEASE = "inbox-worker"


class HintSync(Protocol):
    """The part of `SyncService` the worker drives."""

    async def sync_ids(
        self, route_name: str, entity: Entity, external_ids: Sequence[str], *, trigger: str = ...
    ) -> RunSummary: ...


class FailureTx(Protocol):
    def record_failure(
        self,
        route: str,
        entity: str,
        external_id: str,
        *,
        key: str | None,
        stage: str,
        error: BaseException,
        payload: Any,
        retryable: bool,
        next_retry_at: dt.datetime | None = None,
    ) -> None: ...


class WorkerStore(Protocol):
    """The part of `StateStore` the worker uses."""

    clock: Callable[[], dt.datetime]

    def claim_events(self, limit: int = 100) -> list[InboxEvent]: ...

    def complete_events(self, ids: Sequence[int]) -> None: ...

    def retry_event(self, event_id: int, error: str, at: dt.datetime | None) -> None: ...

    def requeue_stale_events(self) -> int: ...

    def acquire_lease(self, name: str, holder: str, ttl: dt.timedelta) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """What the worker needs to know of a route: where it reads and which entities it carries."""

    name: str
    source: str
    entities: frozenset[Entity]


@dataclass(frozen=True, slots=True)
class HintGroup:
    """The events of one batch for one (source, entity): one `sync_ids` call per route."""

    source: str
    #: None for an entity name this version does not know (then no route takes it).
    entity: Entity | None
    external_ids: tuple[str, ...]
    events: tuple[InboxEvent, ...]
    routes: tuple[str, ...]


def group_events(events: Iterable[InboxEvent], routes: Sequence[RouteTarget]) -> list[HintGroup]:
    """Collapse a batch: each record once per (source, entity), with the routes that take it."""
    grouped: dict[tuple[str, str], tuple[dict[str, None], list[InboxEvent]]] = {}
    for event in events:
        ids, members = grouped.setdefault((event.source, event.entity), ({}, []))
        ids.setdefault(event.external_id, None)
        members.append(event)
    result = []
    for (source, entity_name), (ids, members) in grouped.items():
        try:
            entity: Entity | None = Entity(entity_name)
        except ValueError:
            entity = None
        targets = tuple(
            route.name
            for route in routes
            if entity is not None and route.source == source and entity in route.entities
        )
        result.append(
            HintGroup(
                source=source,
                entity=entity,
                external_ids=tuple(ids),
                events=tuple(members),
                routes=targets,
            )
        )
    return result


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: exponential, capped, with "equal jitter".

    Equal jitter (half the exponential delay fixed, half random) is from the AWS Architecture
    Blog's "Exponential Backoff and Jitter"; it spreads retries without ever retrying at once.
    """

    base_seconds: float = 2.0
    cap_seconds: float = 300.0
    max_attempts: int = 8
    #: How soon to try again when the route's lease is held by a running sync.
    busy_seconds: float = 1.0

    def delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait after the `attempts`-th failed attempt; None once they are used up."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        return ceiling / 2 + rng() * ceiling / 2


def record_counts(summary: RunSummary) -> dict[str, int]:
    """Records of a run by outcome, over all its entities."""
    totals: dict[str, int] = {}
    for counts in summary.counts.values():
        for outcome, count in dataclasses.asdict(counts).items():
            totals[outcome] = totals.get(outcome, 0) + int(count)
    return totals


def _reason(error: BaseException) -> str:
    # Our own errors promise messages without secrets; anything else is named by class only.
    from connector.errors import ConnectorError

    if isinstance(error, ConnectorError) and str(error):
        return f"{type(error).__name__}: {error}"[:500]
    return type(error).__name__


@dataclass
class InboxWorker:
    store: WorkerStore
    sync: HintSync
    routes: Sequence[RouteTarget]
    metrics: DaemonMetrics = field(default_factory=DaemonMetrics)
    backoff: Backoff = field(default_factory=Backoff)
    batch_size: int = 200
    poll_seconds: float = 1.0
    rng: Callable[[], float] = random.random
    #: This worker's name in the `leases` table (host, process, nonce).
    holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
    )
    lease_ttl: dt.timedelta = dt.timedelta(seconds=120)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _holding: bool = field(default=False, init=False)

    def wake(self) -> None:
        """New events are in the inbox: stop waiting for the next poll."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Claim one batch of due events and handle it; the number of events claimed."""
        events = await asyncio.to_thread(self.store.claim_events, self.batch_size)
        if not events:
            return 0
        groups = group_events(events, self.routes)
        for number, group in enumerate(groups):
            if number and self._holding and not await self.hold_lease():
                # Another worker took over (ours expired): what is left stays `processing`
                # and the new holder requeued it when it took the lease.
                break
            await self._handle(group)
        log_event(
            LOGGER,
            "inbox.batch",
            events=len(events),
            records=sum(len(group.external_ids) for group in groups),
        )
        return len(events)

    async def _handle(self, group: HintGroup) -> None:
        event_ids = [event.id for event in group.events]
        if not group.routes or group.entity is None:
            # No route reads this entity from this system: nothing to sync, nothing to keep.
            await asyncio.to_thread(self.store.complete_events, event_ids)
            self.metrics.inbox_outcome("ignored", len(event_ids))
            return
        for route in group.routes:
            try:
                summary = await self.sync.sync_ids(
                    route, group.entity, list(group.external_ids), trigger="webhook"
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._retry(group, route, error)
                return
            self.metrics.run_finished(
                route,
                "webhook",
                summary.status,
                record_counts(summary),
                self.store.clock().timestamp(),
            )
        await asyncio.to_thread(self.store.complete_events, event_ids)
        self.metrics.inbox_outcome("done", len(event_ids))

    async def _retry(self, group: HintGroup, route: str, error: Exception) -> None:
        assert group.entity is not None
        reason = _reason(error)
        now = self.store.clock()
        given_up: list[InboxEvent] = []
        for event in group.events:
            if isinstance(error, LeaseHeldError):
                delay: float | None = self.backoff.busy_seconds
            else:
                delay = self.backoff.delay(event.attempts, self.rng)
            at = None if delay is None else now + dt.timedelta(seconds=delay)
            await asyncio.to_thread(self.store.retry_event, event.id, reason, at)
            if at is None:
                given_up.append(event)
        retried = len(group.events) - len(given_up)
        if retried:
            self.metrics.inbox_outcome("retried", retried)
        if given_up:
            self.metrics.inbox_outcome("failed", len(given_up))
            await asyncio.to_thread(self._record_failures, route, group.entity, given_up, error)
        log_event(
            LOGGER,
            "inbox.failed" if given_up else "inbox.retry",
            logging.WARNING,
            route=route,
            entity=str(group.entity),
            records=len(group.external_ids),
            retried=retried,
            gave_up=len(given_up),
            reason=reason,
        )

    def _record_failures(
        self, route: str, entity: Entity, events: Sequence[InboxEvent], error: Exception
    ) -> None:
        with self.store.transaction() as tx:
            for external_id in _unique(event.external_id for event in events):
                tx.record_failure(
                    route,
                    str(entity),
                    external_id,
                    key=None,
                    stage="webhook",
                    error=error,
                    payload={"source": events[0].source, "external_id": external_id},
                    retryable=True,
                )

    async def hold_lease(self) -> bool:
        """Take or renew the inbox lease; taking it afresh requeues what a dead holder left.

        Only the holder drains, so events another live daemon has claimed are never put back
        under it; a holder that died stops renewing, and its lease runs out after `lease_ttl`.
        """
        held = await asyncio.to_thread(
            self.store.acquire_lease, INBOX_LEASE, self.holder, self.lease_ttl
        )
        if held and not self._holding:
            requeued = await asyncio.to_thread(self.store.requeue_stale_events)
            if requeued:
                log_event(LOGGER, "inbox.requeued", events=requeued)
        self._holding = held
        return held

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set; the batch in hand is finished before returning."""
        try:
            while not stop.is_set():
                try:
                    handled = await self.drain_once() if await self.hold_lease() else 0
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the store being briefly away must not end this
                    log_event(
                        LOGGER, "inbox.error", logging.ERROR, error_class=type(error).__name__
                    )
                    handled = 0
                if handled == 0:
                    await _wait_any(stop, self._wake, self.poll_seconds)
                    self._wake.clear()
        finally:
            if self._holding:
                self._holding = False
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.release_lease, INBOX_LEASE, self.holder)


def _unique(values: Iterable[str]) -> Iterator[str]:
    return iter(dict.fromkeys(values))


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
