"""What a compiled mapper does with records: set paths, directions, defaults, refs, lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connector.errors import MappingError, UnresolvedReference
from connector.model import Customer, Entity, Sale, SaleLine, SaleStage, flatten

from .conftest import WHEN, DictRefs, compile_yaml, native

CUSTOMER = """\
fields:
  - {canonical: number, native: erp_customer_no, owner: erp_generic}
  - {canonical: name, native: name, transform: strip, required: true}
  - {canonical: employees, native: numberofemployees, transform: integer}
  - {canonical: billing_address.city, native: city, owner: erp_generic}
  - {canonical: billing_address.country, native: country, transform: country_name}
  - {canonical: custom.segment, native: segment, transform: {value_map: {A: key, B: normal}}}
  - {canonical: status, native: status, default: active, direction: outbound}
  - {canonical: currency, native: cur, create_only: true}
  - {canonical: history.open_order_count, native: open_orders, transform: integer,
     direction: outbound}
  - {canonical: industry, native: industry, direction: inbound, owner: hubspot}
  - {canonical: website, native: props.web.url}
"""


def test_to_canonical_sets_exactly_the_paths_the_record_carries(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = mapper.to_canonical(native({"name": " Acme ", "city": "Berlin", "segment": "A"}), refs)
    assert isinstance(record, Customer)
    assert flatten(record) == {
        "name": "Acme",
        "billing_address.city": "Berlin",
        "custom.segment": "key",
    }
    assert record.billing_address is not None
    assert record.billing_address.model_fields_set == {"city"}
    assert record.updated_at == WHEN


def test_a_present_null_clears_and_an_absent_field_is_left_alone(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = mapper.to_canonical(native({"name": "Acme", "numberofemployees": None}), refs)
    assert flatten(record) == {"name": "Acme", "employees": None}


def test_nested_native_paths_are_read_and_written(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = mapper.to_canonical(native({"name": "A", "props": {"web": {"url": "a.io"}}}), refs)
    assert record.website == "a.io"
    assert mapper.to_native(record, refs, create=False, paths=["website"]) == {
        "props": {"web": {"url": "a.io"}}
    }


def test_outbound_only_and_inbound_only_fields(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = mapper.to_canonical(
        native({"name": "A", "status": "blocked", "industry": "Retail", "open_orders": "3"}), refs
    )
    assert "status" not in record.model_fields_set  # outbound only: never read
    assert "history" not in record.model_fields_set
    assert record.industry == "Retail"
    assert "status" not in mapper.inbound_fields and "status" in mapper.outbound_fields
    assert "industry" in mapper.inbound_fields and "industry" not in mapper.outbound_fields
    out = mapper.to_native(
        Customer(industry="Retail", history={"open_order_count": 4}), refs, create=False
    )
    assert out == {"open_orders": "4"}


def test_to_native_writes_only_requested_paths(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = Customer(name="Acme", employees=12, billing_address={"city": "Rome", "country": "IT"})
    assert mapper.to_native(record, refs, create=False, paths={"employees"}) == {
        "numberofemployees": "12"
    }
    assert mapper.to_native(record, refs, create=False) == {
        "name": "Acme",
        "numberofemployees": "12",
        "city": "Rome",
        "country": "Italy",
    }


def test_a_cleared_address_clears_its_mapped_fields(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = Customer(name="A", billing_address=None)
    assert mapper.to_native(record, refs, create=False) == {
        "name": "A",
        "city": None,
        "country": None,
    }


def test_defaults_fill_empty_fields_on_create_only(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = Customer(name="A")
    assert mapper.to_native(record, refs, create=True)["status"] == "active"
    assert "status" not in mapper.to_native(record, refs, create=False)
    blocked = Customer(name="A", status="blocked")
    assert mapper.to_native(blocked, refs, create=True)["status"] == "blocked"


def test_create_only_fields_are_written_on_create_only(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    record = Customer(name="A", currency="EUR")
    assert mapper.to_native(record, refs, create=True)["cur"] == "EUR"
    assert "cur" not in mapper.to_native(record, refs, create=False)
    assert "cur" not in mapper.to_native(record, refs, create=False, paths=["currency"])


def test_required_field_missing_or_empty_is_a_mapping_error_naming_it(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    with pytest.raises(MappingError, match=r"test.yaml:3: field `name` \(native `name`\)"):
        mapper.to_canonical(native({"city": "Rome"}), refs)
    with pytest.raises(MappingError, match="required, but empty"):
        mapper.to_canonical(native({"name": "   "}), refs)
    with pytest.raises(MappingError, match=r"`name`.*no value"):
        mapper.to_native(Customer(name=None), refs, create=True)


def test_a_value_that_will_not_convert_is_a_mapping_error_naming_the_field(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    with pytest.raises(MappingError, match=r"field `employees` \(native `numberofemployees`\)"):
        mapper.to_canonical(native({"name": "A", "numberofemployees": "many"}), refs)


def test_a_transform_producing_the_wrong_type_is_a_mapping_error_not_silent(refs: DictRefs):
    mapper = compile_yaml("fields:\n  - {canonical: employees, native: n, transform: strip}\n")
    with pytest.raises(MappingError, match=r"field `employees`.*valid integer.*'lots'"):
        mapper.to_canonical(native({"n": "lots"}), refs)


def test_value_map_unknown_value_is_an_error_that_lists_the_known_ones(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    with pytest.raises(
        MappingError, match=r"native value 'C' is not in the value map \('A', 'B'\)"
    ):
        mapper.to_canonical(native({"name": "A", "segment": "C"}), refs)


def test_owner_and_native_field(refs: DictRefs):
    mapper = compile_yaml(CUSTOMER)
    assert mapper.owner("number") == "erp_generic"
    assert mapper.owner("billing_address.city") == "erp_generic"
    assert mapper.owner("industry") == "hubspot"
    assert mapper.owner("name") is None
    assert mapper.native_field("number") == "erp_customer_no"
    assert mapper.native_field("website") == "props.web.url"
    assert mapper.native_field("email") is None


SALE = """\
fields:
  - {canonical: number, native: erp_order_no}
  - {canonical: customer, native: associations.company, ref: customer, required: true}
  - {canonical: contact, native: associations.contact, ref: contact}
  - canonical: stage
    native: dealstage
    default: appointmentscheduled
    transform:
      value_map:
        map: {appointmentscheduled: open, closedwon: won, closedlost: lost}
        also: {qualifiedtobuy: open, contractsent: open}
  - {native: pipeline, default: default, direction: outbound, create_only: true}
  - {canonical: close_date, native: closedate, transform: epoch_ms_date}
lines:
  native: lines
  owner: erp_generic
  fields:
    - {canonical: sku, native: hs_sku}
    - {canonical: quantity, native: quantity, transform: decimal}
    - {canonical: unit_price, native: price, transform: {decimal: 2}}
    - {canonical: line_total, native: amount, transform: {decimal: 2}, direction: inbound}
    - {canonical: description, native: name, default: "(no description)"}
"""

BOUND = DictRefs({(Entity.CUSTOMER, "9001"): "cust-1", (Entity.CONTACT, "77"): "cont-1"})


def test_value_map_many_to_one_reads_all_and_writes_the_chosen_one():
    mapper = compile_yaml(SALE, Entity.SALE)
    for stage in ("appointmentscheduled", "qualifiedtobuy", "contractsent"):
        record = mapper.to_canonical(
            native({"dealstage": stage, "associations": {"company": "9001"}}), BOUND
        )
        assert record.stage is SaleStage.OPEN
        assert mapper.to_native(record, BOUND, create=False, paths=["stage"]) == {
            "dealstage": "appointmentscheduled"
        }
    won = Sale(customer="cust-1", stage="won")
    assert mapper.to_native(won, BOUND, create=False, paths=["stage"]) == {"dealstage": "closedwon"}


def test_references_are_found_and_resolved_both_ways():
    mapper = compile_yaml(SALE, Entity.SALE)
    record_native = native({"associations": {"company": "9001", "contact": "77"}})
    refs_found = mapper.references(record_native)
    assert [(r.path, r.entity, r.external_id) for r in refs_found] == [
        ("customer", Entity.CUSTOMER, "9001"),
        ("contact", Entity.CONTACT, "77"),
    ]
    record = mapper.to_canonical(record_native, BOUND)
    assert (record.customer, record.contact) == ("cust-1", "cont-1")
    out = mapper.to_native(record, BOUND, create=False)
    assert out == {"associations": {"company": "9001", "contact": "77"}}


def test_unresolved_references_raise_a_retryable_error_both_ways():
    mapper = compile_yaml(SALE, Entity.SALE)
    with pytest.raises(UnresolvedReference) as caught:
        mapper.to_canonical(native({"associations": {"company": "404"}}), BOUND)
    assert (caught.value.entity, caught.value.external_id, caught.value.field) == (
        "customer",
        "404",
        "customer",
    )
    assert caught.value.retryable
    with pytest.raises(UnresolvedReference):
        mapper.to_native(Sale(customer="cust-unknown"), BOUND, create=True)


def test_required_reference_missing_is_a_mapping_error():
    mapper = compile_yaml(SALE, Entity.SALE)
    with pytest.raises(MappingError, match="`customer`"):
        mapper.to_canonical(native({"dealstage": "closedwon"}), BOUND)


def test_lines_both_ways_with_line_defaults_and_inbound_only_line_fields():
    mapper = compile_yaml(SALE, Entity.SALE)
    record = mapper.to_canonical(
        native(
            {
                "associations": {"company": "9001"},
                "lines": [
                    {"hs_sku": "W-1", "quantity": "2", "price": "10.5", "amount": "21.00"},
                    {"hs_sku": "W-2", "quantity": "1"},
                ],
            }
        ),
        BOUND,
    )
    assert record.lines == [
        SaleLine(sku="W-1", quantity=Decimal(2), unit_price=Decimal("10.50"), line_total=21),
        SaleLine(sku="W-2", quantity=Decimal(1)),
    ]
    assert record.lines[1].model_fields_set == {"sku", "quantity"}
    assert flatten(record)["lines"][1] == {"quantity": "1", "sku": "W-2"}
    out = mapper.to_native(record, BOUND, create=False, paths=["lines"])
    assert out == {
        "lines": [
            {"hs_sku": "W-1", "quantity": "2", "price": "10.50", "name": "(no description)"},
            {"hs_sku": "W-2", "quantity": "1", "name": "(no description)"},
        ]
    }
    assert mapper.owner("lines") == "erp_generic"
    assert mapper.native_field("lines") == "lines"
    assert "lines" in mapper.inbound_fields and "lines" in mapper.outbound_fields


def test_lines_that_are_not_a_list_are_a_mapping_error():
    mapper = compile_yaml(SALE, Entity.SALE)
    with pytest.raises(MappingError, match="expected a list"):
        mapper.to_canonical(native({"associations": {"company": "9001"}, "lines": "x"}), BOUND)


def test_native_only_default_is_written_on_create():
    mapper = compile_yaml(SALE, Entity.SALE)
    sale = Sale(customer="cust-1", close_date=dt.date(2024, 3, 1))
    created = mapper.to_native(sale, BOUND, create=True)
    assert created == {
        "associations": {"company": "9001"},
        "dealstage": "appointmentscheduled",
        "pipeline": "default",
        "closedate": "1709251200000",
    }
    assert "pipeline" not in mapper.to_native(sale, BOUND, create=False)


def test_split_and_join_names_across_several_fields(refs: DictRefs):
    mapper = compile_yaml(
        """\
        fields:
          - {canonical: [first_name, last_name], native: full_name, transform: split_name}
          - {canonical: email, native: [email1, email2], transform: coalesce,
             direction: inbound}
          - {canonical: custom.full_name, native: [fn, ln], transform: join_name}
        """,
        Entity.CONTACT,
    )
    record = mapper.to_canonical(
        native(
            {
                "full_name": "Ada King Lovelace",
                "email1": "",
                "email2": "ada@x.org",
                "fn": "Grace",
                "ln": "Hopper",
            }
        ),
        refs,
    )
    assert (record.first_name, record.last_name, record.email) == (
        "Ada King",
        "Lovelace",
        "ada@x.org",
    )
    assert record.custom == {"full_name": "Grace Hopper"}
    assert mapper.to_native(record, refs, create=False) == {
        "full_name": "Ada King Lovelace",
        "fn": "Grace",
        "ln": "Hopper",
    }


def test_an_inverse_that_does_not_fill_every_native_field_is_a_mapping_error(refs: DictRefs):
    mapper = compile_yaml(
        "fields:\n  - {canonical: email, native: [a, b], transform: coalesce, inverse: strip}\n"
    )
    with pytest.raises(MappingError, match=r"field `email`.*expected 2 values to write"):
        mapper.to_native(Customer(email="x@y.z"), refs, create=False)


def test_odd_native_and_custom_names_are_data_not_code(refs: DictRefs):
    mapper = compile_yaml(
        """\
        fields:
          - canonical: "custom.it's \\"odd\\"\\n"
            native: "x'); import os; ('"
        """
    )
    record = mapper.to_canonical(native({"x'); import os; ('": "v"}), refs)
    assert record.custom == {'it\'s "odd"\n': "v"}
    assert mapper.to_native(record, refs, create=False) == {"x'); import os; ('": "v"}


def test_a_value_object_filled_by_fields_apart_and_by_a_two_path_field_is_one_object(
    refs: DictRefs,
):
    """The generated code keeps a value object filled only by one-path fields in a local
    (`codegen._local_parts`); one a two-path field also fills is looked up in `values`. Either
    way every field lands in the one object, and an object no field of the record fills
    stays unset."""
    mapper = compile_yaml(
        """\
        fields:
          - {canonical: billing_address.city, native: city}
          - {canonical: name, native: name}
          - {canonical: billing_address.country, native: country}
          - {canonical: [shipping_address.street, shipping_address.city], native: ship,
             transform: split_name}
          - {canonical: shipping_address.country, native: ship_country}
          - {canonical: history.open_order_count, native: open_orders, transform: integer}
        """
    )
    source = mapper._inbound_function.__source__  # type: ignore[attr-defined]
    assert "p_billing_address" in source and "p_history" in source
    assert "p_shipping_address" not in source
    record = mapper.to_canonical(
        native(
            {
                "city": "Lyon",
                "name": "Acme",
                "country": "FR",
                "ship": "Quai Lyon",
                "ship_country": "FR",
            }
        ),
        refs,
    )
    assert flatten(record) == {
        "name": "Acme",
        "billing_address.city": "Lyon",
        "billing_address.country": "FR",
        "shipping_address.street": "Quai",
        "shipping_address.city": "Lyon",
        "shipping_address.country": "FR",
    }
    assert record.history is None
    assert record.billing_address is not None
    assert record.billing_address.model_fields_set == {"city", "country"}
