"""The record built by the generated code itself (`codegen.build_record_inbound`), held to the
general way it stands in for: `build_inbound`'s values, checked or validated, made a record by
`trusted_constructor` (or pydantic).

For every mapping of the inline-transform tests, on many generated native records (some fields
absent, values of every type, now and then no plain `dict`; timestamps of every kind), the
mapper with that function and the mapper without it must give the same outcome: the same error,
or records equal down to each object's `__dict__` order, its fields set and its other slots,
and the same flattened form (whose key order is not held: the record function gives it sorted,
the general way in the mapping file's order, and the snapshot codec sorts it either way).
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from connector.adapter import NativeRecord
from connector.errors import MappingError, UnresolvedReference
from connector.mapping.catalog import MappingCatalog, compile_text
from connector.mapping.mapper import CompiledMapper
from connector.model import Entity
from tests.mapping.test_inline_transforms import MAPPINGS, Refs, _record

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)

_MAPPERS: dict[str, tuple[CompiledMapper, CompiledMapper]] = {}


def _mappers(name: str) -> tuple[CompiledMapper, CompiledMapper]:
    """The mapping's mapper, and a copy of it without the record function (the general way)."""
    if name not in _MAPPERS:
        text, entity = MAPPINGS[name]
        mapper, problems = compile_text(text, "test.yaml", Entity(entity))
        assert problems == [] and mapper is not None, problems
        general = copy.copy(mapper)
        general._record_function = None
        _MAPPERS[name] = mapper, general
    return _MAPPERS[name]


def shape(value: Any) -> Any:
    """A value with everything that can tell two records apart made visible: each model's
    type, its `__dict__` in order, its fields set and its other slots; scalars by their type
    and repr (a NaN is not equal to itself)."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            [(name, shape(item)) for name, item in value.__dict__.items()],
            type(value.__pydantic_fields_set__),
            sorted(value.__pydantic_fields_set__),
            value.__pydantic_extra__,
            value.__pydantic_private__,
        )
    if isinstance(value, dict):
        return (type(value), [(key, shape(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value), [shape(item) for item in value])
    return (type(value), repr(value))


def outcome(mapper: CompiledMapper, native: NativeRecord) -> tuple[str, Any]:
    try:
        record, flat = mapper.to_canonical_flat(native, Refs())
    except (MappingError, UnresolvedReference) as error:
        return "raised", (type(error), str(error))
    return "gave", (shape(record), None if flat is None else shape(dict(sorted(flat.items()))))


TIMES = st.one_of(
    st.just(WHEN),
    st.none(),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2))])),
    st.datetimes(),  # naive: refused, as before
)


@pytest.mark.parametrize("name", sorted(MAPPINGS))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_record_function_gives_what_the_general_way_gives(name: str, data: Any):
    fast, general = _mappers(name)
    fields = data.draw(_record(list(fast._inbound)))
    updated = data.draw(TIMES)
    deleted = data.draw(st.sampled_from([False, True, False, 1, "yes"]))
    native = NativeRecord("1", updated, fields, deleted=deleted)  # type: ignore[arg-type]
    assert outcome(fast, native) == outcome(general, native)


def test_the_sample_erps_customers_are_built_by_it():
    """The shipped ERP customer mapping has a record function, and a well-typed row takes it:
    the record as the general way builds it, its value objects included."""
    mapper = MappingCatalog().mapper("erp_generic", Entity.CUSTOMER)
    assert mapper._record_function is not None
    source = mapper._record_function.__source__  # type: ignore[attr-defined]
    assert " = take(fields)" in source and "fields.get" not in source
    row: dict[str, Any] = {field.native[0]: None for field in mapper._inbound}
    row.update(
        customer_no="C1", name="Acme", annual_revenue=Decimal("10.50"), status="active",
        billing_city="Lyon", billing_country="FR", lifetime_revenue=Decimal(0),
        last_order_date=dt.date(2024, 1, 2), open_order_count=3,
    )  # fmt: skip
    record, flat, values = mapper._record_function(row, Refs(), WHEN, False)
    assert values is None and record is not None and flat is not None
    general = copy.copy(mapper)
    general._record_function = None
    native = NativeRecord("1", WHEN, row)
    assert outcome(mapper, native) == outcome(general, native)
    assert record.billing_address.city == "Lyon" and record.billing_address.model_fields_set == {
        "street",
        "city",
        "postal_code",
        "region",
        "country",
    }
    assert record.model_fields_set >= {"updated_at", "deleted", "history", "name"}
    assert "key" not in record.model_fields_set and record.custom == {}
    assert flat["annual_revenue"] == "10.5" and flat["history.last_order_date"] == "2024-01-02"
    # In sorted key order: orjson sorts a snapshot given in that order for a third less.
    assert list(flat) == sorted(flat)
    # Each record its own value objects and sets: changing one changes no other.
    again, _, _ = mapper._record_function(row, Refs(), WHEN, False)
    record.key = "k1"
    record.custom["x"] = 1
    assert again.key is None and again.custom == {} and "key" not in again.model_fields_set


class _Text(str):
    """Text of a subclass: no check lets it through (pydantic decides)."""


def test_a_value_its_check_refuses_is_validated_by_pydantic():
    mapper = MappingCatalog().mapper("erp_generic", Entity.CUSTOMER)
    row: dict[str, Any] = {field.native[0]: None for field in mapper._inbound}
    row.update(customer_no="C1", name="Acme", billing_street=_Text("1 Main St"))
    record, flat, values = mapper._record_function(row, Refs(), WHEN, False)
    assert record is None and flat is None and values is not None
    assert type(values["billing_address"]["street"]) is _Text
    built, flat = mapper.to_canonical_flat(NativeRecord("1", WHEN, row), Refs())
    assert built.billing_address is not None and flat is None
    assert built.billing_address.street == "1 Main St"
    del row["name"]  # a field the record lacks: the general way
    assert mapper._record_function(row, Refs(), WHEN, False) == (None, None, None)


def test_a_mapping_of_one_field():
    mapper, problems = compile_text(
        "fields:\n  - {canonical: name, native: n}\n", "x.yaml", Entity.CUSTOMER
    )
    assert problems == [] and mapper is not None and mapper._record_function is not None
    record, flat = mapper.to_canonical_flat(NativeRecord("1", WHEN, {"n": "Acme"}), Refs())
    assert record.name == "Acme" and flat == {"name": "Acme"}


@pytest.mark.parametrize("system", ["erp_generic", "hubspot", "salesforce"])
def test_a_sale_mapping_reading_lines_keeps_the_taking_inbound_function(system: str):
    """Lines read inbound are converted apart, so such a mapper has no record function; it
    must then keep `build_inbound`'s `inbound` (all fields taken in one call), not be left with
    `inbound_each` alone as a mapper with a record function is."""
    path = Path(__file__).resolve().parents[2] / "mappings" / system / "sale.yaml"
    mapper, problems = compile_text(path.read_text(), str(path), Entity.SALE)
    assert problems == [] and mapper is not None and mapper._lines_in is not None
    assert mapper._record_function is None
    assert mapper._inbound_function.__name__ == "inbound"
