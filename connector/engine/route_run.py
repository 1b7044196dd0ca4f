"""One run of one route, entity by entity in dependency order.

For each page the source yields: map native → canonical (resolving references through bindings,
syncing a missing parent first), match unbound records on natural keys, diff against what was
last synced, push the changes in the target's batch size with several batches in flight, record
per-record results, and move the cursor only past pages whose every record is durably handled
(synced, unchanged, or in `failures`). Commits happen here, per batch, never inside a decision.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from connector.adapter import Adapter, NativeRecord, NativeWrite, WriteResult
from connector.batching import chunked
from connector.config import DeletePolicy, MissingPolicy, RouteConfig
from connector.engine.blame import Blamed
from connector.engine.decide import (
    advance_watermark,
    dedupe_latest,
    may_create,
    merged_snapshot,
    observed_snapshot,
    pull_since,
)
from connector.engine.prepare import (
    Failed,
    Outgoing,
    Prepared,
    as_failure,
    missing_value,
    new_key,
    plan_for,
    report_withheld,
    unrepresentable,
)
from connector.engine.resolver import BindingResolver
from connector.engine.summary import EntityCounts, PlannedChange, RunSummary
from connector.errors import (
    AwaitingTarget,
    QuotaExhaustedError,
    RecordError,
    StoreUnavailableError,
    TransientError,
)
from connector.mapping.contract import EntityMapper
from connector.model import Entity, Record, path_value, record_type
from connector.runtime import Runtime
from connector.state.store import StoreConflict, StoreTx

log = logging.getLogger("connector.engine")

#: How deep a chain of "sync the parent first" may go (contact → customer is one level).
MAX_PARENT_DEPTH = 3

Progress = Callable[[Entity, EntityCounts], None]


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    #: Write every mapped field even if the snapshot says it is unchanged (`resync`).
    force: bool = False
    full: bool = False
    since: dt.datetime | None = None


DEFAULT_OPTIONS = RunOptions()


def failed_for_now(error: BaseException) -> bool:
    """A call to a system failed in a way a later retry may not (its own retries are spent).

    Not the state store being away: that stops the run (see `SyncService`).
    """
    passing = isinstance(error, TransientError | QuotaExhaustedError)
    return passing and not isinstance(error, StoreUnavailableError)


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


class RouteRun:
    def __init__(
        self,
        runtime: Runtime,
        route: RouteConfig,
        summary: RunSummary,
        options: RunOptions = DEFAULT_OPTIONS,
        progress: Progress | None = None,
        check_lease: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.route = route
        self.summary = summary
        self.options = options
        self.progress = progress
        #: Raises `LeaseLostError` once the route's lease is not ours: called before each push
        #: (the store fences every commit itself).
        self.check_lease = check_lease or (lambda: None)
        # Failures escaping these name the system and the step (blame.py).
        self.source: Adapter = cast(Adapter, Blamed(runtime.adapters[route.source], route.source))
        self.target: Adapter = cast(Adapter, Blamed(runtime.adapters[route.target], route.target))
        self.source_refs = BindingResolver(self.store, route.source)
        self.target_refs = BindingResolver(self.store, route.target)
        source_kind = runtime.config.systems[route.source].kind
        self.source_names = frozenset({route.source, source_kind})
        self.signpost = dt.datetime.now(dt.UTC)
        routes = runtime.config.routes.values()
        self.source_is_a_target = any(other.target == route.source for other in routes)
        self._slots = asyncio.Semaphore(self.target.capabilities.max_in_flight)
        # Records this run has handled already: a parent that failed once is not tried again
        # for each of its children.
        self._handled: set[tuple[Entity, str]] = set()

    def mapper(self, system: str, entity: Entity) -> EntityMapper:
        return self.runtime.mappers.for_system(system, entity)

    # -- whole entities ------------------------------------------------------------------------

    async def sync_entity(self, entity: Entity) -> None:
        """Pull every change since the cursor and sync it, checkpointing page by page."""
        await self._ask_after_awaiting(entity)
        options = self.route.entities[entity]
        if self.options.since is not None:
            since: dt.datetime | None = self.options.since
            watermark = None
        else:
            watermark = None if self.options.full else self.store.cursor(self.route.name, entity)
            since = pull_since(watermark, dt.timedelta(seconds=options.overlap_seconds))
        pending: deque[tuple[list[dt.datetime], asyncio.Task[None]]] = deque()
        try:
            async for page in self.source.read_changes(entity, since):
                records = list(page.records)
                task = asyncio.create_task(self.sync_page(entity, records))
                pending.append(([record.updated_at for record in records], task))
                watermark = await self._checkpoint(entity, pending, watermark, wait=False)
                # Bound the pipeline: a slow target must not let pages pile up in memory.
                while len(pending) > self.target.capabilities.max_in_flight:
                    watermark = await self._checkpoint(entity, pending, watermark, wait=True)
            while pending:
                watermark = await self._checkpoint(entity, pending, watermark, wait=True)
        finally:
            for _, task in pending:
                task.cancel()
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)

    async def _ask_after_awaiting(self, entity: Entity) -> None:
        """Records the target accepted but has not confirmed yet (a staging row the ERP's import
        job has still to process) are written again first: the target answers with the record
        it made (bound now), its refusal (a failure for good), or that it is still waiting."""
        if self.options.dry_run:
            return
        waiting = [
            failure.external_id
            for failure in self.store.failures(route=self.route.name)
            if failure.entity == entity.value and failure.code == AwaitingTarget.CODE
        ]
        for ids in chunked(waiting, self.target.capabilities.batch_size):
            found = await self.source.read(entity, list(ids))
            if found:
                await self.sync_page(entity, found)

    async def _checkpoint(
        self,
        entity: Entity,
        pending: deque[tuple[list[dt.datetime], asyncio.Task[None]]],
        watermark: dt.datetime | None,
        *,
        wait: bool,
    ) -> dt.datetime | None:
        """Move the cursor past the finished pages at the front of the pipeline, in order."""
        if wait and pending:
            await asyncio.wait({pending[0][1]})
        while pending and pending[0][1].done():
            stamps, task = pending.popleft()
            task.result()  # a page that failed as a whole stops the run here
            watermark = advance_watermark(watermark, stamps, self.signpost)
            if not self.options.dry_run and self.options.since is None:
                with self.store.transaction() as tx:
                    tx.set_cursor(self.route.name, entity, watermark)
            self.check_lease()
        return watermark

    # -- one page --------------------------------------------------------------------------------

    async def sync_page(
        self, entity: Entity, records: Sequence[NativeRecord], depth: int = 0
    ) -> None:
        records = dedupe_latest(records, lambda record: record.id)
        self._handled.update((entity, record.id) for record in records)
        prepared = await self.prepare(entity, records, depth)
        counts = self.summary.entity(entity)
        self._commit_failures(entity, prepared.failed)
        counts.failed += len(prepared.failed)
        counts.unchanged += len(prepared.unchanged)
        counts.skipped += len(prepared.skipped)
        await self._apply_deletes(entity, prepared.deleted, counts)
        writes = prepared.writes
        if self.options.dry_run:
            for item in writes:
                action = "create" if item.plan.create else "update"
                if item.plan.create:  # children planned later in this dry run refer to it
                    self.target_refs.learn(entity, item.key, f"(new {entity.value})")
                self.summary.planned.append(
                    PlannedChange(entity, item.native.id, action, sorted(item.plan.paths))
                )
                setattr(counts, f"{action}d", getattr(counts, f"{action}d") + 1)
            self._report(entity)
            return
        batches = chunked(writes, self.target.capabilities.batch_size)
        await asyncio.gather(*(self._push(entity, batch) for batch in batches))
        self._report(entity)

    def _report(self, entity: Entity) -> None:
        if self.progress is not None:
            self.progress(entity, self.summary.entity(entity))

    async def prepare(
        self, entity: Entity, records: Sequence[NativeRecord], depth: int
    ) -> Prepared:
        prepared = Prepared()
        live = [record for record in records if not record.deleted]
        prepared.deleted = [record for record in records if record.deleted]
        source_mapper = self.mapper(self.route.source, entity)
        target_mapper = self.mapper(self.route.target, entity)

        await self._resolve_source_parents(source_mapper, live, depth)
        mapped: list[tuple[NativeRecord, Record]] = []
        for native in live:
            if native.problem is not None:  # the adapter could not read it whole
                prepared.failed.append(Failed(native, None, "read", native.problem))
                continue
            try:
                mapped.append((native, source_mapper.to_canonical(native, self.source_refs)))
            except Exception as error:  # a bad record must not stop its page
                prepared.failed.append(as_failure(native, None, "map", error))

        self.source_refs.load_external_ids(entity, [native.id for native, _ in mapped])
        keyed = await self._assign_keys(entity, mapped, target_mapper)
        keys = [key for _, _, key in keyed]
        bindings = self.store.bindings_for(entity, self.route.target, keys)
        # What the source held when last synced: only kept on routes that also write into it.
        source_bindings = (
            self.store.bindings_for(entity, self.route.source, keys)
            if self.source_is_a_target
            else {}
        )
        for _, _, key in keyed:
            if key in bindings:
                self.target_refs.learn(entity, key, bindings[key].external_id)
        await self._resolve_target_parents(entity, [record for _, record, _ in keyed], depth)

        # Either file may name a path's owner: each system's file says what it is master of.
        owners = {
            path: target_mapper.owner(path) or source_mapper.owner(path)
            for path in target_mapper.outbound_fields
        }
        owner_of = owners.get

        create_conditions = self.route.entities[entity].create_conditions()
        missing_policy = self.route.entities[entity].missing_values
        withheld: dict[str, list[str]] = {}
        for native, record, key in keyed:
            binding = bindings.get(key)
            source_binding = source_bindings.get(key)
            item = plan_for(
                record,
                native,
                key=key,
                target_id=binding.external_id if binding else None,
                snapshot=binding.snapshot if binding else None,
                target_updated=binding.remote_updated_at if binding else None,
                target_paths=target_mapper.outbound_fields,
                source_names=self.source_names,
                owner_of=owner_of,
                force=self.options.force,
                source_snapshot=source_binding.snapshot if source_binding else None,
            )
            if item.plan.withheld:
                if missing_policy is MissingPolicy.FAIL:
                    missing = missing_value(item, self.route.source, self.route.target)
                    prepared.failed.append(Failed(native, key, "diff", missing))
                    continue
                for path in item.plan.withheld:
                    withheld.setdefault(path, []).append(native.id)
            if item.plan.create and (
                create_conditions is None or not may_create(item.flat, create_conditions)
            ):
                prepared.skipped.append(item)
                continue
            if not item.plan.empty:
                try:
                    fields = target_mapper.to_native(
                        record, self.target_refs, create=item.plan.create, paths=item.plan.paths
                    )
                except Exception as error:
                    prepared.failed.append(as_failure(native, key, "map", error))
                    continue
                native_of = target_mapper.native_field
                lost = unrepresentable(
                    item.flat, item.plan.paths, fields, native_of, record.references
                )
                if lost:
                    item.unrepresentable = lost
                    for path in lost:
                        fields.pop(target_mapper.native_field(path) or "", None)
                        withheld.setdefault(path, []).append(native.id)
                    if item.plan.paths <= lost:
                        prepared.outgoing.append(item)
                        continue
                item.write = NativeWrite(key, item.target_id, fields, source_id=native.id)
            prepared.outgoing.append(item)
        self._record_source(entity, prepared.outgoing)
        report_withheld(entity, withheld, self.route.source, self.route.target, self.route.name)
        return prepared

    async def _resolve_source_parents(
        self, mapper: EntityMapper, records: Sequence[NativeRecord], depth: int
    ) -> None:
        """Make sure every parent a record refers to has a canonical key (sync it if not)."""
        wanted: dict[Entity, set[str]] = {}
        for native in records:
            for ref in mapper.references(native):
                wanted.setdefault(ref.entity, set()).add(ref.external_id)
        for parent_entity, ids in wanted.items():
            missing = self.source_refs.load_external_ids(parent_entity, ids)
            missing = [i for i in missing if (parent_entity, i) not in self._handled]
            if missing and depth < MAX_PARENT_DEPTH and parent_entity in self.route.entities:
                parents = await self._read_parents(parent_entity, missing)
                if parents:
                    await self.sync_page(parent_entity, parents, depth + 1)
                    self.source_refs.load_external_ids(parent_entity, missing)

    async def _resolve_target_parents(
        self, entity: Entity, records: Sequence[Record], depth: int
    ) -> None:
        """Parents that have a key but no record in the target yet are synced there first."""
        wanted: dict[Entity, set[str]] = {}
        for record in records:
            for path, parent_entity in record.references.items():
                key = getattr(record, path, None)
                if key:
                    wanted.setdefault(parent_entity, set()).add(key)
        for parent_entity, keys in wanted.items():
            missing = self.target_refs.load_keys(parent_entity, keys)
            if not missing or depth >= MAX_PARENT_DEPTH or parent_entity not in self.route.entities:
                continue
            self.source_refs.load_keys(parent_entity, missing)
            source_ids = [
                external
                for key in missing
                if (external := self.source_refs.external_id(parent_entity, key))
                and (parent_entity, external) not in self._handled
            ]
            parents = await self._read_parents(parent_entity, source_ids) if source_ids else []
            if parents:
                await self.sync_page(parent_entity, parents, depth + 1)
                self.target_refs.load_keys(parent_entity, missing)

    async def _read_parents(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        """Parents to sync before their children. When the source cannot give them now, the
        children fail alone (an unresolved reference, retried later), not their whole page."""
        try:
            return await self.source.read(entity, ids)
        except Exception as error:
            if not failed_for_now(error):
                raise
            log.warning(
                "parents could not be read",
                extra={"route": self.route.name, "entity": entity.value, "error": str(error)},
            )
            return []

    async def _assign_keys(
        self,
        entity: Entity,
        mapped: list[tuple[NativeRecord, Record]],
        target_mapper: EntityMapper,
    ) -> list[tuple[NativeRecord, Record, str]]:
        """Existing bindings first; then natural-key matches in the target; then new keys."""
        keyed: list[tuple[NativeRecord, Record, str]] = []
        unbound: list[tuple[NativeRecord, Record]] = []
        for native, record in mapped:
            key = self.source_refs.bound_key(entity, native.id)
            if key is not None:
                record.key = key
                keyed.append((native, record, key))
            else:
                unbound.append((native, record))
        try:
            matches = await self._match(entity, unbound, target_mapper)
        except Exception as error:
            if not failed_for_now(error):
                raise
            # Without the target's answer a create could duplicate a record that exists there:
            # only the unbound records wait (retryable failures); the bound ones go on.
            self._commit_failures(
                entity, [Failed(native, None, "match", error) for native, _ in unbound]
            )
            self.summary.entity(entity).failed += len(unbound)
            return keyed
        for native, record in unbound:
            key = matches.get(native.id)
            record.key = key or new_key()
            keyed.append((native, record, record.key))
        return keyed

    async def _match(
        self, entity: Entity, unbound: list[tuple[NativeRecord, Record]], mapper: EntityMapper
    ) -> dict[str, str]:
        """Find unbound records in the target by the route's natural keys → {source id: key}."""
        found: dict[str, str] = {}
        upsert_field = self.target.capabilities.upsert_matches.get(entity)
        for path in self.route.entities[entity].match:
            native_field = mapper.native_field(path)
            if native_field is None or native_field == upsert_field:
                continue  # the target's upsert matches on this field by itself
            wanted: dict[str, str] = {}
            for native, record in unbound:
                if native.id in found:
                    continue
                value = path_value(record, path)
                if value not in (None, ""):
                    try:
                        native_value = mapper.to_native(
                            record, self.target_refs, create=True, paths=[path]
                        ).get(native_field)
                    except RecordError:
                        continue
                    if native_value not in (None, ""):
                        wanted[str(native_value)] = native.id
            if not wanted:
                continue
            hits = await self.target.lookup(entity, native_field, sorted(wanted))
            bound = self.store.keys_for(
                entity, self.route.target, [hit.id for hit in hits.values()]
            )
            for value, hit in hits.items():
                source_id = wanted[value]
                key = bound.get(hit.id) or new_key()
                found[source_id] = key
                self.target_refs.learn(entity, key, hit.id)
                if not self.options.dry_run and hit.id not in bound:
                    with self.store.transaction() as tx:
                        tx.bind(entity, key, self.route.target, hit.id)
        return found

    def _record_source(self, entity: Entity, items: list[Outgoing]) -> None:
        """Bind every record on the source side, with what it holds now, *before* pushing.

        A new key is durable before the target sees it, so a create replayed after a crash
        reuses the key (and the target's upsert by it makes the replay an update). Records
        that need no write are handled here for good: their pending failures are resolved.
        """
        for item in items:
            self.source_refs.learn(entity, item.key, item.native.id)
        if self.options.dry_run or not items:
            return
        # The source's snapshot only serves routes that write *into* the source system (their
        # diff and echo check); without one, binding the key is all that is needed.
        keep = self.source_is_a_target
        with self.store.transaction() as tx:
            for item in items:
                # Merged into what was last synced: fields the source does not read back (an
                # outbound-only history, a value it could not take) keep their last value.
                snapshot = observed_snapshot(item.source_snapshot, item.flat) if keep else None
                tx.bind(
                    entity,
                    item.key,
                    self.route.source,
                    item.native.id,
                    snapshot=item.encoded(snapshot),
                    remote_updated_at=item.native.updated_at if keep else None,
                )
                if item.write is None:
                    tx.resolve_failure(self.route.name, entity, item.native.id)

    # -- pushing and recording -------------------------------------------------------------------

    async def _push(self, entity: Entity, batch: Sequence[Outgoing]) -> None:
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
        outcomes = [
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
        self._refuse_shared_targets(entity, outcomes)
        try:
            with self.store.transaction() as tx:
                tallies = [self._record_result(tx, entity, *outcome) for outcome in outcomes]
        except StoreConflict:
            # A conflict the check above could not foresee (another process bound the same
            # record meanwhile): record each result alone, so only its own record fails.
            tallies = [self._record_alone(entity, item, result) for item, result in outcomes]
        counts = self.summary.entity(entity)
        for (item, result), tally in zip(outcomes, tallies, strict=True):
            setattr(counts, tally, getattr(counts, tally) + 1)
            if tally != "failed" and result.external_id is not None:
                self.target_refs.learn(entity, item.key, result.external_id)

    def _refuse_shared_targets(
        self, entity: Entity, outcomes: list[tuple[Outgoing, WriteResult]]
    ) -> None:
        """A target record already bound to another canonical key (or claimed twice in this
        batch) fails the write that would bind it again, with the reason, instead of breaking
        the store's uniqueness and with it the whole run."""
        ids = [r.external_id for _, r in outcomes if r.error is None and r.external_id]
        owners = self.store.keys_for(entity, self.route.target, ids)
        for index, (item, result) in enumerate(outcomes):
            if result.error is not None or result.external_id is None:
                continue
            owner = owners.setdefault(result.external_id, item.key)
            if owner != item.key:
                error = RecordError(
                    f"{self.route.target} {entity.value} {result.external_id!r} is already bound "
                    f"to another record (canonical key {owner}); not binding it twice",
                    code="BINDING_CONFLICT",
                )
                outcomes[index] = (item, WriteResult(item.key, result.external_id, error=error))

    def _record_alone(self, entity: Entity, item: Outgoing, result: WriteResult) -> str:
        try:
            with self.store.transaction() as tx:
                return self._record_result(tx, entity, item, result)
        except StoreConflict as conflict:
            error = RecordError(str(conflict), code="BINDING_CONFLICT")
            with self.store.transaction() as tx:
                failed = WriteResult(item.key, result.external_id, error=error)
                return self._record_result(tx, entity, item, failed)

    def _record_result(
        self, tx: StoreTx, entity: Entity, item: Outgoing, result: WriteResult
    ) -> str:
        """Bind a written record or file its failure; returns the count it adds to."""
        if result.error is not None or result.external_id is None:
            error = result.error or RecordError("no id returned", code="NO_ID")
            tx.record_failure(
                self.route.name,
                entity,
                item.native.id,
                key=item.key,
                stage="push",
                error=error,
                payload=dict(item.native.fields),
                retryable=error.retryable,
            )
            return "failed"
        previous = None if item.plan.create else item.snapshot
        unwritten, for_now = self._unwritten(entity, item, result)
        written = item.plan.paths - item.unrepresentable - unwritten
        refused = (item.unrepresentable | unwritten) - for_now
        snapshot = merged_snapshot(previous, item.flat, written, refused)
        tx.bind(
            entity, item.key, self.route.target, result.external_id, snapshot=item.encoded(snapshot)
        )
        tx.resolve_failure(self.route.name, entity, item.native.id)
        return "created" if item.plan.create and result.created else "updated"

    def _unwritten(
        self, entity: Entity, item: Outgoing, result: WriteResult
    ) -> tuple[set[str], set[str]]:
        """The planned paths the target saved the record without, and those of them it could
        not take only for now; logged with the reason."""
        if not result.unwritten:
            return set(), set()
        mapper = self.mapper(self.route.target, entity)
        skipped, for_now = set(), set()
        for path in item.plan.paths:
            native = mapper.native_field(path) or ""
            reason = result.unwritten.get(native)
            if reason is not None:
                skipped.add(path)
                if native in result.unwritten_for_now:
                    for_now.add(path)
                # The adapter warns once per cause; per record this is detail.
                log.info(
                    "%s %s: %s not written to %s: %s",
                    entity.value,
                    item.native.id,
                    path,
                    self.route.target,
                    reason,
                    extra={"route": self.route.name, "field": path},
                )
        return skipped, for_now

    def _commit_failures(self, entity: Entity, failed: list[Failed]) -> None:
        if self.options.dry_run or not failed:
            return
        with self.store.transaction() as tx:
            for failure in failed:
                log.warning(
                    "record failed",
                    extra={
                        "route": self.route.name,
                        "entity": entity.value,
                        "external_id": failure.native.id,
                        "stage": failure.stage,
                        "error": type(failure.error).__name__,
                    },
                )
                tx.record_failure(
                    self.route.name,
                    entity,
                    failure.native.id,
                    key=failure.key,
                    stage=failure.stage,
                    error=failure.error,
                    payload=dict(failure.native.fields),
                    retryable=failure.retryable,
                )

    async def _apply_deletes(
        self, entity: Entity, records: list[NativeRecord], counts: EntityCounts
    ) -> None:
        policy = self.route.entities[entity].deletes
        if not records:
            return
        # References to a deleted record are written empty from now on (DELETED_REFERENCE):
        # in the source always, in the target where the record never arrived.
        self.source_refs.deleted(entity, external_ids=[record.id for record in records])
        keys = self.store.keys_for(entity, self.route.source, [record.id for record in records])
        bindings = self.store.bindings_for(entity, self.route.target, keys.values())
        self.target_refs.deleted(entity, keys=[k for k in keys.values() if k not in bindings])
        if policy is DeletePolicy.IGNORE:
            counts.unchanged += len(records)
            return
        doomed = [
            (record, bindings[keys[record.id]])
            for record in records
            if record.id in keys and keys[record.id] in bindings
        ]
        counts.unchanged += len(records) - len(doomed)
        if not doomed or self.options.dry_run:
            counts.deleted += len(doomed)
            return
        self.check_lease()
        if policy is DeletePolicy.PROPAGATE:
            results = await self.target.delete(
                entity, [binding.external_id for _, binding in doomed]
            )
        else:
            writes = [
                NativeWrite(b.key, b.external_id, self._deactivation(entity)) for _, b in doomed
            ]
            results = await self.target.upsert(entity, writes)
        failed = {result.external_id for result in results if result.error is not None}
        with self.store.transaction() as tx:
            for _, binding in doomed:
                if binding.external_id in failed:
                    counts.failed += 1
                    continue
                if policy is DeletePolicy.PROPAGATE:
                    tx.unbind(entity, binding.key, self.route.target)
                    tx.unbind(entity, binding.key, self.route.source)
                    self.source_refs.forget(entity, binding.key)
                    self.target_refs.forget(entity, binding.key)
                    self.target_refs.deleted(entity, keys=[binding.key])
                counts.deleted += 1

    def _deactivation(self, entity: Entity) -> dict[str, object]:
        """The target's native fields that mark a record inactive (its mapping of `status`)."""
        mapper = self.mapper(self.route.target, entity)
        record = record_type(entity).model_validate({"status": "inactive"})
        return mapper.to_native(record, self.target_refs, create=False, paths=["status"])
