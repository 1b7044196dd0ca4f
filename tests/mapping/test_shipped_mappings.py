"""The shipped default mappings: they load, fit the canonical model, and round-trip.

Round-trip property (hypothesis), per shipped file: for a canonical record `c` whose values are
in the normal form the transforms produce (trimmed text, lower-case e-mail, `+digits` phones,
ISO country codes…), `n = outbound(c)` maps back to `c` on every `both` field, and
`outbound(inbound(n)) == n`.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.adapter import NativeRecord
from connector.mapping.catalog import MappingCatalog, check, default_mappings, json_schema
from connector.mapping.countries import NAMES
from connector.mapping.mapper import CompiledMapper
from connector.mapping.samples import annotation_of, flattened
from connector.model import (
    Address,
    Customer,
    Entity,
    SaleLine,
    canonical_fields,
    flatten,
    record_type,
)

from .conftest import WHEN

KINDS = ("erp_generic", "hubspot", "salesforce")
SHIPPED = [(kind, entity) for kind in KINDS for entity in Entity]
CATALOG = MappingCatalog()


class KeyRefs:
    """Every external id `X` is bound to canonical key `key-X`."""

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        return f"key-{external_id}"

    def external_id(self, entity: Entity, key: str) -> str | None:
        return key.removeprefix("key-")


def test_every_shipped_file_exists_and_is_valid():
    for kind in KINDS:
        for entity in Entity:
            assert (default_mappings() / kind / f"{entity.value}.yaml").is_file()
    assert check(SHIPPED) == []


@pytest.mark.parametrize(("kind", "entity"), SHIPPED)
def test_shipped_canonical_paths_exist_in_the_model(kind: str, entity: Entity):
    mapper = CATALOG.mapper(kind, entity)
    known = canonical_fields(entity)
    for path in mapper.inbound_fields | mapper.outbound_fields:
        assert path in known or path.startswith("custom."), path


def test_shipped_files_use_the_agreed_native_names():
    """docs/native-shapes.md is the agreement with the adapters; spot-check the key fields."""
    expected = {
        ("erp_generic", Entity.CUSTOMER, "number"): "customer_no",
        ("erp_generic", Entity.CONTACT, "customer"): "customer_id",
        ("erp_generic", Entity.SALE, "amount"): "total_amount",
        ("hubspot", Entity.CUSTOMER, "number"): "erp_customer_no",
        ("hubspot", Entity.CONTACT, "custom.contact_no"): "erp_contact_no",
        ("hubspot", Entity.CONTACT, "customer"): "associations.company",
        ("hubspot", Entity.SALE, "number"): "erp_order_no",
        ("hubspot", Entity.SALE, "stage"): "dealstage",
        ("hubspot", Entity.CUSTOMER, "history.lifetime_revenue"): "erp_lifetime_revenue",
        ("salesforce", Entity.CUSTOMER, "number"): "ERP_Customer_No__c",
        ("salesforce", Entity.CONTACT, "custom.contact_no"): "ERP_Contact_No__c",
        ("salesforce", Entity.SALE, "number"): "ERP_Order_No__c",
        ("salesforce", Entity.SALE, "customer"): "AccountId",
    }
    for (kind, entity, path), native in expected.items():
        assert CATALOG.mapper(kind, entity).native_field(path) == native


def test_field_ownership_follows_the_agreement():
    erp = CATALOG.mapper("erp_generic", Entity.CUSTOMER)
    for path in ("number", "credit_limit", "payment_terms", "billing_address.city"):
        assert erp.owner(path) == "erp_generic"
    hubspot = CATALOG.mapper("hubspot", Entity.CUSTOMER)
    assert hubspot.owner("industry") == "hubspot" and hubspot.owner("owner") == "hubspot"
    assert hubspot.owner("number") == "erp_generic"
    salesforce = CATALOG.mapper("salesforce", Entity.CUSTOMER)
    assert salesforce.owner("industry") == "salesforce"


def test_shipped_files_checked_against_declared_native_fields():
    """With an adapter's declared fields the check passes; a field it lacks is reported."""

    def declared(kind: str, entity: Entity) -> frozenset[str] | None:
        mapper = CATALOG.mapper(kind, entity)
        names = {entry.native[0].split(".")[0] for entry in mapper.fields}
        return frozenset(names | {"lines"})

    assert check(SHIPPED, native_fields=declared) == []

    def missing_name(kind: str, entity: Entity) -> frozenset[str] | None:
        fields = declared(kind, entity)
        return None if fields is None else fields - {"name"}

    found = check([("hubspot", Entity.CUSTOMER)], native_fields=missing_name)
    assert [p.message.split(" (")[0] for p in found] == ["unknown native field `name`"]


def test_a_user_file_overrides_the_shipped_default_file_by_file(tmp_path: Path):
    (tmp_path / "hubspot").mkdir()
    (tmp_path / "hubspot" / "customer.yaml").write_text(
        "fields:\n  - {canonical: name, native: company_name}\n"
        "  - canonical: custom.tier\n    native: tier\n"
        "    transform: {value_map: {gold: A, silver: B}}\n"
    )
    catalog = MappingCatalog(tmp_path)
    customer = catalog.mapper("hubspot", Entity.CUSTOMER)
    assert customer.native_field("name") == "company_name"
    assert customer.source == str(tmp_path / "hubspot" / "customer.yaml")
    contact = catalog.mapper("hubspot", Entity.CONTACT)
    assert contact.source == "mappings/hubspot/contact.yaml"
    assert catalog.mapper("hubspot", Entity.CUSTOMER) is customer  # compiled once


def test_json_schema_lists_transforms_and_field_keys():
    schema = json_schema()
    json.dumps(schema)  # serialisable
    field = schema["$defs"]["FieldSpec"]["properties"]
    assert {"canonical", "native", "transform", "direction", "owner", "ref"} <= set(field)
    step = field["transform"]["anyOf"][0]
    names = step["anyOf"][0]["enum"]
    assert {"strip", "value_map", "epoch_ms_date", "country_name", "phone"} <= set(names)
    decimal = next(o for o in step["anyOf"][1:] if "decimal" in o["properties"])
    assert "scale" in json.dumps(decimal)


# --- round trip ------------------------------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
DIGITS = "0123456789"


def _word(alphabet: str, low: int = 1, high: int = 8) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


# Values in the normal form the shipped transforms produce (trimmed, single-spaced, …).
TEXT = (
    st.lists(_word(ALNUM + ".&/-"), min_size=1, max_size=3)
    .map(" ".join)
    .filter(lambda text: text[0].isalnum() and text[-1].isalnum())
)
MONEY = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False)
PHONE = st.builds(
    lambda first, rest: f"+{first}{rest}", st.sampled_from("123456789"), _word(DIGITS, 5, 12)
)
KEY = _word(DIGITS, 1, 6).map(lambda digits: f"key-{digits}")
EMAIL = st.builds(
    lambda a, b, c: f"{a}@{b}.{c}", _word(LOWER), _word(LOWER), _word("abcdefghij", 2, 4)
)
BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    "email": EMAIL,
    "owner": EMAIL,  # the canonical account owner is the owner's e-mail address
    "phone": PHONE,
    "mobile": PHONE,
    "country": st.sampled_from(sorted(NAMES)),
    "currency": _word("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3, 3),
    "domain": st.builds(lambda a, b: f"{a}.{b}", _word(LOWER), _word("abcdefghij", 2, 4)),
    # Labels both CRMs have options for (an industry a CRM lacks is not written: lossy).
    "industry": st.sampled_from(["Retail", "Banking", "Food & Beverages"]),
    "customer": KEY,
    "contact": KEY,
    "quantity": st.decimals(min_value=Decimal("0.01"), max_value=10**4, places=2),
}


def _strategy(annotation: Any, name: str) -> st.SearchStrategy[Any]:
    if name in BY_NAME:
        return BY_NAME[name]
    for candidate in flattened(annotation):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return st.sampled_from(list(candidate))
        if candidate is bool:
            return st.booleans()
        if candidate is int:
            return st.integers(min_value=0, max_value=10**6)
        if candidate is Decimal:
            return MONEY
        if candidate is dt.date:
            return st.dates(min_value=dt.date(1971, 1, 1), max_value=dt.date(2099, 12, 31))
        if candidate is str:
            return TEXT
    raise AssertionError(f"no strategy for {annotation!r}")


def both_paths(mapper: CompiledMapper) -> list[str]:
    return [
        path
        for entry in mapper.fields
        if entry.forward is not None and entry.backward is not None and not entry.create_only
        for path in entry.canonical
    ]


def record_strategy(mapper: CompiledMapper) -> st.SearchStrategy[dict[str, Any]]:
    paths = both_paths(mapper)
    parts = {
        path: _strategy(annotation_of(mapper.entity, path), path.rsplit(".", 1)[-1])
        for path in paths
    }
    strategy = st.fixed_dictionaries(parts)
    if "lines" in mapper.inbound_fields and "lines" in mapper.outbound_fields:
        line_paths = [
            path
            for entry in mapper._lines_out.outbound  # type: ignore[union-attr]
            if entry.forward is not None
            for path in entry.canonical
        ]
        line = st.fixed_dictionaries(
            {p: _strategy(SaleLine.model_fields[p].annotation, p) for p in line_paths}
        )
        strategy = st.builds(
            lambda flat, lines: {**flat, "lines": lines}, strategy, st.lists(line, max_size=3)
        )
    return strategy


def _build(mapper: CompiledMapper, flat: dict[str, Any]):
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        head, _, tail = path.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[head] = value
    for name in ("billing_address", "shipping_address"):
        if name in nested:
            nested[name] = Address(**nested[name])
    return record_type(mapper.entity).model_validate(nested)


def _restricted(record: Any, paths: list[str]) -> dict[str, Any]:
    flat = flatten(record)
    wanted = set(paths) | {"lines"}
    return {path: value for path, value in flat.items() if path in wanted}


@pytest.mark.parametrize(("kind", "entity"), SHIPPED)
def test_round_trip_on_both_fields(kind: str, entity: Entity):
    mapper = CATALOG.mapper(kind, entity)
    paths = both_paths(mapper)
    assert paths, "every shipped mapping has two-way fields"
    refs = KeyRefs()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(record_strategy(mapper))
    def round_trip(flat: dict[str, Any]) -> None:
        record = _build(mapper, flat)
        native = mapper.to_native(record, refs, create=False)
        assert native or not flat
        back = mapper.to_canonical(NativeRecord("1", WHEN, native), refs)
        assert _restricted(back, paths) == _restricted(record, paths)
        assert mapper.to_native(back, refs, create=False) == native

    round_trip()


def test_industries_reach_hubspot_only_as_its_options():
    """HubSpot refuses an industry outside the property's options: free text is never sent."""
    from adapters.hubspot.sandbox.options import COMPANY_INDUSTRIES

    hubspot = CATALOG.mapper("hubspot", Entity.CUSTOMER)
    erp = CATALOG.mapper("erp_generic", Entity.CUSTOMER)
    refs = KeyRefs()

    def to_hubspot(industry: str) -> Any:
        record = Customer(name="X", industry=industry)
        return hubspot.to_native(record, refs, create=True, paths=["industry"])["industry"]

    for code, label in COMPANY_INDUSTRIES:  # every default option, both ways
        assert to_hubspot(label) == code
        native = NativeRecord("1", WHEN, {"name": "X", "industry": code})
        assert hubspot.to_canonical(native, refs).industry == label
    assert to_hubspot("Widgets") is None, "a label with no HubSpot option is left out"

    # The sample ERP's own labels are read as the option labels by the ERP's mapping file.
    read = erp.to_canonical(
        NativeRecord("1", WHEN, {"name": "X", "industry": " Manufacturing"}), refs
    )
    assert to_hubspot(read.industry) == "MACHINERY"
    unknown = erp.to_canonical(NativeRecord("1", WHEN, {"name": "X", "industry": "Widgets"}), refs)
    assert unknown.industry == "Widgets", "labels the ERP file does not list pass through"


def test_shipped_hubspot_files_fit_the_hubspot_adapters_declared_fields(tmp_path: Path):
    from connector.adapter import AdapterContext, adapter_class

    cls = adapter_class("hubspot")
    adapter = cls.from_settings("hs", cls.Settings(), AdapterContext(tmp_path))
    pairs = [("hubspot", entity) for entity in Entity]
    assert check(pairs, native_fields=lambda kind, entity: adapter.native_fields(entity)) == []
