"""The generated outbound code's inline transforms, held to the calls they stand in for.

Outbound, a transform chain (the inverses of a field's steps, or its `inverse:` steps) whose
every step has an `Inline` form for the canonical value's exact type is written in place of
the call (`codegen.build_outbound`), as inbound. Here each inverse's inline form is run
against its function on many values, and the outbound functions of whole mappings — the
shipped ones, the Tryton example's and the foreign ERPs' of the tests — are run specialised
and general (`specialise=False`: every step called) on many generated canonical records, which
must give the same native values and the same errors.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.mapping import codegen, inline_code
from connector.mapping.catalog import MappingCatalog, compile_text
from connector.mapping.countries import NAMES
from connector.mapping.transforms import available_transforms, chain_steps
from connector.mapping.value_checks import value_check
from connector.model import Address, CustomerHistory, Entity, SaleLine, record_type
from tests.mapping.test_inline_transforms import (
    MAPPINGS,
    VALUES,
    _outcome,
    check_inline_forms,
)

#: Transforms whose inverse has an inline form, with the arguments that change it.
INVERSES = [
    ("prefix", {"text": "C-"}),
    ("value_map", {"map": {"a": "A", "b": 2}, "also": {"x": "A"}, "unknown": "error"}),
    ("value_map", {"map": {"a": "A"}, "unknown": "keep"}),
    ("value_map", {"map": {"a": None, "b": "B"}, "unknown": "null"}),
    ("date", None),
    ("date", {"format": "%d.%m.%Y"}),
    ("epoch_ms_date", None),
    ("decimal", None),
    ("decimal", {"scale": 2}),
    ("decimal", {"output": "decimal"}),
    ("decimal", {"scale": 1, "output": "decimal"}),
    ("decimal", {"output": "number"}),
    ("decimal", {"scale": 0, "output": "number"}),
    ("integer", None),
    ("integer", {"output": "number"}),
    ("country_name", None),
]

#: Canonical text a value map or a country table knows, beside any text.
LABELS = st.sampled_from(["A", "B", "a", "active", "DE", "de", "fr", "ZZ", "", " US", "Germany"])
TEXT = st.one_of(VALUES[str], LABELS)
INVERSE_VALUES = {**VALUES, str: TEXT}


@pytest.mark.parametrize(("name", "args"), INVERSES, ids=[f"{n}-{a}" for n, a in INVERSES])
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_inverse_inline_form_computes_what_its_function_does(name: str, args: Any, data: Any):
    transform = available_transforms()[name]
    inverse = transform.build(transform.args.model_validate(args or {})).inverse
    assert inverse is not None
    check_inline_forms(inverse, INVERSE_VALUES, data, (name, "inverse", args))


#: Decimals at the edges of `str`'s plain notation (an exponent above 0, an adjusted exponent
#: below -6), zeros, more digits than the context's precision, and the special values.
EDGE_DECIMALS = ["1E-7", "0E-10", "1E+3", "0.000001", "0.0000001", "-0.00", "0", "-5E+2",
                 "123456789012345678901234567890123", "1.500", "-12.5", "NaN123", "-Infinity",
                 "sNaN"]  # fmt: skip


@pytest.mark.parametrize("scale", [None, 2])
@pytest.mark.parametrize("text", EDGE_DECIMALS)
def test_a_decimal_written_as_text_inline_is_what_format_writes(text: str, scale: int | None):
    """The inline `string` output reads `str` where it writes no exponent; `format(v, 'f')`
    (what the inverse itself calls) on every other value."""
    transform = available_transforms()["decimal"]
    inverse = transform.build(transform.args.model_validate({"scale": scale})).inverse
    assert inverse is not None
    (form,) = inverse.inline  # type: ignore[attr-defined]
    namespace: dict[str, Any] = {}
    source = inline_code.expression(form, "bw", namespace)
    exec(f"def run(v):\n    return {source}\n", namespace)
    value = Decimal(text)
    assert _outcome(namespace["run"], value) == _outcome(inverse, value)
    if scale is None and value.is_finite():
        assert namespace["run"](value) == format(value, "f")


def test_the_hubspot_customer_payload_calls_no_transform_for_its_usual_values():
    """What keeps a first sync's payloads off the calls: the HubSpot customer's amounts,
    counts, industry, country and dates are written inline (the status, an enumeration
    member, is still called)."""
    mapper = MappingCatalog().mapper("hubspot", Entity.CUSTOMER)
    every = next(
        cell.cell_contents.__source__
        for cell in codegen.build_outbound(list(mapper._outbound)).__closure__ or ()
        if getattr(cell.cell_contents, "__name__", "") == "outbound_set"
    )
    for inline in ("v = w if 'E' not in (w := str(v)) else format(v, 'f')", "v = str(v)",
                   "_table.get(v)", "_names.get(v.upper())", "v.toordinal()",
                   "v.quantize("):  # fmt: skip
        assert inline in every, inline


# --- whole mappings, specialised against general -------------------------------------------


@functools.cache
def _functions(name: str) -> tuple[Entity, Any, Any, Any]:
    text, entity = MAPPINGS[name]
    mapper, problems = compile_text(text, "test.yaml", Entity(entity))
    assert problems == [] and mapper is not None, problems
    fields = list(mapper._outbound)
    return (
        Entity(entity),
        fields,
        codegen.build_outbound(fields),
        codegen.build_outbound(fields, specialise=False),
    )


def _canonical_value(entity: Entity, path: str) -> st.SearchStrategy[Any]:
    """Values a canonical path may hold (its type, text a table knows) and some it may not."""
    check = value_check(entity, path)
    usual: list[st.SearchStrategy[Any]] = [st.none(), TEXT, VALUES[int], VALUES[Decimal]]
    usual += [VALUES[dt.date], VALUES[dt.datetime], st.booleans(), st.floats()]
    if check.enum is not None:
        usual.append(st.sampled_from(list(check.enum)))
    usual.append(st.sampled_from(sorted(NAMES)))
    return st.one_of(*usual)


_PARTS = {"billing_address": Address, "shipping_address": Address, "history": CustomerHistory}


@st.composite
def _record(draw: Any, entity: Entity, fields: list[Any]) -> Any:
    """A canonical record holding some of the fields' paths, values of any type: built with
    `model_construct`, as the generated code reads attributes and never validates."""
    top: dict[str, Any] = {}
    for field in fields:
        for path in field.canonical:
            if draw(st.integers(0, 9)) == 0:
                continue  # not set
            head, _, tail = path.partition(".")
            value = draw(_canonical_value(entity, path))
            if head == "custom":
                top.setdefault("custom", {})[tail] = value
            elif tail:
                top.setdefault(head, {})[tail] = value
            else:
                top[head] = value
    for head, part in _PARTS.items():
        if isinstance(top.get(head), dict):
            top[head] = part.model_construct(**top[head])
    if "lines" in top:
        top["lines"] = [SaleLine()]
    return record_type(entity).model_construct(**top)


class Refs:
    def external_id(self, entity: Entity, key: str) -> str | None:
        return None if str(key).endswith("0") else f"ext-{key}"


def _run(function: Any, record: Any, create: bool, wanted: Any) -> tuple[str, Any]:
    try:
        out = function(record, Refs(), create, wanted)
    except Exception as error:  # (a value of no canonical type may raise anything: the same)
        return "raised", (type(error), str(error))
    return "gave", [(name, type(value), repr(value)) for name, value in out.items()]


@pytest.mark.parametrize("name", sorted(MAPPINGS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_specialised_outbound_code_gives_what_the_general_code_gives(name: str, data: Any):
    entity, fields, specialised, general = _functions(name)
    record = data.draw(_record(entity, fields))
    create = data.draw(st.booleans())
    paths = sorted({path for field in fields for path in field.canonical})
    wanted = data.draw(st.one_of(st.none(), st.frozensets(st.sampled_from(paths or ["x"]))))
    assert _run(specialised, record, create, wanted) == _run(general, record, create, wanted)


def test_a_chain_of_inverses_is_inlined_step_by_step():
    """`[prefix, value_map]` outbound is the value map's inverse, then the prefix's: both
    written inline, the second on what the first gave."""
    text = (
        "fields:\n  - canonical: number\n    native: cust_no\n    transform:\n"
        "      - {prefix: C-}\n      - {value_map: {map: {'12': twelve}, unknown: keep}}\n"
    )
    mapper, problems = compile_text(text, "test.yaml", Entity.CUSTOMER)
    assert mapper is not None, problems
    fields = list(mapper._outbound)
    assert len(chain_steps(fields[0].backward)) == 2
    function = codegen.build_outbound(fields)
    general = codegen.build_outbound(fields, specialise=False)
    for number in ("twelve", "7", ""):
        record = record_type(Entity.CUSTOMER).model_construct(number=number)
        want = general(record, Refs(), True, None)
        assert function(record, Refs(), True, None) == want
    record = record_type(Entity.CUSTOMER).model_construct(number="twelve")
    assert function(record, Refs(), True, None) == {"cust_no": "C-12"}
    every = next(
        cell.cell_contents.__source__
        for cell in function.__closure__ or ()
        if getattr(cell.cell_contents, "__name__", "") == "outbound_set"
    )
    assert "bw0(v)" in every and "_table.get(v, v)" in every and "_text + v" in every
