"""The convergence check: every shipped mapping pair settles, and what does not is reported at
`file:line:column`.

Property (hypothesis drives the check's own random source, so failures shrink): for a record
created in system A and synced to B, then edited on either side, the passes A → B, B → A, A → B
leave both native records unchanged except by the edit, and the third pass writes nothing. Each
side stores values the way its system does: HubSpot through the adapter's normalisation
(`adapters/hubspot/terms.py`), the sample ERP with only the columns its tables have.
"""

from __future__ import annotations

import random
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.erp_generic.sample import sample_metadata
from adapters.hubspot import terms as hubspot_terms
from adapters.hubspot.objects import LINE_ITEM_PROPERTIES
from adapters.salesforce import terms as salesforce_terms
from connector.mapping.catalog import MappingCatalog
from connector.mapping.convergence import Pair, check_pair, run_example, static_problems
from connector.mapping.simulation import Side, mapping_entries
from connector.model import Entity

KINDS = ("erp_generic", "hubspot", "salesforce")
PAIRS = [(a, b, entity) for a, b in combinations(KINDS, 2) for entity in Entity]
TABLES = {Entity.CUSTOMER: "customers", Entity.CONTACT: "contacts", Entity.SALE: "sales_orders"}


class SampleErp:
    """The sample ERP's columns (its SQL tables), stored as written."""

    def __init__(self, drop_line_columns: frozenset[str] = frozenset()) -> None:
        self.tables = sample_metadata().tables
        self.drop = drop_line_columns

    def native_fields(self, entity: Entity) -> frozenset[str]:
        names = set(self.tables[TABLES[entity]].c.keys())
        return frozenset(names | ({"lines"} if entity is Entity.SALE else set()))

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        if entity is not Entity.SALE:
            return None
        return frozenset(self.tables["sales_order_lines"].c.keys()) - self.drop

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        return value

    def computed_native(self, entity: Entity, fields: Any, *, line: bool) -> dict[str, Any]:
        return {}


class HubSpot:
    """HubSpot's line-item properties and its normalisation (the adapter's own functions)."""

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        return frozenset(LINE_ITEM_PROPERTIES) if entity is Entity.SALE else None

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        return hubspot_terms.normalize_native(entity, field, value, line=line)

    def computed_native(self, entity: Entity, fields: Any, *, line: bool) -> dict[str, Any]:
        return hubspot_terms.computed_native(entity, fields, line=line)


class Plain:
    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        return value

    def computed_native(self, entity: Entity, fields: Any, *, line: bool) -> dict[str, Any]:
        return {}


class Salesforce:
    """Salesforce's stored values and its computed StageOutcome (the adapter's own functions)."""

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def native_line_fields(self, entity: Entity) -> frozenset[str] | None:
        return salesforce_terms.native_line_fields(entity)

    def normalize_native(self, entity: Entity, field: str, value: Any, *, line: bool) -> Any:
        return salesforce_terms.normalize_native(entity, field, value, line=line)

    def computed_native(self, entity: Entity, fields: Any, *, line: bool) -> dict[str, Any]:
        return salesforce_terms.computed_native(entity, fields, line=line)


TERMS: dict[str, Any] = {
    "erp_generic": SampleErp(),
    "hubspot": HubSpot(),
    "salesforce": Salesforce(),
}


def side(
    kind: str, entity: Entity, catalog: MappingCatalog | None = None, terms: Any = None
) -> Side:
    catalog = catalog or MappingCatalog()
    mapper = catalog.mapper(kind, entity)
    found = catalog.locate(kind, entity)
    assert found is not None
    entries = mapping_entries(found.read_text(encoding="utf-8"), mapper.source)
    return Side(kind, kind, mapper, terms or TERMS[kind], entries)


@pytest.mark.parametrize(("a", "b", "entity"), PAIRS)
def test_every_shipped_mapping_pair_converges(a: str, b: str, entity: Entity) -> None:
    pair = Pair(side(a, entity), side(b, entity))
    assert static_problems(pair.a) + static_problems(pair.b) == []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.randoms(use_true_random=False))
    def converges(rng: random.Random) -> None:
        pair.findings.clear()
        run_example(pair, rng)
        assert list(pair.findings.values()) == []

    converges()


def _user_mapping(tmp_path: Path, kind: str, entity: Entity, text: str) -> MappingCatalog:
    (tmp_path / kind).mkdir(parents=True, exist_ok=True)
    (tmp_path / kind / f"{entity.value}.yaml").write_text(text)
    return MappingCatalog(tmp_path)


def test_a_field_the_target_stores_differently_is_reported_where_it_is_mapped(tmp_path: Path):
    # HubSpot lower-cases company domains: a name mapped onto `domain` never reads back equal.
    catalog = _user_mapping(
        tmp_path,
        "hubspot",
        Entity.CUSTOMER,
        "fields:\n"
        "  - {canonical: number, native: erp_customer_no, owner: erp_generic}\n"
        "  - {canonical: name, native: domain}\n",
    )
    found = check_pair(
        side("erp_generic", Entity.CUSTOMER),
        side("hubspot", Entity.CUSTOMER, catalog),
        examples=30,
    )
    where = f"{tmp_path / 'hubspot' / 'customer.yaml'}:3:31"  # the `domain` of that entry
    by_place = {p.location: p.message for p in found}
    assert "`name`" in by_place[where] and "reads back as" in by_place[where], found
    # ... and the lower-cased name would flow back and be written to the ERP on every run.
    assert set(by_place) == {where, "mappings/erp_generic/customer.yaml:8:31"}, found


def test_a_line_rebate_sent_as_a_unit_discount_is_reported(tmp_path: Path):
    """Issue 11's mapping: the ERP's rebate on the whole line written into HubSpot's *unit*
    `discount`, and HubSpot's computed `amount` read back into the ERP's `line_total`: the
    amount HubSpot computes is not the ERP's line total, so the ERP's lines change."""
    catalog = _user_mapping(
        tmp_path,
        "hubspot",
        Entity.SALE,
        "fields:\n"
        "  - {canonical: number, native: erp_order_no, owner: erp_generic}\n"
        "lines:\n"
        "  native: lines\n"
        "  fields:\n"
        "    - {canonical: quantity, native: quantity, transform: decimal}\n"
        "    - {canonical: unit_price, native: price, transform: {decimal: 2}}\n"
        "    - {canonical: discount, native: discount, transform: {decimal: 2}}\n"
        "    - {canonical: line_total, native: amount, transform: {decimal: 2}, "
        "direction: inbound}\n",
    )
    found = check_pair(
        side("erp_generic", Entity.SALE), side("hubspot", Entity.SALE, catalog), examples=40
    )
    messages = "\n".join(str(p) for p in found)
    # The ERP's lines are rewritten with HubSpot's own total, pointing at the entry reading it.
    assert "`lines.line_total` is" in messages, messages
    assert f"{tmp_path / 'hubspot' / 'sale.yaml'}:9:39" in messages, messages


def test_a_line_column_the_erp_lacks_is_reported_with_its_position():
    """A foreign ERP without a per-line rebate: the shipped file reads a column it lacks."""
    erp = side("erp_generic", Entity.SALE, terms=SampleErp(frozenset({"discount"})))
    [problem] = static_problems(erp)
    assert problem.location.startswith("mappings/erp_generic/sale.yaml:")
    line, column = (int(part) for part in problem.location.split(":")[1:])
    text = (Path(__file__).parents[2] / "mappings" / "erp_generic" / "sale.yaml").read_text()
    assert text.splitlines()[line - 1][column - 1 :].startswith("discount")
    assert "no native field `discount`" in problem.message
    # The check of the pair reports it first (what the sync then does depends on the engine).
    found = check_pair(erp, side("hubspot", Entity.SALE), examples=10)
    assert found[0] == problem
