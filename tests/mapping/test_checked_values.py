"""The mapper's fast path: values checked by the generated code, records built unvalidated.

A well-typed record must come out exactly as `model_validate` would build it (fields, the
fields set, nested value objects), and every value the checks do not pass must still fail, or
be converted, exactly as pydantic did: the same error, naming the file, line and field.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from connector.adapter import NativeRecord
from connector.errors import MappingError
from connector.mapping.value_checks import check_for, value_check
from connector.model import (
    Address,
    Customer,
    CustomerStatus,
    Entity,
    Money,
    Sale,
    SaleLine,
    trusted_constructor,
)
from tests.mapping.conftest import WHEN, DictRefs, compile_yaml, native

MAPPING = """\
fields:
  - {canonical: name, native: name, required: true}
  - {canonical: email, native: email}
  - {canonical: employees, native: employees}
  - {canonical: annual_revenue, native: revenue}
  - {canonical: status, native: status}
  - {canonical: billing_address.city, native: city}
  - {canonical: history.last_order_date, native: last_order}
  - {canonical: custom.tier, native: tier}
"""


def _same_record(got: BaseModel, want: BaseModel) -> None:
    """Equal values, equal fields set, at every level, and the same printed form."""
    assert type(got) is type(want)
    assert got == want
    assert repr(got) == repr(want)
    assert got.model_fields_set == want.model_fields_set
    for name in want.model_fields_set:
        value = getattr(want, name)
        if isinstance(value, BaseModel):
            _same_record(getattr(got, name), value)


def _map(fields: dict[str, Any], when: dt.datetime = WHEN) -> Customer:
    record = compile_yaml(MAPPING).to_canonical(NativeRecord("1", when, fields), DictRefs())
    assert isinstance(record, Customer)
    return record


def _failure(fields: dict[str, Any]) -> str:
    with pytest.raises(MappingError) as caught:
        _map({"name": "Acme", **fields})
    return str(caught.value)


def test_a_well_typed_record_is_what_model_validate_builds():
    record = _map(
        {
            "name": "Acme",
            "email": "info@acme.example",
            "employees": 12,
            "revenue": Decimal("10.50"),
            "status": "blocked",
            "city": "Lyon",
            "last_order": dt.date(2024, 1, 2),
            "tier": {"level": 2},
        }
    )
    want = Customer.model_validate(
        {
            "name": "Acme",
            "email": "info@acme.example",
            "employees": 12,
            "annual_revenue": Decimal("10.50"),
            "status": "blocked",
            "billing_address": {"city": "Lyon"},
            "history": {"last_order_date": dt.date(2024, 1, 2)},
            "custom": {"tier": {"level": 2}},
            "updated_at": WHEN,
            "deleted": False,
        }
    )
    _same_record(record, want)
    assert record.status is CustomerStatus.BLOCKED


def test_a_well_typed_record_is_not_validated_again(monkeypatch: pytest.MonkeyPatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("validated a record whose values the mapper had checked")

    monkeypatch.setattr(Customer, "model_validate", refuse)
    record = _map({"name": "Acme", "employees": 3, "status": "active", "city": None})
    assert (record.employees, record.status, record.billing_address) == (
        3,
        CustomerStatus.ACTIVE,
        Address(city=None),
    )


def test_a_mapped_record_is_still_checked_on_assignment():
    record = _map({"name": "Acme"})
    record.key = "k1"
    assert record.key == "k1"
    with pytest.raises(ValidationError):
        record.employees = "many"  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("fields", "converted"),
    [
        ({"employees": "12"}, {"employees": 12}),
        ({"employees": True}, {"employees": 1}),
        ({"revenue": "10.50"}, {"annual_revenue": Decimal("10.50")}),
        ({"revenue": 1.5}, {"annual_revenue": Decimal("1.5")}),
        ({"last_order": "2024-01-02"}, {"history": {"last_order_date": dt.date(2024, 1, 2)}}),
        ({"status": CustomerStatus.INACTIVE}, {"status": CustomerStatus.INACTIVE}),
    ],
)
def test_what_pydantic_converts_is_still_converted(
    fields: dict[str, Any], converted: dict[str, Any]
):
    record = _map({"name": "Acme", **fields})
    want = Customer.model_validate(
        {"name": "Acme", **converted, "updated_at": WHEN, "deleted": False}
    )
    _same_record(record, want)


# The messages below are the ones `model_validate` gave for every record before the fast path
# (recorded from the previous commit): a refused value must read exactly the same.
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"employees": "12a"},
            "test.yaml:4: field `employees` (native `employees`): Input should be a valid "
            "integer, unable to parse string as an integer (got '12a')",
        ),
        (
            {"employees": 1.5},
            "test.yaml:4: field `employees` (native `employees`): Input should be a valid "
            "integer, got a number with a fractional part (got 1.5)",
        ),
        (
            {"revenue": Decimal("NaN")},
            "test.yaml:5: field `annual_revenue` (native `revenue`): Input should be a finite "
            "number (got Decimal('NaN'))",
        ),
        (
            {"revenue": Decimal("-Infinity")},
            "test.yaml:5: field `annual_revenue` (native `revenue`): Input should be a finite "
            "number (got Decimal('-Infinity'))",
        ),
        (
            {"revenue": "ten"},
            "test.yaml:5: field `annual_revenue` (native `revenue`): Input should be a valid "
            "decimal (got 'ten')",
        ),
        (
            {"status": "archived"},
            "test.yaml:6: field `status` (native `status`): Input should be 'active', "
            "'blocked' or 'inactive' (got 'archived')",
        ),
        (
            {"status": ""},
            "test.yaml:6: field `status` (native `status`): Input should be 'active', "
            "'blocked' or 'inactive' (got '')",
        ),
        (
            {"email": 5},
            "test.yaml:3: field `email` (native `email`): Input should be a valid string (got 5)",
        ),
        (
            {"city": ["Lyon"]},
            "test.yaml:7: field `billing_address.city` (native `city`): Input should be a "
            "valid string (got ['Lyon'])",
        ),
        (
            {"last_order": "yesterday"},
            "test.yaml:8: field `history.last_order_date` (native `last_order`): Input should "
            "be a valid date or datetime, input is too short (got 'yesterday')",
        ),
        (
            {"employees": "x", "status": "gone"},
            "test.yaml:4: field `employees` (native `employees`): Input should be a valid "
            "integer, unable to parse string as an integer (got 'x'); test.yaml:6: field "
            "`status` (native `status`): Input should be 'active', 'blocked' or 'inactive' "
            "(got 'gone')",
        ),
        (
            {"name": 3},
            "test.yaml:2: field `name` (native `name`): Input should be a valid string (got 3)",
        ),
    ],
)
def test_a_value_of_the_wrong_type_fails_as_pydantic_said(fields: dict[str, Any], message: str):
    assert _failure(fields) == message


def test_a_missing_required_value_names_the_field():
    with pytest.raises(MappingError, match=r"test.yaml:2: field `name` .*does not have it"):
        _map({"email": "a@b.example"})
    with pytest.raises(MappingError, match=r"test.yaml:2: field `name` .*required, but empty"):
        _map({"name": None})


def test_timestamps_are_checked_and_kept_in_utc():
    with pytest.raises(MappingError) as caught:
        _map({"name": "Acme"}, when=dt.datetime(2024, 1, 1))
    assert str(caught.value) == (
        "test.yaml: `updated_at`: Value error, timestamps must carry a time zone"
    )
    paris = dt.timezone(dt.timedelta(hours=1))
    record = _map({"name": "Acme"}, when=dt.datetime(2024, 1, 1, 1, 0, tzinfo=paris))
    assert record.updated_at == dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert record.updated_at is not None and record.updated_at.tzinfo is dt.UTC


def test_sale_lines_are_validated_and_a_bad_line_is_named():
    mapper = compile_yaml(
        """\
        fields:
          - {canonical: title, native: dealname}
        lines:
          native: lines
          fields:
            - {canonical: number, native: line_no}
            - {canonical: quantity, native: qty}
        """,
        Entity.SALE,
    )
    record = mapper.to_canonical(
        native({"dealname": "D", "lines": [{"line_no": 1, "qty": "2.5"}]}), DictRefs()
    )
    want = Sale.model_validate(
        {
            "title": "D",
            "lines": [{"number": 1, "quantity": "2.5"}],
            "updated_at": WHEN,
            "deleted": False,
        }
    )
    _same_record(record, want)
    assert record.lines == [SaleLine(number=1, quantity=Decimal("2.5"))]
    with pytest.raises(MappingError, match=r"line 0 `quantity`: Input should be a valid decimal"):
        mapper.to_canonical(native({"lines": [{"line_no": 1, "qty": "lots"}]}), DictRefs())


def test_the_checks_follow_the_canonical_types():
    assert value_check(Entity.CUSTOMER, "name").kind == "exact"
    assert value_check(Entity.CUSTOMER, "billing_address.city").exact is str
    assert value_check(Entity.CUSTOMER, "credit_limit").kind == "decimal"
    assert value_check(Entity.CUSTOMER, "custom.anything").kind == "any"
    assert value_check(Entity.SALE, "stage").kind == "enum"
    assert value_check(Entity.SALE, "lines").kind == "validate"
    # Types the checks do not know go to pydantic rather than being waved through.
    assert check_for(dt.datetime).kind == "validate"
    assert check_for(Money | int).kind == "validate"
    assert check_for(list[str]).kind == "validate"
    assert check_for(bool).optional is False


def test_trusted_construction_is_model_validate_without_the_checks():
    construct = trusted_constructor(Customer)
    values = {"name": "Acme", "employees": 4, "updated_at": WHEN, "deleted": False}
    first, second = construct(dict(values)), construct(dict(values))
    _same_record(first, Customer.model_validate(values))
    assert list(first.__dict__) == list(Customer.model_fields)  # declared order, as validated
    first.custom["x"] = 1
    assert second.custom == {}  # a default factory runs per record
    with pytest.raises(ValidationError):
        first.deleted = "perhaps"  # type: ignore[assignment]
    part = trusted_constructor(Address)({"city": "Lyon"})
    _same_record(part, Address(city="Lyon"))
    # (It sets BaseModel's slots through their descriptors: a name that is none is refused.)
    from connector.model import _slot_setter

    with pytest.raises(TypeError, match="no slot"):
        _slot_setter(Customer, "__nothing__")
    with pytest.raises(TypeError, match="not a slot"):
        _slot_setter(Customer, "model_fields_set")


def test_setting_the_key_is_checked_like_any_assignment():
    record = _map({"name": "Acme"})
    assert "key" not in record.model_fields_set
    record.key = "k1"
    assert (record.key, "key" in record.model_fields_set) == ("k1", True)
    record.key = None
    assert record.key is None
    with pytest.raises(ValidationError):
        record.key = 7  # type: ignore[assignment]
    assert record.key is None


def test_an_unrolled_transform_chain_behaves_as_the_composed_one():
    mapper = compile_yaml(
        """\
        fields:
          - {canonical: email, native: email, transform: [strip, lower]}
          - {canonical: currency, native: currency, transform: [strip, upper]}
          - {canonical: name, native: name, transform: strip}
        """
    )
    record = mapper.to_canonical(
        native({"email": "  Info@ACME.example ", "currency": "  ", "name": " Acme "}), DictRefs()
    )
    assert (record.email, record.currency, record.name) == ("info@acme.example", None, "Acme")
    assert record.model_fields_set >= {"email", "currency", "name"}
    with pytest.raises(MappingError) as caught:
        mapper.to_canonical(native({"email": 5}), DictRefs())
    assert str(caught.value) == (
        "test.yaml:2: field `email` (native `email`): expected text, got int 5"
    )
