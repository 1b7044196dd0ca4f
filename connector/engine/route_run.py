"""One run of one route, entity by entity in dependency order: the stages wired together.

For each page the source yields (stages/read.py): map native → canonical (map.py), sync the
parents it refers to first (references.py), give each record its key (match.py), plan what to
write (plan.py), bind the source side (bind.py), push the batches with several in flight
(write.py), bind the results (bind.py), and move the cursor only past pages whose every record
is durably handled — synced, unchanged, or in `failures` (checkpoint.py). Records the source
deleted follow the entity's policy (deletes.py). Commits happen in the stages, per page (the
results: per batch where a replayed create would not be an update), never inside a decision.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from connector.adapter import Adapter, NativeRecord
from connector.batching import chunked
from connector.config import RouteConfig
from connector.engine.blame import Blamed
from connector.engine.prepare import Outgoing, Prepared, report_withheld
from connector.engine.resolver import BindingResolver
from connector.engine.stages.bind import Binder
from connector.engine.stages.checkpoint import Cursor
from connector.engine.stages.deletes import Deleter
from connector.engine.stages.map import map_page
from connector.engine.stages.match import Matcher
from connector.engine.stages.plan import PlanRules, load_known, plan_page
from connector.engine.stages.read import SourcePage, split_page, starting_point
from connector.engine.stages.references import Parents
from connector.engine.stages.write import Outcome, Writer, plan_only
from connector.engine.summary import EntityCounts, RunSummary
from connector.mapping.contract import EntityMapper
from connector.model import Entity
from connector.runtime import Runtime

Progress = Callable[[Entity, EntityCounts], None]


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    #: Write every mapped field even if the snapshot says it is unchanged (`resync`).
    force: bool = False
    full: bool = False
    since: dt.datetime | None = None


DEFAULT_OPTIONS = RunOptions()


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
        # A dry run binds nothing: what it planned lives only in the resolvers.
        keep_all = options.dry_run
        self.source_refs = BindingResolver(self.store, route.source, keep_all=keep_all)
        self.target_refs = BindingResolver(self.store, route.target, keep_all=keep_all)
        source_kind = runtime.config.systems[route.source].kind
        self.source_names = frozenset({route.source, source_kind})
        self.signpost = dt.datetime.now(dt.UTC)
        routes = runtime.config.routes.values()
        self.source_is_a_target = any(other.target == route.source for other in routes)
        # Records this run has handled already: a parent that failed once is not tried again
        # for each of its children. A record bound on both sides is never a missing parent, so
        # it leaves the set with its page: the set holds the pages in flight and what failed
        # or was skipped, not every record of the run.
        self._handled: set[tuple[Entity, str]] = set()
        dry_run = options.dry_run
        self.parents = Parents(
            route, self.source, self.source_refs, self.target_refs, self._handled, self.sync_page
        )
        self.matcher = Matcher(
            self.store,
            route,
            self.target,
            self.source_refs,
            self.target_refs,
            dry_run=dry_run,
            with_source=self.source_is_a_target,
        )
        self.binder = Binder(
            self.store,
            route,
            self.source_refs,
            self.mapper,
            dry_run=dry_run,
            source_is_a_target=self.source_is_a_target,
        )
        self.writer = Writer(self.target, self.check_lease)
        self.deleter = Deleter(
            self.store,
            route,
            self.target,
            self.source_refs,
            self.target_refs,
            self.mapper,
            self.check_lease,
            dry_run=dry_run,
        )

    def mapper(self, system: str, entity: Entity) -> EntityMapper:
        return self.runtime.mappers.for_system(system, entity)

    # -- whole entities ------------------------------------------------------------------------

    async def sync_entity(self, entity: Entity) -> None:
        """Pull every change since the cursor and sync it, checkpointing page by page."""
        options = self.route.entities[entity]
        stored = self.options.since is None and not self.options.full
        # One read for both (only this run, holding the lease, moves the cursor meanwhile).
        start = starting_point(
            self.store, self.route.name, entity, cursor=stored, awaiting=not self.options.dry_run
        )
        await self._ask_after_awaiting(entity, start.awaiting)
        cursor = Cursor(
            start.watermark,
            self.signpost,
            lambda watermark: self._commit_cursor(entity, watermark),
        )
        since = self.options.since
        if since is None:
            since = cursor.since(dt.timedelta(seconds=options.overlap_seconds))
        try:
            async for page in self.source.read_changes(entity, since):
                records = list(page.records)
                task = asyncio.create_task(self.sync_page(entity, records))
                cursor.enter([record.updated_at for record in records], task)
                await cursor.advance(wait=False)
                # Bound the pipeline: a slow target must not let pages pile up in memory.
                while cursor.in_flight > self.target.capabilities.max_in_flight:
                    await cursor.advance(wait=True)
            await cursor.drain()
        finally:
            await cursor.cancel()

    def _commit_cursor(self, entity: Entity, watermark: dt.datetime | None) -> None:
        if not self.options.dry_run and self.options.since is None:
            with self.store.transaction() as tx:
                tx.set_cursor(self.route.name, entity, watermark)
        self.check_lease()

    async def _ask_after_awaiting(self, entity: Entity, waiting: list[str]) -> None:
        """Records the target accepted but has not confirmed yet (a staging row the ERP's import
        job has still to process) are written again first: the target answers with the record
        it made (bound now), its refusal (a failure for good), or that it is still waiting."""
        for ids in chunked(waiting, self.target.capabilities.batch_size):
            found = await self.source.read(entity, list(ids))
            if found:
                await self.sync_page(entity, found)

    # -- one page --------------------------------------------------------------------------------

    async def sync_page(
        self, entity: Entity, records: Sequence[NativeRecord], depth: int = 0
    ) -> None:
        page = split_page(records)
        self._handled.update((entity, record.id) for record in page.records)
        # The resolvers keep what the pages in flight need: this page and as many again per
        # batch call in flight, and the next page being read.
        in_flight = len(page.records) * (self.target.capabilities.max_in_flight + 2)
        self.source_refs.expect(in_flight)
        self.target_refs.expect(in_flight)
        await self._sync_page(entity, page, depth)
        self._handled.difference_update(self._settled(entity, [r.id for r in page.records]))

    def _settled(self, entity: Entity, source_ids: list[str]) -> list[tuple[Entity, str]]:
        """Those bound in the source and in the target: no child will find them missing.
        (Asked in bulk: what the resolvers no longer hold is one query, not one a record.)"""
        keys = self.source_refs.bound_keys(entity, source_ids)
        missing = set(self.target_refs.load_keys(entity, keys.values()))
        return [(entity, i) for i, key in keys.items() if key not in missing]

    async def _sync_page(self, entity: Entity, page: SourcePage, depth: int) -> None:
        prepared = await self.prepare(entity, page, depth)
        counts = self.summary.entity(entity)
        self.binder.commit_failures(entity, prepared.failed)
        counts.failed += len(prepared.failed)
        counts.unchanged += len(prepared.unchanged)
        counts.skipped += len(prepared.skipped)
        await self.deleter.apply(entity, prepared.deleted, counts)
        writes = prepared.writes
        if self.options.dry_run:
            plan_only(entity, writes, self.target_refs, self.summary, counts)
            self._report(entity)
            return
        batches = chunked(writes, self.target.capabilities.batch_size)
        if entity in self.target.capabilities.upsert_matches:
            await self._push_page(entity, batches)
        else:
            await asyncio.gather(*(self._push(entity, batch) for batch in batches))
        self._report(entity)

    def _report(self, entity: Entity) -> None:
        if self.progress is not None:
            self.progress(entity, self.summary.entity(entity))

    async def prepare(self, entity: Entity, page: SourcePage, depth: int) -> Prepared:
        """Map, resolve references, match and plan one page; the source side is bound."""
        live = page.live
        source_mapper = self.mapper(self.route.source, entity)
        target_mapper = self.mapper(self.route.target, entity)

        await self.parents.resolve_source(source_mapper, live, depth)
        mapped = map_page(live, source_mapper, self.source_refs)

        keyed = await self.matcher.assign_keys(entity, mapped.records, target_mapper)
        if keyed.failed:
            self.binder.commit_failures(entity, keyed.failed)
            self.summary.entity(entity).failed += len(keyed.failed)
        # A key made for this page is bound nowhere yet: only the others are looked up.
        known = load_known(
            self.store,
            entity,
            self.route,
            keyed.known_keys,
            source=self.source_is_a_target,
            source_read=keyed.source,
        )
        bound = [(key, binding.external_id) for key, binding in known.target.items()]
        self.target_refs.learn_all(entity, bound)
        await self.parents.resolve_target([record for _, record, _ in keyed.records], depth)

        rules = PlanRules.of(self.route, entity, self.source_names, self.options.force)
        planned = plan_page(
            keyed.records,
            known,
            rules,
            source_mapper,
            target_mapper,
            self.target_refs,
            mapped.flats,
        )
        self.binder.record_source(entity, planned.outgoing, keyed.unbound)
        route = self.route
        report_withheld(entity, planned.withheld, route.source, route.target, route.name)
        return Prepared(
            outgoing=planned.outgoing,
            deleted=page.deleted,
            failed=[*mapped.failed, *planned.failed],
            skipped=planned.skipped,
        )

    async def _push(self, entity: Entity, batch: Sequence[Outgoing]) -> None:
        """Write one batch and bind what the target answered."""
        self._bound(entity, await self.writer.write(entity, batch))

    async def _push_page(self, entity: Entity, batches: Iterable[Sequence[Outgoing]]) -> None:
        """Write a page's batches (`max_in_flight` at once) and bind all that the target
        answered in one transaction, once the last batch has returned.

        Only for a target whose upsert finds a record it created before by a field of the
        write (`Capabilities.upsert_matches`): a process killed between an early batch's write
        and the page's commit replays that write, and there it is an update. A batch whose call
        stopped the run does not keep its neighbours' answers from being bound first.
        """
        writes = (self.writer.write(entity, batch) for batch in batches)
        answers = await asyncio.gather(*writes, return_exceptions=True)
        outcomes = [outcome for answer in answers if isinstance(answer, list) for outcome in answer]
        if outcomes:
            self._bound(entity, outcomes)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer

    def _bound(self, entity: Entity, outcomes: list[Outcome]) -> None:
        """Bind the target's answers (one transaction) and count them."""
        tallies = self.binder.record_results(entity, outcomes)
        refs = self.target_refs
        # A record updated where it was bound was learnt as its page loaded the binding
        # (`prepare`): not learnt again unless a deletion was noted since (`noted_deletions`).
        again = refs.noted_deletions
        learnt: list[tuple[str, str]] = []  # (learnt in one call: a first sync learns them all)
        for (item, result), tally in zip(outcomes, tallies, strict=True):
            external_id = result.external_id
            if tally == "failed" or external_id is None:
                continue
            if again or external_id != item.target_id:
                learnt.append((item.key, external_id))
        refs.learn_all(entity, learnt)
        # Counted per kind of tally, not per record: `setattr` by name costs as much as a bind.
        counts = self.summary.entity(entity)
        for tally in set(tallies):
            setattr(counts, tally, getattr(counts, tally) + tallies.count(tally))
