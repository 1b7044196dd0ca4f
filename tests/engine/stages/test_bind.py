"""The bind stage on a temp SQLite store: the source side before the write, results after."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

from sqlalchemy import select

from connector.adapter import WriteResult
from connector.config import MissingPolicy
from connector.engine.decide import UNWRITTEN
from connector.engine.prepare import Failed
from connector.engine.resolver import BindingResolver
from connector.engine.stages.bind import Binder
from connector.engine.stages.plan import Known, PlanRules, plan_page
from connector.errors import MappingError, RecordError
from connector.model import Customer, Entity
from connector.state import schema
from connector.state.store import open_store
from connector.testing.identity import IdentityMapper
from tests.engine.stages.conftest import DictRefs, at, native, outgoing


def binder(store, route, *, dry_run=False, keep=True):  # type: ignore[no-untyped-def]
    refs = BindingResolver(store, route.source)
    mapper = lambda system, entity: IdentityMapper(entity)  # noqa: E731
    return Binder(store, route, refs, mapper, dry_run=dry_run, source_is_a_target=keep), refs


def failures(store):  # type: ignore[no-untyped-def]
    return {(f.external_id, f.stage, f.code) for f in store.failures()}


def test_the_source_side_is_bound_with_what_it_holds_before_anything_is_written(
    sqlite_store, route
):
    items = outgoing(("k1", Customer(number="N1", name="Acme")))
    stage, refs = binder(sqlite_store, route)
    stage.record_source(Entity.CUSTOMER, items)
    known = sqlite_store.bindings_for(Entity.CUSTOMER, route.source, ["k1"])
    assert known["k1"].external_id == "e1"
    assert known["k1"].snapshot == {"number": "N1", "name": "Acme"}
    assert refs.bound_key(Entity.CUSTOMER, "e1") == "k1"

    # Without a route back into the source, only the key is kept.
    plain, _ = binder(sqlite_store, route, keep=False)
    plain.record_source(Entity.CUSTOMER, outgoing(("k2", Customer(number="N2"))))
    assert sqlite_store.bindings_for(Entity.CUSTOMER, route.source, ["k2"])["k2"].snapshot is None


def test_a_record_bound_in_the_source_before_is_bound_there_with_its_result_and_only_then(
    sqlite_store, route
):
    """Its key is durable already: what the source holds now is bound only once the target
    took the write, so a write that failed is still a change when it is retried."""
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "k1", route.source, "e1", snapshot={"number": "N0"})
    stage, refs = binder(sqlite_store, route)
    learnt: list[str] = []
    learn, learn_all = refs.learn, refs.learn_all
    refs.learn = lambda entity, key, external_id: (  # type: ignore[method-assign]
        learnt.append(key),
        learn(entity, key, external_id),
    )
    # (a page's keys are learnt in one call, which calls `learn` itself after a deletion)
    refs.learn_all = lambda entity, bound: (  # type: ignore[method-assign]
        learnt.extend(key for key, _ in bound) if not refs.noted_deletions else None,
        learn_all(entity, bound),
    )

    def source_snapshots() -> dict[str, object]:
        bound = sqlite_store.bindings_for(Entity.CUSTOMER, route.source, ["k1", "k2"])
        return {key: binding.snapshot for key, binding in bound.items()}

    items = outgoing(("k1", Customer(number="N1")), ("k2", Customer(number="N2")))
    stage.record_source(Entity.CUSTOMER, items, {"k2"})
    assert learnt == ["k2"], "k1 was found bound in the source: its resolver holds it"
    assert source_snapshots() == {"k1": {"number": "N0"}, "k2": {"number": "N2"}}
    assert [item.source_after for item in items] == [True, False]

    refused = WriteResult("k1", None, error=RecordError("busy", code="BUSY"))
    assert stage.record_results(Entity.CUSTOMER, [(items[0], refused)]) == ["failed"]
    assert source_snapshots()["k1"] == {"number": "N0"}, "not synced: the change stays one"
    took = WriteResult("k1", "crm-1", created=True)
    assert stage.record_results(Entity.CUSTOMER, [(items[0], took)]) == ["created"]
    assert source_snapshots()["k1"] == {"number": "N1"}
    assert refs.canonical_key(Entity.CUSTOMER, "e1") == "k1"  # asked of the store

    # Once a deletion is noted, what the resolver holds may be out of date: all are learnt
    # and bound before the write, as without the keys.
    learnt.clear()
    refs.deleted(Entity.CUSTOMER, external_ids=["e9"])
    again = outgoing(("k1", Customer(number="N3")))
    stage.record_source(Entity.CUSTOMER, again, {"k2"})
    assert learnt == ["k1"] and not again[0].source_after
    assert source_snapshots()["k1"] == {"number": "N3"}


def test_a_page_of_updates_without_a_source_snapshot_opens_no_transaction_before_the_write(
    sqlite_store, route, monkeypatch
):
    stage, _ = binder(sqlite_store, route, keep=False)
    opened: list[int] = []
    transaction = sqlite_store.transaction
    monkeypatch.setattr(sqlite_store, "transaction", lambda: opened.append(1) or transaction())
    stage.record_source(Entity.CUSTOMER, outgoing(("k1", Customer(number="N1"))), set())
    assert opened == [], "its binding holds this key and this id: nothing to bind"
    stage.record_source(Entity.CUSTOMER, outgoing(("k2", Customer(number="N2"))), {"k2"})
    assert opened == [1]


def test_a_record_read_again_as_it_was_bound_is_not_rewritten_on_the_source_side(tmp_path, route):
    moments = iter(at(minute) for minute in range(10, 20))
    store = open_store(
        f"sqlite:///{tmp_path / 'clocked.db'}", tmp_path, clock=lambda: next(moments)
    )
    stage, _ = binder(store, route)

    def synced_at() -> object:
        table = schema.bindings
        with store.engine.connect() as conn:
            return conn.execute(select(table.c.synced_at)).scalar_one()

    def again(**changes) -> list:  # type: ignore[no-untyped-def]
        """The record read again (`changes` to its native record), planned against the
        source binding the store holds now."""
        bound = store.bindings_for(Entity.CUSTOMER, route.source, ["k1"])
        record = Customer(number="N1", name="Acme", key="k1")
        page = [(replace(native("e1"), **changes), record, "k1")]
        mapper = IdentityMapper(Entity.CUSTOMER)
        rules = PlanRules("erp", "crm", frozenset({"erp"}), {}, MissingPolicy.WARN)
        known = Known(source=bound)
        return plan_page(page, known, rules, mapper, mapper, DictRefs()).outgoing

    stage.record_source(Entity.CUSTOMER, outgoing(("k1", Customer(number="N1", name="Acme"))))
    first = synced_at()
    stage.record_source(Entity.CUSTOMER, again())  # the same values, the same time
    assert synced_at() == first
    stage.record_source(Entity.CUSTOMER, again(updated_at=at(5)))  # touched: a new time
    assert synced_at() != first
    assert store.bindings_for(Entity.CUSTOMER, route.source, ["k1"])["k1"].remote_updated_at == at(
        5
    )
    # The same key read from another source record (the first one re-created) moves.
    stage.record_source(Entity.CUSTOMER, again(id="e9", updated_at=at(5)))
    assert store.keys_for(Entity.CUSTOMER, route.source, ["e9"]) == {"e9": "k1"}
    store.close()


def test_results_bind_the_written_file_the_failed_and_refuse_a_target_record_bound_twice(
    sqlite_store, route
):
    with sqlite_store.transaction() as tx:
        tx.bind(Entity.CUSTOMER, "other", route.target, "crm-taken")
    items = outgoing(
        ("k1", Customer(number="N1", name="Acme", industry="Mining")),
        ("k2", Customer(number="N2")),
        ("k3", Customer(number="N3")),
    )
    outcomes = [
        (items[0], WriteResult("k1", "crm-1", created=True, unwritten={"industry": "no option"})),
        (items[1], WriteResult("k2", None, error=RecordError("refused", code="REJECTED"))),
        (items[2], WriteResult("k3", "crm-taken", created=True)),
    ]
    stage, _ = binder(sqlite_store, route)

    assert stage.record_results(Entity.CUSTOMER, outcomes) == ["created", "failed", "failed"]

    bound = sqlite_store.bindings_for(Entity.CUSTOMER, route.target, ["k1", "k2", "k3"])
    assert list(bound) == ["k1"] and bound["k1"].external_id == "crm-1"
    # A field the target did not take is not claimed as synced; its refused value is kept.
    assert bound["k1"].snapshot == {
        "number": "N1",
        "name": "Acme",
        UNWRITTEN + "industry": "Mining",
    }
    assert failures(sqlite_store) == {
        ("e2", "push", "REJECTED"),
        ("e3", "push", "BINDING_CONFLICT"),
    }


def test_an_update_keeps_its_target_record_without_asking_and_another_claim_is_refused(
    sqlite_store, route, monkeypatch
):
    items = outgoing(("k1", Customer(number="N1")), ("k2", Customer(number="N2")))
    stage, _ = binder(sqlite_store, route)
    created = [(item, WriteResult(item.key, f"crm-{item.key}", created=True)) for item in items]
    assert stage.record_results(Entity.CUSTOMER, created) == ["created", "created"]
    asked: list[list[str]] = []
    keys_for = sqlite_store.keys_for
    monkeypatch.setattr(
        sqlite_store, "keys_for", lambda *args: asked.append(sorted(args[2])) or keys_for(*args)
    )
    # Updated now: k1 answered with the record it is bound to, k3 (new) with that same record,
    # k2 with another record than its own.
    k1, k2 = (replace(item, target_id=f"crm-{item.key}") for item in items)
    (k3,) = outgoing(("k3", Customer(number="N3")))
    outcomes = [
        (k1, WriteResult("k1", "crm-k1")),
        (k3, WriteResult("k3", "crm-k1", created=True)),
        (k2, WriteResult("k2", "crm-k1")),
    ]
    assert stage.record_results(Entity.CUSTOMER, outcomes) == ["updated", "failed", "failed"]
    assert asked == [["crm-k1", "crm-k1"]], "only the records answered with another id are asked"
    bound = sqlite_store.bindings_for(Entity.CUSTOMER, route.target, ["k1", "k2", "k3"])
    assert {key: b.external_id for key, b in bound.items()} == {"k1": "crm-k1", "k2": "crm-k2"}
    assert failures(sqlite_store) == {
        ("e3", "push", "BINDING_CONFLICT"),
        ("e2", "push", "BINDING_CONFLICT"),
    }


def test_a_later_success_resolves_the_records_failure(sqlite_store, route):
    items = outgoing(("k1", Customer(number="N1")))
    stage, _ = binder(sqlite_store, route)
    failed = WriteResult("k1", None, error=RecordError("busy", code="BUSY"))
    stage.record_results(Entity.CUSTOMER, [(items[0], failed)])
    assert failures(sqlite_store) == {("e1", "push", "BUSY")}
    stage.record_results(Entity.CUSTOMER, [(items[0], WriteResult("k1", "crm-1", created=True))])
    assert failures(sqlite_store) == set()


def test_failures_before_the_write_are_filed_except_in_a_dry_run(sqlite_store, route):
    failed = [Failed(native("e1", name="x"), None, "map", MappingError("bad", code="INVALID"))]
    dry, _ = binder(sqlite_store, route, dry_run=True)
    dry.commit_failures(Entity.CUSTOMER, failed)
    assert failures(sqlite_store) == set()
    stage, _ = binder(sqlite_store, route)
    stage.commit_failures(Entity.CUSTOMER, failed)
    (filed,) = sqlite_store.failures()
    assert (filed.external_id, filed.stage, filed.payload) == ("e1", "map", {"name": "x"})


def test_a_first_sync_binds_a_page_with_one_call_a_side_and_learns_it_with_one(
    sqlite_store, route, monkeypatch
):
    """A page of new records costs the transaction one `bind_all` a side (not a `bind` a
    record), one `resolve_failures` and the resolver one `learn_all`; the failure between two
    successes still reaches the transaction between their binds, and all is stored as before."""
    stage, refs = binder(sqlite_store, route)
    calls: list[tuple[str, object]] = []
    transaction = sqlite_store.transaction

    @contextmanager
    def watched():  # type: ignore[no-untyped-def]
        with transaction() as tx:
            for name in (
                "bind",
                "bind_all",
                "resolve_failure",
                "resolve_failures",
                "record_failure",
            ):
                method = getattr(tx, name)
                monkeypatch.setattr(
                    tx,
                    name,
                    lambda *args, _name=name, _method=method, **kw: (
                        calls.append(
                            (_name, [b[0] for b in args[2]] if _name == "bind_all" else args[2])
                        ),
                        _method(*args, **kw),
                    )[1],
                )
            yield tx

    monkeypatch.setattr(sqlite_store, "transaction", watched)
    monkeypatch.setattr(refs, "learn", lambda *args: calls.append(("learn", args[1])))
    learn_all = refs.learn_all
    monkeypatch.setattr(
        refs,
        "learn_all",
        lambda entity, bound: (calls.append(("learn_all", len(bound))), learn_all(entity, bound)),
    )
    items = outgoing(*((f"k{n}", Customer(number=f"N{n}")) for n in (1, 2, 3, 4)))
    stage.record_source(Entity.CUSTOMER, items, {"k1", "k2", "k3", "k4"})
    assert calls == [
        ("learn_all", 4),
        ("bind_all", ["k1", "k2", "k3", "k4"]),
        ("resolve_failures", []),  # (all to be written: resolved with their results)
    ]
    calls.clear()
    refused = WriteResult("k2", None, error=RecordError("refused", code="REJECTED"))
    outcomes = [
        (items[0], WriteResult("k1", "crm-1", created=True)),
        (items[1], refused),
        (items[2], WriteResult("k3", "crm-3", created=True)),
        (items[3], WriteResult("k4", "crm-4", created=True)),
    ]
    assert stage.record_results(Entity.CUSTOMER, outcomes) == [
        "created",
        "failed",
        "created",
        "created",
    ]
    assert calls == [
        ("bind_all", ["k1"]),
        ("resolve_failures", ["e1"]),
        ("record_failure", "e2"),
        ("bind_all", ["k3", "k4"]),
        ("resolve_failures", ["e3", "e4"]),
    ]
    bound = sqlite_store.bindings_for(Entity.CUSTOMER, route.target, ["k1", "k2", "k3", "k4"])
    assert {key: (b.external_id, b.snapshot) for key, b in bound.items()} == {
        "k1": ("crm-1", {"number": "N1"}),
        "k3": ("crm-3", {"number": "N3"}),
        "k4": ("crm-4", {"number": "N4"}),
    }
    assert failures(sqlite_store) == {("e2", "push", "REJECTED")}


def test_a_creates_target_snapshot_is_not_scanned_again_once_flat_was(
    sqlite_store, route, monkeypatch
):
    """A create's target snapshot holds values of `flat` alone (no previous snapshot to merge
    into): once `flat` was encoded and its values found plain, it is encoded without a second
    scan (`encode_plain_snapshot`). The text and hash are what a scan gives; a flat that is not
    plain (a float, which json spells otherwise) has its subsets scanned as before."""
    from connector.engine import prepare
    from connector.state.snapshots import encode_snapshot

    calls: list[str] = []
    for name in ("encode_snapshot", "encode_plain_snapshot"):
        function = getattr(prepare, name)
        monkeypatch.setattr(
            prepare,
            name,
            lambda snapshot, _name=name, _function=function: (
                calls.append(_name),
                _function(snapshot),
            )[1],
        )
    stage, _ = binder(sqlite_store, route)
    created = WriteResult("k1", "crm-1", created=True)
    [item] = outgoing(("k1", Customer(number="N1", name="Acme", phone="1")))
    item.unrepresentable = frozenset({"phone"})  # (so the target's snapshot is not all of flat)
    expected = {"number": "N1", "name": "Acme", UNWRITTEN + "phone": "1"}

    assert stage._taken(Entity.CUSTOMER, item, created) == encode_snapshot(expected)
    assert calls == ["encode_snapshot"]  # flat not encoded yet: nothing known, scanned
    calls.clear()
    assert item.encoded(item.flat) == encode_snapshot(item.flat)
    assert stage._taken(Entity.CUSTOMER, item, created) == encode_snapshot(expected)
    assert calls == ["encode_plain_snapshot", "encode_plain_snapshot"]

    calls.clear()
    odd = replace(item, flat={**item.flat, "score": 1e-7})
    odd.unrepresentable = frozenset({"phone"})
    assert odd.encoded(odd.flat) == encode_snapshot(odd.flat)
    assert '"score":1e-07' in encode_snapshot(odd.flat).text
    assert stage._taken(Entity.CUSTOMER, odd, created) == encode_snapshot(expected)
    assert calls == ["encode_snapshot", "encode_snapshot"]
