"""The plan stage, on plain data: keyed records and the bindings known for them → writes."""

from __future__ import annotations

from typing import Any

from connector.config import MissingPolicy
from connector.engine.stages.plan import Known, PlanRules, plan_page
from connector.model import Customer, Entity, Record
from connector.state.bindings import Binding
from connector.testing.identity import IdentityMapper
from tests.engine.stages.conftest import DictRefs, native

MAPPER = IdentityMapper(Entity.CUSTOMER)


def rules(**changes: Any) -> PlanRules:
    values: dict[str, Any] = {
        "source": "erp",
        "target": "crm",
        "source_names": frozenset({"erp", "memory"}),
        "create_conditions": {},
        "missing_policy": MissingPolicy.WARN,
    }
    return PlanRules(**{**values, **changes})


def bound(key: str, external_id: str, **snapshot: Any) -> Binding:
    return Binding("customer", key, "crm", external_id, snapshot, None, None)


def keyed(key: str, record: Record, source_id: str | None = None):  # type: ignore[no-untyped-def]
    record.key = key
    return (native(source_id or key), record, key)


def test_new_records_are_created_changed_ones_updated_by_their_diff_equal_ones_left_alone():
    page = [
        keyed("new", Customer(number="N1", name="Acme")),
        keyed("changed", Customer(number="N2", name="Beta Ltd")),
        keyed("same", Customer(number="N3", name="Gamma")),
    ]
    known = Known(
        target={
            "changed": bound("changed", "crm-2", number="N2", name="Beta"),
            "same": bound("same", "crm-3", number="N3", name="Gamma"),
        }
    )
    planned = plan_page(page, known, rules(), MAPPER, MAPPER, DictRefs())

    writes = {item.key: item.write for item in planned.outgoing}
    assert writes["new"] is not None and writes["new"].external_id is None
    assert writes["new"].fields == {"number": "N1", "name": "Acme"}
    assert writes["changed"] is not None and writes["changed"].external_id == "crm-2"
    assert writes["changed"].fields == {"name": "Beta Ltd"}
    assert writes["same"] is None  # unchanged: handled without a write
    assert planned.failed == planned.skipped == [] and planned.withheld == {}


def test_a_record_the_route_may_not_create_is_skipped_not_written():
    page = [keyed("a", Customer(number="N1", status="blocked"))]
    never = plan_page(page, Known(), rules(create_conditions=None), MAPPER, MAPPER, DictRefs())
    assert [item.key for item in never.skipped] == ["a"] and never.outgoing == []
    only_active = rules(create_conditions={"status": ["active"]})
    planned = plan_page(page, Known(), only_active, MAPPER, MAPPER, DictRefs())
    assert [item.key for item in planned.skipped] == ["a"]


def test_an_empty_source_value_never_clears_the_target_and_the_policy_says_how_loud():
    page = [keyed("a", Customer(number="N1", name=""), "e1")]
    known = Known(target={"a": bound("a", "crm-1", number="N1", name="Acme")})

    warned = plan_page(page, known, rules(), MAPPER, MAPPER, DictRefs())
    assert warned.withheld == {"name": ["e1"]}
    assert [item.write for item in warned.outgoing] == [None]

    failing = rules(missing_policy=MissingPolicy.FAIL)
    failed = plan_page(page, known, failing, MAPPER, MAPPER, DictRefs())
    assert [(f.native.id, f.stage, f.error.code) for f in failed.failed] == [  # type: ignore[attr-defined]
        ("e1", "diff", "MISSING_VALUE")
    ]
    assert failed.outgoing == []


class NoIndustry(IdentityMapper):
    """A target with no option for some labels: their native value comes out empty."""

    def to_native(self, record, refs, *, create, paths=None):  # type: ignore[no-untyped-def]
        fields = super().to_native(record, refs, create=create, paths=paths)
        if "industry" in fields:
            fields["industry"] = None
        return fields


def test_a_value_the_target_cannot_represent_is_left_out_of_the_write():
    page = [
        keyed("a", Customer(number="N1", industry="Mining"), "e1"),
        keyed("b", Customer(number="N2", industry="Mining"), "e2"),
    ]
    known = Known(target={"b": bound("b", "crm-2", number="N2")})
    planned = plan_page(page, known, rules(), MAPPER, NoIndustry(Entity.CUSTOMER), DictRefs())

    a, b = planned.outgoing
    assert a.write is not None and a.write.fields == {"number": "N1"}
    assert a.unrepresentable == {"industry"}
    assert b.write is None and b.unrepresentable == {"industry"}  # nothing else to write
    assert planned.withheld == {"industry": ["e1", "e2"]}


def test_a_record_whose_reference_has_no_target_record_fails_alone_at_map():
    contact = IdentityMapper(Entity.CONTACT)
    page = [
        (native("e1"), contact.to_canonical(native("e1", customer="c1"), _refs()), "p1"),
        (native("e2"), contact.to_canonical(native("e2", customer="c2"), _refs()), "p2"),
    ]
    target_refs = DictRefs({(Entity.CUSTOMER, "crm-c1"): "key-c1"})
    planned = plan_page(page, Known(), rules(), contact, contact, target_refs)
    assert [item.native.id for item in planned.outgoing] == ["e1"]
    assert [(f.native.id, f.stage) for f in planned.failed] == [("e2", "map")]


def _refs() -> DictRefs:
    return DictRefs({(Entity.CUSTOMER, "c1"): "key-c1", (Entity.CUSTOMER, "c2"): "key-c2"})


def test_known_reads_only_the_source_bindings_not_read_with_the_keys(tmp_path):  # type: ignore[no-untyped-def]
    """`load_known` given the source's bindings read already (`Keyed.source`) asks the store
    for the target's and for the source's of the other keys only (a record matched in the
    target, whose key another source record may hold)."""
    from connector.engine.stages.plan import load_known

    route, store, asked = _store_asked(tmp_path, ("k1", "k2"))
    read = {"k1": Binding("customer", "k1", "erp", "e-k1", {"name": "read"}, None, None)}

    known = load_known(store, Entity.CUSTOMER, route, ["k1", "k2"], source=True, source_read=read)

    assert asked == [("crm", ["k1", "k2"]), ("erp", ["k2"])]
    assert known.source["k1"] is read["k1"] and known.source["k2"].snapshot == {"name": "k2"}
    assert known.target.keys() == {"k1", "k2"}
    asked.clear()
    whole = load_known(store, Entity.CUSTOMER, route, ["k1"], source=True, source_read=read)
    assert asked == [("crm", ["k1"])] and whole.source == read
    store.close()


def test_known_reads_neither_side_of_the_keys_read_with_both(tmp_path):  # type: ignore[no-untyped-def]
    """`load_known` given the source's bindings with the target's of the same keys
    (`PairedBindings`, one query) asks the store about the other keys only, on both sides; a
    key read without a target binding is not bound there (not asked again)."""
    from connector.engine.stages.plan import load_known
    from connector.state.bindings import PairedBindings

    route, store, asked = _store_asked(tmp_path, ("k1", "k2", "k3"))
    crm = Binding("customer", "k1", "crm", "c-read", {"name": "read"}, None, None)
    read = PairedBindings({"k1": crm})
    read["k1"] = Binding("customer", "k1", "erp", "e-k1", {"name": "read"}, None, None)
    read["k3"] = Binding("customer", "k3", "erp", "e-k3", {"name": "read"}, None, None)

    keys = ["k1", "k2", "k3"]
    known = load_known(store, Entity.CUSTOMER, route, keys, source=True, source_read=read)

    assert asked == [("crm", ["k2"]), ("erp", ["k2"])]
    assert known.target.keys() == {"k1", "k2"} and known.target["k1"] is crm  # k3: as read
    assert known.source.keys() == {"k1", "k2", "k3"} and known.source["k3"] is read["k3"]
    asked.clear()
    whole = load_known(store, Entity.CUSTOMER, route, ["k1", "k3"], source=True, source_read=read)
    assert asked == [] and whole.source == read and whole.target == {"k1": crm}
    store.close()


def _store_asked(
    tmp_path: Any, keys: tuple[str, ...]
) -> tuple[Any, Any, list[tuple[str, list[str]]]]:
    """The erp-to-crm route of `config_for`, a store binding each key in "erp" and "crm", and
    the (system, keys) of each `bindings_for` call made on it from now on."""
    from connector.state.store import open_store
    from tests.engine.helpers import config_for

    route = config_for(tmp_path).route("erp-to-crm")
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    with store.transaction() as tx:
        for key in keys:
            tx.bind(Entity.CUSTOMER, key, "erp", f"e-{key}", snapshot={"name": key})
            tx.bind(Entity.CUSTOMER, key, "crm", f"c-{key}", snapshot={"name": key})
    asked: list[tuple[str, list[str]]] = []
    bindings_for = store.bindings_for
    store.bindings_for = lambda entity, system, keys: (  # type: ignore[method-assign]
        asked.append((system, sorted(keys))) or bindings_for(entity, system, keys)
    )
    return route, store, asked
