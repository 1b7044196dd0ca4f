"""`SyncService`: what the CLI, the daemon and the inbox worker ask the engine to do.

Every operation runs under the route's lease (so two processes never sync one route at once),
is recorded in `runs`, and ends with a `RunSummary`:

* `run_route` — pull the route's changes since its cursors and sync them;
* `sync_ids` — re-read given records from the route's source and sync them now (webhook hints,
  `resync`, failure replays); a record missing at the source counts as deleted;
* `retry_failures` — replay pending failures through `sync_ids`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from connector.adapter import NativeRecord
from connector.engine.route_run import DEFAULT_OPTIONS, Progress, RouteRun, RunOptions
from connector.engine.summary import RunSummary
from connector.errors import ConfigurationError, LeaseHeldError
from connector.model import ENTITY_ORDER, Entity
from connector.runtime import Runtime
from connector.state.store import Failure

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
    return "partial" if summary.failed else "succeeded"


class SyncService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.lease_ttl = dt.timedelta(seconds=runtime.config.daemon.lease_seconds)

    @contextmanager
    def _leased_run(
        self, route: str, trigger: str, dry_run: bool
    ) -> Iterator[tuple[RunSummary, Callable[[], None]]]:
        """Hold the route's lease and record the run in `runs` for the duration of the block."""
        lease, holder = f"route:{route}", holder_id()
        previous = self.store.lease_holder(lease)
        if previous is not None and holder_is_dead(previous):
            log.warning("taking over the lease of a dead process", extra={"holder": previous})
            self.store.release_lease(lease, previous)
        if not self.store.acquire_lease(lease, holder, self.lease_ttl):
            other = self.store.lease_holder(lease) or "another process"
            raise LeaseHeldError(f"route {route!r} is being synced by {other}")
        summary = RunSummary(route)
        summary.run_id = None if dry_run else self.store.start_run(route, trigger)
        try:
            yield summary, lambda: self._renew(lease, holder)
            summary.status = run_status(summary)
        except BaseException as error:
            summary.status = (
                "interrupted" if isinstance(error, KeyboardInterrupt | GeneratorExit) else "failed"
            )
            summary.error = str(error) or type(error).__name__
            raise
        finally:
            if summary.run_id is not None:
                self.store.finish_run(
                    summary.run_id, summary.status, summary.as_json(), summary.error
                )
            self.store.release_lease(lease, holder)
            log.info(
                "run finished",
                extra={
                    "route": route,
                    "trigger": trigger,
                    "status": summary.status,
                    "counts": summary.as_json(),
                },
            )

    def _renew(self, lease: str, holder: str) -> None:
        if not self.store.acquire_lease(lease, holder, self.lease_ttl):
            raise LeaseHeldError(f"lost the lease {lease!r} to another process")

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
        with self._leased_run(route, trigger, options.dry_run) as (summary, renew):
            run = RouteRun(self.runtime, config, summary, options, progress, renew)
            for entity in chosen:
                summary.entity(entity)
                await run.sync_entity(entity)
        return summary

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
        with self._leased_run(route, trigger, dry_run) as (summary, renew):
            options = RunOptions(dry_run=dry_run, force=force)
            run = RouteRun(self.runtime, config, summary, options, None, renew)
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
