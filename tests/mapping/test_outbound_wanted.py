"""The generated outbound code tests "is this field wanted" as `in` tests for a field's few
trigger paths: for every shipped mapping it must write exactly what the general test
(`wanted.isdisjoint(triggers)`, still used past `_INLINE_TRIGGERS` paths) writes, whatever
paths are wanted."""

from __future__ import annotations

import random
from typing import Any

import pytest

from connector.mapping import codegen
from connector.mapping.catalog import MappingCatalog
from connector.mapping.samples import annotation_of, value_for
from connector.model import Entity, unflatten

SHIPPED = [
    (kind, entity)
    for kind in ("erp_generic", "hubspot", "salesforce")
    for entity in (Entity.CUSTOMER, Entity.CONTACT, Entity.SALE)
]


class Refs:
    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        return f"key-{external_id}"

    def external_id(self, entity: Entity, key: str) -> str | None:
        return f"ext-{key}"


def outcome(function: Any, record: Any, create: bool, wanted: frozenset[str]) -> Any:
    try:
        return function(record, Refs(), create, wanted)
    except Exception as error:  # both must fail alike where one does
        return (type(error), str(error))


def sample_records(entity: Entity, fields: list[Any], rng: random.Random) -> list[Any]:
    """Five records with about four in five of the fields' canonical paths set."""
    paths = sorted({p for f in fields for p in f.canonical if p != "lines"})
    records = []
    for _ in range(5):
        flat = {
            path: value_for(annotation_of(entity, path), path.rpartition(".")[2], rng)
            for path in paths
            if rng.random() < 0.8
        }
        records.append(unflatten(entity, flat))
    return records


@pytest.mark.parametrize(("kind", "entity"), SHIPPED)
def test_a_body_for_a_few_wanted_paths_writes_what_the_whole_body_writes(
    kind: str, entity: Entity, monkeypatch: pytest.MonkeyPatch
):
    """`build_outbound` runs a body made for a few wanted paths (`_outbound_for`): it must
    write what the body testing every field writes — defaults and native-only values on
    create included, failures alike — for each path, pair and triple of them; and once it
    keeps `_FEW_FUNCTIONS` bodies, the others take the whole body, with the same result."""
    mapper = MappingCatalog().mapper(kind, entity)
    outbound = [f for f in mapper.fields if f.backward is not None or not f.canonical]
    whole = codegen._outbound_function("whole", outbound, wanted=True)
    monkeypatch.setattr(codegen, "_FEW_FUNCTIONS", 12)
    few = codegen.build_outbound(outbound)
    triggers = sorted({t for f in outbound for t in f.triggers})
    rng = random.Random(f"few-{kind}-{entity.value}")
    wanted_sets = [frozenset([t]) for t in triggers]
    wanted_sets += [frozenset(rng.sample(triggers, k=k)) for k in (2, 3) for _ in range(10)]
    for record in sample_records(entity, outbound, random.Random(f"{kind}-{entity.value}")):
        for wanted in wanted_sets:
            for create in (True, False):
                expected = outcome(whole, record, create, wanted)
                assert outcome(few, record, create, wanted) == expected, (wanted, create)


@pytest.mark.parametrize(("kind", "entity"), SHIPPED)
def test_inline_wanted_tests_write_what_the_general_test_writes(
    kind: str, entity: Entity, monkeypatch: pytest.MonkeyPatch
):
    mapper = MappingCatalog().mapper(kind, entity)
    outbound = [f for f in mapper.fields if f.backward is not None or not f.canonical]
    inline = codegen.build_outbound(outbound)
    monkeypatch.setattr(codegen, "_INLINE_TRIGGERS", 0)
    general = codegen.build_outbound(outbound)
    triggers = sorted({t for f in outbound for t in f.triggers})
    rng = random.Random(f"{kind}-{entity.value}")
    records = sample_records(entity, outbound, rng)
    wanted_sets = [frozenset([t]) for t in triggers] + [frozenset(triggers), frozenset()]
    wanted_sets += [frozenset(rng.sample(triggers, k=len(triggers) // 2)) for _ in range(10)]
    if entity is Entity.CUSTOMER and kind != "erp_generic":  # addresses: two paths each
        assert any(len(f.triggers) == 2 for f in outbound)
    for record in records:
        for wanted in wanted_sets:
            for create in (True, False):
                expected = outcome(general, record, create, wanted)
                assert outcome(inline, record, create, wanted) == expected, (wanted, create)
