"""The generated inbound code's specialisations, held to the general code they stand in for.

A transform step may say what it computes for a value of one exact type (`Inline`); the code
generator then writes that expression in place of the call, drops the type test a value it
knows the type of needs no more, and takes every plain native field of a `dict` record at once
(`codegen.build_inbound`). None of that may change a result: here each inline form is run
against its function on many values, and whole mappings — the shipped ones, the Tryton
example's and the foreign ERPs' of the tests — are run specialised and general
(`specialise=False`: every step called, every value read with `get` and type-tested) on many
generated records, which must give the same values, checks, flattened form and errors.
"""

from __future__ import annotations

import datetime as dt
import functools
import textwrap
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import MappingError, UnresolvedReference
from connector.mapping import codegen, inline_code
from connector.mapping.catalog import MappingCatalog, compile_text
from connector.mapping.countries import NAMES
from connector.mapping.mapper import CompiledField
from connector.mapping.transforms import available_transforms, chain_steps, inline_forms
from connector.model import Entity
from tests.e2e.test_erp_foreign_checksum import CUSTOMER_MAPPING, SALE_MAPPING
from tests.erp_generic.erp_writable import MAPPINGS as WRITABLE_MAPPINGS

ROOT = Path(__file__).parents[2]

# --- each inline form against its function -------------------------------------------------

#: Transforms with arguments that change their inline form, as a mapping file writes them.
BUILT = [
    ("strip", None),
    ("lower", None),
    ("upper", None),
    ("string", None),
    ("prefix", {"text": "C-"}),
    ("value_map", {"map": {"a": "A", "b": 2}, "also": {"x": "A"}, "unknown": "error"}),
    ("value_map", {"map": {"a": "A"}, "unknown": "keep"}),
    ("value_map", {"map": {"a": None, "b": "B"}, "unknown": "null"}),
    ("date", None),
    ("decimal", None),
    ("decimal", {"scale": 2}),
    ("decimal", {"scale": 0, "output": "number"}),
    ("integer", None),
    ("boolean", None),
    ("country_code", None),
    ("phone", None),
    ("phone", {"national_prefix": "+49"}),
]

TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["a", "b", "x", " a", "C-12", " de ", "DE", "xx", "zz ", "+49 30 123", "0049 (30) 1-2",
         "00", "", "   ", "12", "0012", "²", "١٢", "-3", " 7 ", "1.5", "1e3", "NaN", "Inf"]
    ),
)  # fmt: skip
DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("1.005"), Decimal("-0"), Decimal("1E+30"), Decimal("sNaN")]),
)
VALUES: dict[type, st.SearchStrategy[Any]] = {
    str: TEXT,
    int: st.integers(min_value=-(10**20), max_value=10**20),
    bool: st.booleans(),
    Decimal: DECIMALS,
    dt.date: st.dates(),
    dt.datetime: st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
}


def _outcome(function: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    try:
        result = function(value)
    except Exception as error:  # (any exception: both sides must raise the same)
        return "raised", (type(error), str(error))
    return "gave", (type(result), repr(result))


def _inline_function(function: Callable[[Any], Any], form: Any) -> Callable[[Any], Any]:
    namespace: dict[str, Any] = {"fw": function}
    expression = "v" if form.expression is None else inline_code.expression(form, "fw", namespace)
    if form.expression is None:
        return function
    exec(f"def run(v):\n    return {expression}\n", namespace)
    run: Callable[[Any], Any] = namespace["run"]
    return run


@pytest.mark.parametrize(("name", "args"), BUILT, ids=[f"{n}-{a}" for n, a in BUILT])
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_inline_form_computes_what_its_function_does(name: str, args: Any, data: Any):
    transform = available_transforms()[name]
    forward = transform.build(transform.args.model_validate(args or {})).forward
    check_inline_forms(forward, VALUES, data, (name, args), finite=True)


def check_inline_forms(
    function: Callable[[Any], Any],
    values: Mapping[type, Any],
    data: Any,
    label: Any,
    *,
    finite: bool = False,
) -> None:
    """Each inline form of `function`, on a drawn value of the type it accepts (a strategy from
    `values`), gives what the function gives, of a type the form declares (and, if `finite`,
    no NaN or infinite Decimal: what the canonical model accepts; an inverse passes them on)."""
    forms = inline_forms(function)
    assert forms, f"{label} has no inline form"
    for form in forms:
        value = data.draw(values[form.accepts])
        assert type(value) is form.accepts
        want = _outcome(function, value)
        got = _outcome(_inline_function(function, form), value)
        assert got == want, (label, value)
        if got[0] == "gave":
            result = function(value)
            assert type(result) in form.gives, (label, value, result)
            if finite and type(result) is Decimal:
                assert result.is_finite()


def test_the_transforms_the_erp_mappings_use_have_inline_forms():
    """What keeps the sample ERP's customers off the calls: every transform step of its
    customer mapping has a form for what an SQL ERP's row holds (a plain field is read as is)."""
    mapper = MappingCatalog().mapper("erp_generic", Entity.CUSTOMER)
    wanted = {str, int, Decimal, dt.date}
    for field in mapper.fields:
        if field.forward is None or field.label.endswith("(native `phone`)"):
            continue
        for step in chain_steps(field.forward):
            if step.__name__ == "identity":
                continue
            assert {f.accepts for f in inline_forms(step)} & wanted, field.label


def test_the_sample_erps_customer_is_read_in_one_call_and_converted_without_calls():
    fields = MappingCatalog().mapper("erp_generic", Entity.CUSTOMER)._inbound
    source = codegen.build_inbound(fields, Entity.CUSTOMER).__source__  # type: ignore[attr-defined]
    assert " = take(fields)" in source
    fast = source.split("def ", 2)[1]  # (the generated `inbound` alone)
    assert "fields.get" not in fast and "MISSING" not in fast
    # A Decimal already finite (what a NUMERIC column gives) is neither converted nor re-tested.
    assert "v = v if v.is_finite() else fw7_0(v)" in fast


# --- whole mappings, specialised against general -------------------------------------------


def _tryton(entity: str) -> tuple[str, str]:
    path = ROOT / "examples" / "tryton" / "mappings" / "erp_generic" / f"{entity}.yaml"
    return path.read_text(encoding="utf-8"), entity


MAPPINGS: dict[str, tuple[str, str]] = {
    **{
        f"shipped-{kind}-{entity.value}": (
            (ROOT / "mappings" / kind / f"{entity.value}.yaml").read_text(encoding="utf-8"),
            entity.value,
        )
        for kind in ("erp_generic", "hubspot", "salesforce")
        for entity in Entity
    },
    **{f"tryton-{entity}": _tryton(entity) for entity in ("customer", "contact", "sale")},
    "foreign-customer": (textwrap.dedent(CUSTOMER_MAPPING), "customer"),
    "foreign-sale": (textwrap.dedent(SALE_MAPPING), "sale"),
    **{
        f"writable-{name}": (yaml.safe_dump(spec), spec["entity"])
        for name, spec in WRITABLE_MAPPINGS.items()
    },
}


@functools.cache
def _functions(name: str) -> tuple[list[CompiledField], Callable[..., Any], Callable[..., Any]]:
    """The mapping's inbound fields, its specialised and its general function."""
    text, entity = MAPPINGS[name]
    fields = _fields(text, Entity(entity))
    specialised = codegen.build_inbound(fields, Entity(entity))
    return fields, specialised, codegen.build_inbound(fields, Entity(entity), specialise=False)


def _fields(text: str, entity: Entity) -> list[CompiledField]:
    mapper, problems = compile_text(text, "test.yaml", entity)
    assert problems == [] and mapper is not None, problems
    return list(mapper._inbound)


class Refs:
    """Ids ending in 0 are unbound, in 9 bound to a deleted parent; the rest are bound."""

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        if external_id.endswith("0"):
            return None
        return "" if external_id.endswith("9") else f"key-{external_id}"


def _native_value(field: CompiledField) -> st.SearchStrategy[Any]:
    """Values a system might hold for the field: its usual type and every other, blank text,
    padded text, the value maps' labels, numbers that are not finite."""
    labels: list[Any] = []
    for step in chain_steps(field.forward) if field.forward is not None else ():
        for form in inline_forms(step):
            labels += [key for name, table in form.bound if name == "table" for key in table]
    words = st.sampled_from(
        [*labels, *(f" {label} " for label in labels if isinstance(label, str)), "active",
         "won", "de", " FR ", "zz", "", " ", "12", "007", "1.50", "x@Y.example ", "+49 30 1"]
    )  # fmt: skip
    return st.one_of(
        st.none(),
        words,
        TEXT,
        st.integers(min_value=-5, max_value=10**6),
        st.booleans(),
        DECIMALS,
        st.floats(allow_nan=True),
        st.dates(),
        st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
        st.sampled_from([[], {}, ("Ada", "Lovelace"), ["Ada", None]]),
    )


@st.composite
def _record(draw: Any, fields: list[CompiledField]) -> Mapping[str, Any]:
    """A native record for the fields: some absent, and now and then no plain `dict`."""
    record: dict[str, Any] = {}
    gaps = draw(st.integers(0, 9)) < 3  # (most records hold every field, as an SQL row does)
    for field in fields:
        for name in field.native:
            if gaps and draw(st.booleans()):
                continue  # absent
            head, _, tail = name.partition(".")
            value = draw(_native_value(field))
            if tail:
                record.setdefault(head, {})[tail] = value
            else:
                record[name] = value
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return MappingProxyType(record)
    if shape == 1:
        return _Defaulting(record)
    return record


class _Defaulting(dict[str, Any]):
    """A dict whose absent keys answer "": read with `get`, it is any dict."""

    def __missing__(self, key: str) -> str:
        return ""


def _run(function: Callable[..., Any], record: Mapping[str, Any]) -> tuple[str, Any]:
    try:
        values, checked, flat = function(record, Refs())
    except (MappingError, UnresolvedReference) as error:
        return "raised", (type(error), str(error))
    return "gave", (repr(values), checked, repr(flat) if checked else None)


@pytest.mark.parametrize("name", sorted(MAPPINGS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_specialised_inbound_code_gives_what_the_general_code_gives(name: str, data: Any):
    fields, specialised, general = _functions(name)
    record = data.draw(_record(fields))
    assert _run(specialised, record) == _run(general, record)


def test_a_well_typed_erp_row_takes_the_specialised_branches():
    """The sample ERP's customer row: every value already of its type, the record checked."""
    fields = _fields(
        (ROOT / "mappings" / "erp_generic" / "customer.yaml").read_text(encoding="utf-8"),
        Entity.CUSTOMER,
    )
    row: dict[str, Any] = {f.native[0]: None for f in fields}
    row.update(
        customer_no=" C1 ", name="Acme ", email=" A@B.example", phone="+49 30 1", industry="Energy",
        employees=12, annual_revenue=Decimal("1.50"), credit_limit=Decimal("NaN"),
        currency="eur", status="active", billing_country=" de", shipping_country="ZZ",
        last_order_date=dt.date(2024, 1, 2), open_order_count=3,
    )  # fmt: skip
    specialised = codegen.build_inbound(fields, Entity.CUSTOMER)
    general = codegen.build_inbound(fields, Entity.CUSTOMER, specialise=False)
    assert _run(specialised, row) == _run(general, row)
    assert _run(specialised, row)[0] == "raised"  # (ZZ is no country)
    row["shipping_country"] = None
    got = _run(specialised, row)
    assert got == _run(general, row)
    assert got[0] == "raised" and "not a finite number" in got[1][1]
    row["credit_limit"] = Decimal("25000")
    values, checked, flat = specialised(row, Refs())
    assert (values, checked, flat) == general(row, Refs())
    assert checked and flat is not None
    assert values["industry"] == "Oil & Energy" and values["billing_address"]["country"] == "DE"
    assert flat["credit_limit"] == "25000" and NAMES["DE"]
