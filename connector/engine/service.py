"""`SyncService`: what the CLI, the daemon and the inbox worker ask the engine to do.

Every operation runs under the route's lease (so two processes never sync one route at once),
is recorded in `runs`, and ends with a `RunSummary`:

* `run_route` — pull the route's changes since its cursors and sync them;
* `sync_ids` — re-read given records from the route's source and sync them now (webhook hints,
  `resync`, failure replays); a record missing at the source counts as deleted;
* `retry_failures` — replay pending failures through `sync_ids`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from asyncio import CancelledError
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from connector import gctune
from connector.adapter import NativeRecord
from connector.engine.blame import RunFailure
from connector.engine.lease import RunLease
from connector.engine.route_run import DEFAULT_OPTIONS, Progress, RouteRun, RunOptions
from connector.engine.summary import RunSummary
from connector.errors import (
    ConfigurationError,
    LeaseHeldError,
    LeaseLapsedError,
    LeaseLostError,
    StoreRefusedError,
    StoreUnavailableError,
)
from connector.model import ENTITY_ORDER, Entity
from connector.runtime import Runtime
from connector.state.connect import is_outage, outage_reason
from connector.state.store import Failure, Lease, RunStatus, StartedRun

log = logging.getLogger("connector.engine")


def holder_id() -> str:
    """Who holds a lease: host, process and a per-run nonce (two runs in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when a lease holder is a process on this host that no longer exists.

    A killed run cannot release its lease; on the same host we can tell it is gone instead of
    waiting for the lease to expire. Holders on other hosts are trusted until expiry.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def run_status(summary: RunSummary) -> str:
    return RunStatus.PARTIAL if summary.failed else RunStatus.SUCCEEDED


def outage_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the `attempt`-th look at a store that stopped answering.

    Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") over 1, 2, 4 … s,
    capped at 15 s: several daemons that lost one store do not come back in step.
    """
    return rng() * min(15.0, 2.0 ** max(0, attempt - 1)) + 0.2


@dataclass
class LeasedRun:
    """What a run holds while it runs: its summary, its lease and the runtime it writes with."""

    summary: RunSummary
    lease: RunLease
    #: The runtime whose store fences every transaction with the run's lease.
    runtime: Runtime


class SyncService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.lease_ttl = dt.timedelta(seconds=runtime.config.daemon.lease_seconds)
        self.outage_seconds = runtime.config.state.outage_seconds

    def _begin(self, route: str, holder: str, trigger: str, dry_run: bool) -> StartedRun:
        """Take the route's lease and record the run (one transaction: `begin_run`)."""
        # The lease is free (or ours to take) on almost every run: the holder is asked only
        # when it is not, and one that died on this host is let go before trying again.
        record = not dry_run
        begun = self.store.begin_run(route, trigger, holder, self.lease_ttl, record=record)
        name = f"route:{route}"
        if begun is None:
            previous = self.store.lease_holder(name)
            if previous is not None and holder_is_dead(previous):
                log.warning("taking over the lease of a dead process", extra={"holder": previous})
                self.store.release_lease(name, previous)
                begun = self.store.begin_run(route, trigger, holder, self.lease_ttl, record=record)
        if begun is None:
            other = self.store.lease_holder(name) or "another process"
            raise LeaseHeldError(f"route {route!r} is being synced by {other}")
        for run in begun.abandoned:
            log.warning(
                "marked a run abandoned",
                extra={"route": route, "run_id": run.id, "holder": run.holder},
            )
        return begun

    @asynccontextmanager
    async def _leased_run(
        self, route: str, trigger: str, dry_run: bool
    ) -> AsyncIterator[LeasedRun]:
        """Hold the route's lease, fence the run's writes with it, and record the run."""
        holder = holder_id()
        taken_at = time.monotonic()
        try:
            begun = self._begin(route, holder, trigger, dry_run)
        except Exception as error:
            # Nothing was taken: the lease and the run's record commit together or not at all.
            if is_outage(error):
                raise _store_error(error) from None
            raise
        lease = begun.lease
        summary = RunSummary(route)
        summary.run_id = begun.run_id
        guard = RunLease(
            self.store, lease, self.lease_ttl, run_id=summary.run_id, taken_at=taken_at
        )
        owner = asyncio.current_task()
        keeper = asyncio.create_task(guard.keep(owner))
        try:
            with gctune.fewer_collections():
                yield LeasedRun(
                    summary, guard, replace(self.runtime, store=self.store.fenced(guard))
                )
            summary.status = run_status(summary)
        except BaseException as error:
            replacement: BaseException | None = None
            if guard.cancelled_owner and owner is not None and isinstance(error, CancelledError):
                owner.uncancel()
                if not owner.cancelling():  # the keeper's cancel, nobody else's: a lost lease
                    replacement = LeaseLostError(guard.problem() or "the route's lease was lost")
            elif is_outage(error):
                replacement = _store_error(error)
            summary.status, summary.error = _outcome(replacement or error)
            if replacement is not None:
                raise replacement from None
            raise
        finally:
            guard.released = True
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await asyncio.to_thread(self._finish, summary, lease)
            log.info(
                "run finished",
                extra={
                    "route": route,
                    "trigger": trigger,
                    "status": summary.status,
                    "counts": summary.as_json(),
                },
            )

    def _finish(self, summary: RunSummary, lease: Lease) -> None:
        """Record the outcome and let go of the lease; a store that is away cannot stop this.

        Both in one transaction (`end_run`). A run whose outcome could not be written stays
        `running` (and its lease held until it expires) until the next process takes the route
        and marks it `abandoned`.
        """
        try:
            self.store.end_run(
                summary.run_id, summary.status, summary.as_json(), summary.error, lease
            )
        except Exception as error:
            # A refused store fails the run already (with this same error): let that one out.
            if not is_outage(error) and not isinstance(error, StoreRefusedError):
                raise
            log.warning(
                "could not record the end of a run: the store refused the connection"
                if isinstance(error, StoreRefusedError)
                else "could not record the end of a run: the store is not answering",
                extra={"run_id": summary.run_id, "status": summary.status},
            )

    async def run_route(
        self,
        route: str,
        *,
        trigger: str = "cli",
        entities: Sequence[Entity] | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
        progress: Progress | None = None,
    ) -> RunSummary:
        config = self.runtime.config.route(route)
        chosen = config.ordered_entities()
        if entities:
            unknown = [entity for entity in entities if entity not in config.entities]
            if unknown:
                names = ", ".join(entity.value for entity in unknown)
                raise ConfigurationError(f"route {route!r} does not carry {names}")
            chosen = [entity for entity in chosen if entity in entities]
        async with self._leased_run(route, trigger, options.dry_run) as leased:

            async def sync_all() -> None:
                # A fresh run object per attempt: it re-reads cursors and bindings.
                run = RouteRun(
                    leased.runtime, config, leased.summary, options, progress, leased.lease.check
                )
                for entity in chosen:
                    leased.summary.entity(entity)
                    await run.sync_entity(entity)

            await ride_out_outages(
                leased.lease, sync_all, route=route, outage_seconds=self.outage_seconds
            )
        return leased.summary

    async def sync_ids(
        self,
        route: str,
        entity: Entity,
        external_ids: Sequence[str],
        *,
        trigger: str = "webhook",
        force: bool = False,
        dry_run: bool = False,
    ) -> RunSummary:
        config = self.runtime.config.route(route)
        if entity not in config.entities:
            raise ConfigurationError(f"route {route!r} does not carry {entity.value}")
        async with self._leased_run(route, trigger, dry_run) as leased:
            summary = leased.summary
            options = RunOptions(dry_run=dry_run, force=force)
            run = RouteRun(leased.runtime, config, summary, options, None, leased.lease.check)
            summary.entity(entity)
            source = self.runtime.adapters[config.source]
            found = await source.read(entity, list(external_ids))
            present = {record.id for record in found}
            now = dt.datetime.now(dt.UTC)
            gone = [
                NativeRecord(id=external_id, updated_at=now, fields={}, deleted=True)
                for external_id in external_ids
                if external_id not in present
            ]
            await run.sync_page(entity, [*found, *gone])
        return summary

    async def retry_failures(
        self, failures: Sequence[Failure], *, trigger: str = "cli"
    ) -> list[RunSummary]:
        """Replay failures, grouped by route and entity; the record is re-read from its source."""
        groups: dict[tuple[str, str], list[str]] = {}
        for failure in failures:
            groups.setdefault((failure.route, failure.entity), []).append(failure.external_id)
        summaries = []
        order = {entity.value: position for position, entity in enumerate(ENTITY_ORDER)}
        for (route, entity), ids in sorted(groups.items(), key=lambda g: (g[0][0], order[g[0][1]])):
            summaries.append(await self.sync_ids(route, Entity(entity), ids, trigger=trigger))
        return summaries


def _store_error(error: BaseException) -> StoreUnavailableError:
    return StoreUnavailableError(f"the state store is not answering: {outage_reason(error)}")


def _outcome(error: BaseException) -> tuple[str, str]:
    """The run status and error text a run that raised `error` ends with.

    The text is a `RunFailure` (blame.py): the message with the system and step it came from.
    """
    message = RunFailure.of(error).to_text()
    if isinstance(error, KeyboardInterrupt | GeneratorExit | CancelledError):
        return RunStatus.INTERRUPTED, message
    if isinstance(error, LeaseLostError):
        return RunStatus.LEASE_LOST, message
    if isinstance(error, StoreUnavailableError) or is_outage(error):
        return RunStatus.STORE_UNAVAILABLE, RunFailure.of(_store_error(error)).to_text()
    return RunStatus.FAILED, message


async def ride_out_outages(
    lease: RunLease, work: Callable[[], Awaitable[None]], *, route: str, outage_seconds: float
) -> None:
    """Run `work`; while the store is away, wait and run it again (it resumes from the last
    checkpoint), for at most `outage_seconds`, and only while `lease` is ours. A lease that ran
    out here with no renewal refused yet (`LeaseLapsedError`) is handled the same way: the
    renewal before the next attempt says whether it is still ours.
    """
    deadline = 0.0  # set when the store first fails: the budget is for the outage
    attempt, delay = 0, 0.0
    while True:
        try:
            if attempt:
                await asyncio.sleep(delay)
                await _reclaim(lease)
            await work()
            return
        except Exception as error:
            # A lapse nobody is known to have caused is asked about like an outage: the
            # reclaim's renewal says whether the lease is still ours, taken, or unanswered.
            if not is_outage(error) and not isinstance(
                error, StoreUnavailableError | LeaseLapsedError
            ):
                raise
            attempt += 1
            if attempt == 1:
                deadline = time.monotonic() + outage_seconds
            delay = outage_delay(attempt)
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "the run's lease ran out before it could be renewed; asking the store whether "
                "it is still ours"
                if isinstance(error, LeaseLapsedError)
                else "the state store is not answering; waiting to resume",
                extra={"route": route, "retry_in": round(delay, 1)},
            )


async def _reclaim(lease: RunLease) -> None:
    """After an outage: keep the lease if nobody took it meanwhile, else stop the run."""
    if not lease.lapsed():
        return
    renewed = await lease.renew()
    if lease.refused is not None:
        raise StoreRefusedError(str(lease.refused))
    if lease.taken_over:
        raise LeaseLostError(lease.problem() or "the route's lease was taken over")
    if not renewed:
        raise StoreUnavailableError("the state store is still not answering")
