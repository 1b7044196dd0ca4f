"""Write: a batch of planned writes to the target, up to `max_in_flight` batches at once.

Every record of the batch comes back with the target's answer (an `Outcome`): a batch whose
call failed for now (its retries spent) fails its own records, retryably, and the other
batches go on; any other error stops the run. A dry run writes nothing and reports what it
would write (`plan_only`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from connector.adapter import Adapter, NativeWrite, WriteResult
from connector.engine.prepare import Outgoing
from connector.engine.resolver import BindingResolver
from connector.engine.stages.calls import failed_for_now
from connector.engine.summary import EntityCounts, PlannedChange, RunSummary
from connector.errors import RecordError
from connector.model import Entity

#: A record with the target's answer to its write.
Outcome = tuple[Outgoing, WriteResult]


def whole_batch_failed(writes: Sequence[NativeWrite], error: Exception) -> list[WriteResult]:
    """Results for a batch whose call failed as a whole once its retries were spent.

    The call may have been the write or something it needed first (a metadata lookup such as
    an owners list): either way only this batch's records are affected. They go to `failures`
    as retryable — the daemon replays them with backoff — and the other batches go on.
    """
    reason = RecordError(
        f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
        code="BATCH_FAILED",
        retryable=True,
    )
    return [WriteResult(write.key, None, error=reason) for write in writes]


class Writer:
    def __init__(self, target: Adapter, check_lease: Callable[[], None]) -> None:
        self.target = target
        #: Raises `LeaseLostError` once the route's lease is not ours: called before each push.
        self.check_lease = check_lease
        self._slots = asyncio.Semaphore(target.capabilities.max_in_flight)

    async def write(self, entity: Entity, batch: Sequence[Outgoing]) -> list[Outcome]:
        writes = [item.write for item in batch if item.write is not None]
        async with self._slots:
            self.check_lease()
            try:
                results = await self.target.upsert(entity, writes)
            except Exception as call_error:
                if not failed_for_now(call_error):
                    raise
                results = whole_batch_failed(writes, call_error)
        by_key = {result.key: result for result in results}
        return [
            (
                item,
                by_key.get(item.key)
                or WriteResult(
                    item.key,
                    None,
                    error=RecordError("the target returned no result", code="NO_RESULT"),
                ),
            )
            for item in batch
        ]


def plan_only(
    entity: Entity,
    writes: Sequence[Outgoing],
    target_refs: BindingResolver,
    summary: RunSummary,
    counts: EntityCounts,
) -> None:
    """A dry run's write: each planned change goes to the summary instead of the target."""
    for item in writes:
        action = "create" if item.plan.create else "update"
        if item.plan.create:  # children planned later in this dry run refer to it
            target_refs.learn(entity, item.key, f"(new {entity.value})")
        summary.planned.append(
            PlannedChange(entity, item.native.id, action, sorted(item.plan.paths))
        )
        setattr(counts, f"{action}d", getattr(counts, f"{action}d") + 1)
