"""Bind: what the store keeps of each record, before and after its write.

Before the write, records are bound on the *source* side (`record_source`), so a new
canonical key is durable before the target sees it: a create replayed after a crash reuses the
key and the target's upsert by it makes the replay an update. After the write, one transaction
binds the successes with their new snapshot and files the failures with the target's reason
(`record_results`, given a page's answers or a batch's: see `RouteRun._push_page`); a failure
never stops its neighbours. A record written that was bound in the source already is bound
there then too, only if the target took it: what was last synced with the source must not
claim a write that failed. Records that failed before the write are filed by
`commit_failures`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Container
from collections.abc import Set as AbstractSet
from operator import attrgetter, itemgetter

from connector.adapter import WriteResult
from connector.config import RouteConfig
from connector.engine.decide import merged_snapshot, observation_replaces, observed_snapshot
from connector.engine.prepare import Failed, Outgoing
from connector.engine.resolver import BindingResolver
from connector.engine.stages.write import Outcome
from connector.errors import RecordError
from connector.mapping.contract import EntityMapper
from connector.model import Entity
from connector.state.snapshots import EncodedSnapshot
from connector.state.store import StateStore, StoreConflict, StoreTx

log = logging.getLogger("connector.engine")

#: An outcome's record, and whether it is to be bound on the source side with its result.
_RECORD = itemgetter(0)
_SOURCE_AFTER = attrgetter("source_after")


class Binder:
    def __init__(
        self,
        store: StateStore,
        route: RouteConfig,
        source_refs: BindingResolver,
        mapper: Callable[[str, Entity], EntityMapper],
        *,
        dry_run: bool,
        source_is_a_target: bool,
    ) -> None:
        self.store = store
        self.route = route
        self.source_refs = source_refs
        self.mapper = mapper
        self.dry_run = dry_run
        self.source_is_a_target = source_is_a_target

    def record_source(
        self, entity: Entity, items: list[Outgoing], unbound: Container[str] | None = None
    ) -> None:
        """Bind the records on the source side, with what they hold now, *before* pushing.

        A new key is durable before the target sees it, so a create replayed after a crash
        reuses the key (and the target's upsert by it makes the replay an update). Records
        that need no write are handled here for good: their pending failures are resolved.

        `unbound`: the keys that were not bound in the source before (`Keyed.unbound`). The
        others the source's resolver learnt when it looked them up, and their binding holds
        their key already: one about to be written is bound with its result instead, and only
        if the target took it (`Outgoing.source_after`), so that a write that fails (or never
        happens: a crash before it) leaves what was last synced with the source as it was, and
        the retry still finds the change. None (or once the resolver noted a deletion, which
        may have changed what it holds): every record is learnt and bound here.
        """
        refs = self.source_refs
        if refs.noted_deletions:
            unbound = None
        # (In one call: a first sync learns every record of the page here.)
        refs.learn_all(
            entity,
            [
                (item.key, item.native.id)
                for item in items
                if unbound is None or item.key in unbound
            ],
        )
        if self.dry_run or not items:
            return
        # The source's snapshot only serves routes that write *into* the source system (their
        # diff and echo check); without one, binding the key is all that is needed.
        keep = self.source_is_a_target
        # (key, id, snapshot, remote time), as `tx.bind_all` takes them.
        binds: list[tuple[str, str, EncodedSnapshot | None, dt.datetime | None]] = []
        settled: list[str] = []
        source_encoding = self.source_encoding
        for item in items:
            if item.write is not None and unbound is not None and item.key not in unbound:
                # Bound already: its key is durable. With a snapshot to keep, bound with its
                # result; without, its binding holds all there is to bind (this key, this id).
                item.source_after = keep
                continue
            native = item.native
            if keep:
                encoded = source_encoding(item)
                # A record read again as it was bound (same snapshot, same time) is not
                # rewritten: its binding would only get a new `synced_at`, which nothing reads.
                # (Nothing to compare with when the source held no binding: a new record.)
                if (
                    encoded is None
                    or item.source_binding is None
                    or not item.source_unchanged(encoded)
                ):
                    binds.append((item.key, native.id, encoded, native.updated_at))
            else:
                binds.append((item.key, native.id, None, None))
            if item.write is None:
                settled.append(native.id)
        if not binds and not settled:  # a page of updates: everything is bound with its result
            return
        source, route = self.route.source, self.route.name
        with self.store.transaction() as tx:
            tx.bind_all(entity, source, binds)
            tx.resolve_failures(route, entity, settled)

    @staticmethod
    def source_encoding(item: Outgoing) -> EncodedSnapshot | None:
        """The source's snapshot after reading `item`, encoded: merged into what was last
        synced, so fields the source does not read back (an outbound-only history, a value it
        could not take) keep their last value."""
        # Nothing known yet: what the source holds now is `flat` itself (not a copy), whose
        # one encoding then serves the target's binding too.
        bound = item.source_binding
        snapshot = item.flat
        if bound is not None and bound.snapshot:
            previous = bound.snapshot
            if not observation_replaces(previous, snapshot):
                snapshot = observed_snapshot(previous, snapshot)
        return item.encoded(snapshot)

    def record_results(self, entity: Entity, outcomes: list[Outcome]) -> list[str]:
        """Bind the written records and file the failed ones, in one transaction; returns the
        count each adds to ("created", "updated" or "failed")."""
        self._refuse_shared_targets(entity, outcomes)
        try:
            with self.store.transaction() as tx:
                tallies = self._record_all(tx, entity, outcomes)
                # (Asked in C first: a page of creates has none, and this runs for every page.)
                if any(map(_SOURCE_AFTER, map(_RECORD, outcomes))):
                    self._bind_sources_after(tx, entity, outcomes, tallies)
        except StoreConflict:
            # A conflict the check above could not foresee (another process bound the same
            # record meanwhile): record each result alone, so only its own record fails.
            tallies = [self._record_alone(entity, item, result) for item, result in outcomes]
        return tallies

    def _record_all(self, tx: StoreTx, entity: Entity, outcomes: list[Outcome]) -> list[str]:
        """`_record_result` of each outcome, in order; returns the tallies.

        The binds of the records the target took are gathered and given to the transaction in
        one call (`bind_all`: every record of a first sync, one call a page instead of one a
        record); a failure hands the gathered ones over first, so the transaction sees every
        bind, resolution and failure in the order of the outcomes.
        """
        target, route = self.route.target, self.route.name
        tallies: list[str] = []
        binds: list[tuple[str, str, EncodedSnapshot | None, dt.datetime | None]] = []
        resolved: list[str] = []
        for item, result in outcomes:
            external_id = result.external_id
            if result.error is not None or external_id is None:
                tx.bind_all(entity, target, binds)
                tx.resolve_failures(route, entity, resolved)
                binds, resolved = [], []
                tallies.append(self._record_result(tx, entity, item, result))
                continue
            binds.append((item.key, external_id, self._taken(entity, item, result), None))
            resolved.append(item.native.id)
            tallies.append(_tally(item, result))
        tx.bind_all(entity, target, binds)
        tx.resolve_failures(route, entity, resolved)
        return tallies

    def _refuse_shared_targets(self, entity: Entity, outcomes: list[Outcome]) -> None:
        """A target record already bound to another canonical key (or claimed twice in these
        outcomes) fails the write that would bind it again, with the reason, instead of breaking
        the store's uniqueness and with it the whole run."""
        # A record the target answered with the id it is bound to already (an update) needs no
        # question: the store holds that id for this key alone. Its id still counts as claimed
        # below, so another record of the batch answered with it is refused.
        ids = [
            r.external_id
            for item, r in outcomes
            if r.error is None and r.external_id and r.external_id != item.target_id
        ]
        owners = self.store.keys_for(entity, self.route.target, ids) if ids else {}
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

    def _bind_sources_after(
        self, tx: StoreTx, entity: Entity, outcomes: list[Outcome], tallies: list[str]
    ) -> None:
        """The source side of the records the target took that were bound there before
        (`Outgoing.source_after`): after the target's, so each side's binds stay one run of
        one shape (one statement each)."""
        binds: list[tuple[str, str, EncodedSnapshot | None, dt.datetime | None]] = []
        for (item, _), tally in zip(outcomes, tallies, strict=True):
            if not item.source_after or tally == "failed":
                continue
            encoded = self.source_encoding(item)
            if encoded is not None and item.source_unchanged(encoded):
                continue
            native = item.native
            binds.append((item.key, native.id, encoded, native.updated_at))
        tx.bind_all(entity, self.route.source, binds)

    def _record_alone(self, entity: Entity, item: Outgoing, result: WriteResult) -> str:
        try:
            with self.store.transaction() as tx:
                tally = self._record_result(tx, entity, item, result)
                self._bind_sources_after(tx, entity, [(item, result)], [tally])
                return tally
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
        tx.bind(
            entity,
            item.key,
            self.route.target,
            result.external_id,
            snapshot=self._taken(entity, item, result),
        )
        tx.resolve_failure(self.route.name, entity, item.native.id)
        return _tally(item, result)

    def _taken(self, entity: Entity, item: Outgoing, result: WriteResult) -> EncodedSnapshot | None:
        """The snapshot to bind a written record with: what the target now holds of it."""
        previous = None if item.plan.create else item.snapshot
        written: AbstractSet[str] = item.plan.paths
        refused: AbstractSet[str] = item.unrepresentable
        if result.unwritten:
            unwritten, for_now = self._unwritten(entity, item, result)
            written = written - refused - unwritten
            refused = (refused | unwritten) - for_now
        elif refused:
            written = written - refused
        # (else every planned path was written: the usual case, without building four sets)
        # With no previous snapshot every value is one of `flat`'s (`Outgoing.encoded`).
        return item.encoded(merged_snapshot(previous, item.flat, written, refused), not previous)

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

    def commit_failures(self, entity: Entity, failed: list[Failed]) -> None:
        """File records that failed before their write (read, map, match, diff)."""
        if self.dry_run or not failed:
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


def _tally(item: Outgoing, result: WriteResult) -> str:
    """The count a written record adds to."""
    return "created" if item.plan.create and result.created else "updated"
