"""The map stage: native → canonical, each record failing alone."""

from __future__ import annotations

from connector.adapter import NativeRecord
from connector.engine.stages.map import map_page
from connector.errors import MappingError, RecordError, UnresolvedReference
from connector.model import Entity
from connector.testing.identity import IdentityMapper
from tests.engine.stages.conftest import DictRefs, at


class Exploding(IdentityMapper):
    def to_canonical(self, native, refs):  # type: ignore[no-untyped-def]
        if native.id == "boom":
            raise ZeroDivisionError("division by zero")
        return super().to_canonical(native, refs)


def test_good_records_map_and_each_bad_one_fails_alone_with_its_stage():
    unreadable = NativeRecord(
        "u", at(0), {}, problem=RecordError("a date it cannot read", code="UNREADABLE")
    )
    page = [
        NativeRecord("p1", at(1), {"email": "a@example.com", "customer": "erp-c1"}),
        unreadable,
        NativeRecord("p2", at(2), {"email": "b@example.com", "customer": "erp-unknown"}),
        NativeRecord("boom", at(3), {"email": "c@example.com"}),
        NativeRecord("p3", at(4), {"email": "d@example.com", "primary": "perhaps"}),
    ]
    refs = DictRefs({(Entity.CUSTOMER, "erp-c1"): "key-c1"})

    mapped = map_page(page, Exploding(Entity.CONTACT), refs)

    assert [(n.id, r.key, r.customer) for n, r in mapped.records] == [("p1", None, "key-c1")]
    stages = {f.native.id: (f.stage, type(f.error)) for f in mapped.failed}
    assert stages["u"] == ("read", RecordError)
    assert stages["p2"] == ("map", UnresolvedReference)
    # Anything unexpected is a record failure too, named as such.
    assert stages["boom"] == ("map", MappingError)
    assert stages["p3"] == ("map", MappingError)  # not a boolean
    assert {n.id for n, _ in mapped.records} | set(stages) == {r.id for r in page}
