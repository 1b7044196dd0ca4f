"""The generated outbound code reads a record of the mapping's own type from its `__dict__`
(`codegen._dict_heads`), in one `itemgetter` call, instead of an attribute per field (the slow
path of attribute lookup on a pydantic model). It must write exactly what the attribute-reading
code writes, and raise what it raises: for every mapping of the inline-transform tests, on many
generated canonical records, whatever paths are wanted (the whole body and the bodies for a few
paths); and a record of another type, or one whose `__dict__` lacks a field, is read the
attribute way.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.mapping import codegen
from connector.mapping.catalog import MappingCatalog, compile_text
from connector.model import Customer, Entity, record_type
from tests.mapping.test_inline_outbound import Refs, _record, _run
from tests.mapping.test_inline_transforms import MAPPINGS


@functools.cache
def _functions(name: str) -> tuple[Entity, Any, Any, Any]:
    text, entity = MAPPINGS[name]
    mapper, problems = compile_text(text, "test.yaml", Entity(entity))
    assert problems == [] and mapper is not None, problems
    fields = list(mapper._outbound)
    kind = record_type(Entity(entity))
    return (
        Entity(entity),
        fields,
        codegen.build_outbound(fields, record_type=kind),
        codegen.build_outbound(fields, specialise=False),
    )


@pytest.mark.parametrize("name", sorted(MAPPINGS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reading_the_records_dict_gives_what_reading_its_attributes_gives(name: str, data: Any):
    entity, fields, from_dict, general = _functions(name)
    record = data.draw(_record(entity, fields))
    create = data.draw(st.booleans())
    paths = sorted({path for field in fields for path in field.canonical})
    wanted = data.draw(st.frozensets(st.sampled_from(paths or ["x"])))
    assert _run(from_dict, record, create, wanted) == _run(general, record, create, wanted)


def _hubspot_customer() -> tuple[Any, Any]:
    mapper = MappingCatalog().mapper("hubspot", Entity.CUSTOMER)
    fields = list(mapper._outbound)
    return codegen.build_outbound(fields, record_type=Customer), codegen.build_outbound(fields)


def _wanted_body(function: Any) -> str:
    """The source of the whole `wanted` body, once it was made (on first use)."""
    return next(
        cell.cell_contents.__source__
        for cell in function.__closure__ or ()
        if getattr(cell.cell_contents, "__name__", "") == "outbound_wanted"
    )


def test_the_hubspot_customer_is_read_from_its_dict():
    from_dict, general = _hubspot_customer()
    record = Customer.model_validate(
        {"number": "C1", "name": "Acme", "billing_address": {"city": "Lyon", "country": "FR"}}
    )
    wanted = frozenset({"number", "name", "billing_address.city", "billing_address.country"})
    assert from_dict(record, Refs(), True, wanted) == general(record, Refs(), True, wanted)
    assert from_dict(record, Refs(), True, wanted)["city"] == "Lyon"
    source = _wanted_body(from_dict)
    assert "take_dict(record.__dict__)" in source and "record.name" not in source
    assert "record.__dict__" not in _wanted_body(general)


class Watched(Customer):
    """A record type whose attributes are not its `__dict__`'s."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        return "watched" if name == "name" else value


def test_a_record_of_another_type_or_without_a_field_is_read_by_attribute():
    from_dict, general = _hubspot_customer()
    wanted = frozenset({"number", "name", "domain", "website", "phone"})

    other = Watched.model_construct(number="C2", name="Acme")
    assert from_dict(other, Refs(), True, wanted) == general(other, Refs(), True, wanted)
    assert from_dict(other, Refs(), True, wanted)["name"] == "watched"

    lacking = Customer.model_construct(number="C3", name="Acme")
    del lacking.__dict__["website"]
    assert _run(from_dict, lacking, True, wanted) == _run(general, lacking, True, wanted)
    assert _run(general, lacking, True, wanted)[0] == "raised"  # (pydantic's AttributeError)


def test_a_record_type_whose_attributes_are_not_its_dicts_is_read_by_attribute():
    fields = list(MappingCatalog().mapper("hubspot", Entity.CUSTOMER)._outbound)
    assert codegen._dict_heads(fields, Customer) is not None
    assert codegen._dict_heads(fields, None) is None
    assert codegen._dict_heads(fields, Watched) is None  # its own `__getattribute__`

    class Shadowed(Customer):
        pass

    assert codegen._dict_heads(fields, Shadowed) is not None
    # (A class attribute of a field's name: pydantic makes one given in the class body that
    # field's default, so it is set afterwards here. A data descriptor takes precedence.)
    Shadowed.phone = property(lambda self: "from the property")  # type: ignore[assignment]
    assert codegen._dict_heads(fields, Shadowed) is None
