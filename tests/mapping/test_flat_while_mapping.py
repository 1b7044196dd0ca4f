"""The flattened record the mapper makes while mapping (`to_canonical_flat`).

The engine plans and snapshots with it instead of `flatten(record)`, so wherever the mapper
gives one it must be exactly `flatten`'s: the same paths with the same values, for every
shipped mapping and every kind of value a check lets through; where it cannot be sure (a value
the checks send to pydantic, sale lines, a custom value of no plain type) it gives none.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from connector.adapter import NativeRecord
from connector.errors import MappingError
from connector.model import Entity, flatten
from tests.mapping.conftest import WHEN, DictRefs, compile_yaml
from tests.mapping.test_shipped_mappings import CATALOG, SHIPPED, KeyRefs, _build, record_strategy

MAPPING = """\
fields:
  - {canonical: name, native: name, required: true}
  - {canonical: email, native: email}
  - {canonical: employees, native: employees}
  - {canonical: annual_revenue, native: revenue}
  - {canonical: status, native: status}
  - {canonical: billing_address.city, native: city}
  - {canonical: history.last_order_date, native: last_order}
  - {canonical: history.lifetime_revenue, native: lifetime}
  - {canonical: custom.tier, native: tier}
"""


def _mapped(fields: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    mapper = compile_yaml(MAPPING)
    return mapper.to_canonical_flat(NativeRecord("1", WHEN, fields), DictRefs())


def test_each_kind_of_checked_value_is_flattened_as_flatten_does():
    record, flat = _mapped(
        {
            "name": "Acme",
            "email": None,
            "employees": 12,
            "revenue": Decimal("10.50"),
            "status": "blocked",
            "city": "Lyon",
            "last_order": dt.date(2024, 1, 2),
            "lifetime": Decimal("1E+3"),
            "tier": "gold",
        }
    )
    assert flat is not None
    assert flat == flatten(record)
    # The forms `flatten` gives: text for amounts and dates, the status's value.
    assert flat["annual_revenue"] == "10.5" and flat["history.lifetime_revenue"] == "1000"
    assert flat["history.last_order_date"] == "2024-01-02" and flat["status"] == "blocked"


def test_paths_the_record_lacks_are_not_in_it():
    record, flat = _mapped({"name": "Acme", "city": None})
    assert flat == flatten(record) == {"name": "Acme", "billing_address.city": None}


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Acme", "revenue": "10.5"},  # text where an amount belongs: pydantic converts
        {"name": "Acme", "employees": "12"},
        {"name": "Acme", "tier": {"level": 2}},  # a custom value of no plain type
        {"name": "Acme", "last_order": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)},
        {"name": "Acme", "status": "blocked", "revenue": Decimal("Infinity")},
    ],
)
def test_none_where_the_record_is_validated_or_flatten_must_convert(fields: dict[str, Any]):
    try:
        record, flat = _mapped(fields)
    except MappingError:  # (pydantic refuses an infinite amount, as before)
        assert fields.get("revenue") == Decimal("Infinity")
        return
    assert flat is None
    flatten(record)  # the caller's way, as before


def test_sale_lines_are_left_to_flatten():
    mapper = CATALOG.mapper("erp_generic", Entity.SALE)
    native = NativeRecord(
        "1",
        WHEN,
        {
            "order_no": "SO-1",
            "customer_id": "7",
            "lines": [{"line_no": 1, "sku": "A", "quantity": Decimal(2)}],
        },
    )
    _, flat = mapper.to_canonical_flat(native, KeyRefs())
    assert flat is None


def test_the_sample_erps_customers_take_the_fast_way():
    mapper = CATALOG.mapper("erp_generic", Entity.CUSTOMER)
    native = NativeRecord(
        "1",
        WHEN,
        {
            "customer_no": "C1",
            "name": "Acme",
            "annual_revenue": Decimal("5549950.00"),
            "employees": 25,
            "status": "active",
            "billing_country": "GB",
            "last_order_date": None,
        },
    )
    record, flat = mapper.to_canonical_flat(native, KeyRefs())
    assert flat is not None and flat == flatten(record)


@pytest.mark.parametrize(("kind", "entity"), SHIPPED)
def test_every_shipped_mapping_gives_flattens_result_or_none(kind: str, entity: Entity):
    mapper = CATALOG.mapper(kind, entity)
    refs = KeyRefs()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(record_strategy(mapper))
    def same(values: dict[str, Any]) -> None:
        native = mapper.to_native(_build(mapper, values), refs, create=True)
        record, flat = mapper.to_canonical_flat(NativeRecord("1", WHEN, native), refs)
        assert flat is None or flat == flatten(record)
        assert mapper.to_canonical(NativeRecord("1", WHEN, native), refs) == record

    same()
