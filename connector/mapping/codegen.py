"""Turning a mapping's compiled fields into two straight-line Python functions.

Looping over field objects and calling a reader, a transform and a writer closure per field
costs more than the mapping itself, so each mapper is compiled once into one function per
direction whose body names every field explicitly (`v = get('name', MISSING)` …). Only
validated data reaches the source text: native and custom names as `repr()` string literals,
canonical names that are fields of the canonical model (checked by the compiler), and
everything else (transforms, readers, defaults) as objects in the function's namespace.
Inbound, a transform step written as an expression for the value's exact type (`Inline`,
`inline_code.py`) is not called at all. For the usual record (a row holding every field the
mapping reads, every value of its type) a third function builds the record itself, value
objects and all (`build_record_inbound`). Sale lines are rarer and go through the per-field
closures in `mapper.py`.
"""

from __future__ import annotations

import copy
import datetime as dt
import operator
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import BaseModel

from connector.errors import MappingError, UnresolvedReference
from connector.mapping.inline_code import NONE, expression, inline_chain, proven, specialised
from connector.mapping.mapper import MISSING, CompiledField, value_objects
from connector.mapping.transforms import chain_steps, identity, inline_forms
from connector.mapping.value_checks import VALIDATE, ValueCheck, value_check
from connector.model import META_FIELDS, PLAIN_TYPES, Construction, Entity, construction

CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError)

InboundFunction = Callable[..., tuple[dict[str, Any], bool, dict[str, Any] | None]]
OutboundFunction = Callable[..., dict[str, Any]]


def fail(field: CompiledField, reason: object) -> MappingError:
    return MappingError(f"{field.label}: {reason}", code="MAPPING")


def _namespace() -> dict[str, Any]:
    return {
        "MISSING": MISSING,
        "CONVERSION_ERRORS": CONVERSION_ERRORS,
        "UnresolvedReference": UnresolvedReference,
        "fail": fail,
        "deepcopy": copy.deepcopy,
        "Decimal": Decimal,
    }


def build_inbound(
    fields: Sequence[CompiledField], entity: Entity, *, specialise: bool = True, take: bool = True
) -> InboundFunction:
    """`(fields, refs) -> (values, checked, flat)`: canonical values, nested as the record
    model expects, and whether each one passed its field's type check (`value_checks`); when
    one did not, the caller validates the record to say why (or to convert what pydantic
    converts).

    `flat` is what `connector.model.flatten` gives for the record built from checked values,
    made on the way (each value is at hand here, and its type is known once checked), so the
    engine need not walk the record again; it means nothing when `checked` is false. None for
    a mapping with a field whose flattened form needs the model (`_flat`).

    Two bodies are generated. `inbound_each` reads each native field with `fields.get` and
    converts it by calling its transforms, except where a step's `Inline` form fits the
    value's exact type (`inline_code.py`). `inbound`, for the usual record, a `dict` that holds
    every plain native field the mapping reads (an SQL row always does), takes them all in one
    call (`operator.itemgetter`) and so never tests for an absent one; any other record goes
    to `inbound_each`. `specialise=False` gives the general body alone, with no inline forms:
    the tests hold the others to it. `take=False` leaves `inbound` out: for a mapper whose
    `build_record_inbound` function takes such records (compiling it costs as much again).
    """
    each = _inbound_function("inbound_each", fields, entity, specialise=specialise, taken=())
    taken = tuple(index for index, field in enumerate(fields) if _plain_native(field))
    if not specialise or not taken or not take:
        return each
    return _inbound_function("inbound", fields, entity, specialise=True, taken=taken, each=each)


def _taker(names: Iterable[str]) -> Callable[[Mapping[str, Any]], Any]:
    """`itemgetter` of these native names, interned: a row's keys are where the reader's code
    names its columns (`erp_generic.row_builder`: literals, interned by the compiler), so each
    is found by identity instead of by comparing text (~2,000 callgrind instructions a
    27-field customer)."""
    return operator.itemgetter(*map(sys.intern, names))


def _plain_native(field: CompiledField) -> bool:
    return len(field.native) == 1 and "." not in field.native[0]


def _inbound_function(
    name: str,
    fields: Sequence[CompiledField],
    entity: Entity,
    *,
    specialise: bool,
    taken: tuple[int, ...],
    each: InboundFunction | None = None,
) -> InboundFunction:
    namespace = _namespace()
    namespace["PLAIN"] = PLAIN_TYPES
    puts = [_flat(field, entity) for field in fields]
    making_flat = all(put is not None for put in puts)
    lines = [f"def {name}(fields, refs):"]
    if taken:
        # Only a plain dict: a subclass's `__missing__` would answer for an absent field.
        namespace["each"] = each
        namespace["take"] = _taker(fields[index].native[0] for index in taken)
        names = ", ".join(f"n{index}" for index in taken)
        lines += [
            "    if type(fields) is not dict:",
            "        return each(fields, refs)",
            "    try:",
            f"        {names} = take(fields)",
            "    except KeyError:",
            "        return each(fields, refs)",
        ]
    else:
        lines.append("    get = fields.get")
    lines += ["    values = {}", "    checked = True"]
    if making_flat:
        lines += ["    flat = {}", "    whole = True"]
    parts = _local_parts(fields)
    lines += [f"    p_{head} = None" for head in sorted(parts)]
    for index, field in enumerate(fields):
        namespace[f"f{index}"] = field
        lines.append(f"    # {field.label!r}")
        present = index in taken
        if present:
            lines.append(f"    v = n{index}")
        elif _plain_native(field):
            lines.append(f"    v = get({field.native[0]!r}, MISSING)")
        else:
            namespace[f"rd{index}"] = field.read
            lines.append(f"    v = rd{index}(fields)")
        body = _convert(field, index, namespace, entity, specialise=specialise)
        body += _assign(field, index, namespace, parts)
        if making_flat:
            body += puts[index] or []
        if present:
            lines += _indented(body, 4)
            continue
        lines.append("    if v is not MISSING:")
        lines += _indented(body, 8)
        if field.required:
            lines += [
                "    else:",
                f"        raise fail(f{index}, 'required, but the record does not have it')",
            ]
    lines.append(
        f"    return values, checked, {'flat if whole else None' if making_flat else 'None'}"
    )
    return _define(name, lines, namespace)


class FlatForm(NamedTuple):
    """How a checked `v` goes into `flat` as `flatten` puts the record's value there (`_flat`).

    `kind`: "none" (no entry: a meta field, or a value always validated), "plain" (`v` as it
    is), "any" (`v` where it is of a plain type, else no `flat` at all), "convert" (`value`, an
    expression of `v` valid once `v` passed its check)."""

    kind: str
    value: str = "v"


def _flat_form(field: CompiledField, entity: Entity) -> FlatForm | None:
    """The form a field's checked value takes in `flat`: plain values as they are, a `Decimal`
    as its normalised text, a date as ISO text, an enumeration member as its value. Only the
    form a value has once it passed its check is written (an unchecked one makes the record be
    validated, and then `flat` is not used); a custom value of no plain type leaves the whole
    `flat` to `flatten` (`whole`), which converts it (or fails on it) where it always did. None
    where the value's path is not one path of known type (a field filling several paths): the
    mapper then makes no `flat` at all."""
    if len(field.canonical) != 1:
        return None
    path = field.canonical[0]
    if path.partition(".")[0] in META_FIELDS:
        return FlatForm("none")  # `flatten` leaves these out
    check = value_check(entity, path)
    if check.kind == "validate":
        return FlatForm("none")  # a value here always makes the record be validated
    if check.kind == "exact" and check.exact in (str, int, float, bool):
        return FlatForm("plain")
    if check.kind == "any":  # (`custom.*`) anything else is left to `flatten` itself
        return FlatForm("any")
    # The others convert `v`, which holds the checked type only while `checked` holds.
    if check.kind == "decimal":
        return FlatForm("convert", "None if v is None else format(v.normalize(), 'f')")
    if check.kind == "enum":
        # (`_value_` is the attribute `value` reads through a descriptor call: enum's docs.)
        return FlatForm("convert", "None if v is None else v._value_")
    if check.exact is dt.date:
        return FlatForm("convert", "None if v is None else v.isoformat()")
    return None


def _flat(field: CompiledField, entity: Entity) -> list[str] | None:
    """Lines putting the checked `v` into `flat` (`_flat_form`); None: no `flat` at all."""
    form = _flat_form(field, entity)
    if form is None:
        return None
    return _flat_lines(form, f"flat[{field.canonical[0]!r}]")


def _flat_lines(form: FlatForm, target: str) -> list[str]:
    """Lines setting `target` (an item of `flat`, or a local) to `v`'s flat form."""
    if form.kind == "none":
        return []
    if form.kind == "plain":
        return [f"{target} = v"]
    if form.kind == "any":
        return ["if type(v) in PLAIN:", f"    {target} = v", "else:", "    whole = False"]
    return ["if checked:", f"    {target} = {form.value}"]


def _indented(lines: Sequence[str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{line}" for line in lines]


def _convert(
    field: CompiledField, index: int, namespace: dict[str, Any], entity: Entity, *, specialise: bool
) -> list[str]:
    """Lines (at no indent) turning the native `v` into the checked canonical `v`: the
    transform chain, the required test, the reference lookup and the type check, in that
    order; for each input type the chain's `Inline` forms fit, a branch of its own first."""
    check = value_check(entity, field.canonical[0]) if len(field.canonical) == 1 else VALIDATE
    steps = () if field.forward in (None, identity) else chain_steps(field.forward)
    general: list[str] = []
    if steps:
        general += [
            "if v is not None:",
            "    try:",
            *_chain(steps, f"fw{index}", namespace, indent=8, forms=specialise),
            "    except CONVERSION_ERRORS as error:",
            f"        raise fail(f{index}, error) from None",
        ]
    if field.required:
        general += ["if v is None:", f"    raise fail(f{index}, 'required, but empty')"]
    if field.ref is not None:
        namespace[f"e{index}"] = field.ref
        general += [
            "if v is not None:",
            f"    key = refs.canonical_key(e{index}, str(v))",
            "    if key is None:",
            f"        raise UnresolvedReference(e{index}.value, str(v), {field.canonical[0]!r})",
            "    v = key or None  # DELETED_REFERENCE: the parent is gone",
        ]
    general += _check(check, index, namespace)
    branches = specialised(steps) if specialise and field.ref is None else []
    if not branches:
        return general
    lines: list[str] = []
    for number, (accepts, forms, gives) in enumerate(branches):
        namespace[f"in{index}_{number}"] = accepts
        lines.append(f"{'if' if number == 0 else 'elif'} type(v) is in{index}_{number}:")
        chain = inline_chain(steps, forms, f"fw{index}", namespace, indent=8)
        if chain:
            lines += [
                "    try:",
                *chain,
                "    except CONVERSION_ERRORS as error:",
                f"        raise fail(f{index}, error) from None",
            ]
        if field.required and NONE in gives:
            lines += ["    if v is None:", f"        raise fail(f{index}, 'required, but empty')"]
        if not proven(check, gives, field.required):
            lines += _indented(_check(check, index, namespace, gives=gives), 4)
        if lines[-1].startswith(("if ", "elif ")):
            lines.append("    pass  # (already what the field holds)")
    lines.append("else:")
    return lines + _indented(general, 4)


def _chain(
    steps: Sequence[Callable[[Any], Any]],
    name: str,
    namespace: dict[str, Any],
    *,
    indent: int,
    forms: bool = True,
) -> list[str]:
    """A transform chain unrolled: each step applied while the value is not None (as
    `compose` does); with `forms`, a step whose `Inline` form takes `str` is written inline
    for a `str` (the common native type), and called for anything else."""
    lines = []
    for number, step in enumerate(steps):
        pad = " " * indent
        namespace[f"{name}_{number}"] = step
        call = f"{name}_{number}(v)"
        text = (
            next((f for f in inline_forms(step) if f.accepts is str and f.expression), None)
            if forms
            else None
        )
        if text is None:
            lines.append(f"{pad}v = {call}")
        else:
            inline = expression(text, f"{name}_{number}", namespace)
            lines += [f"{pad}if type(v) is str:", f"{pad}    v = {inline}", f"{pad}else:"]
            lines.append(f"{pad}    v = {call}")
        if number < len(steps) - 1:
            lines.append(f"{pad}if v is not None:")
            indent += 4
    return lines


def _check(
    check: ValueCheck,
    index: int,
    namespace: dict[str, Any],
    *,
    gives: frozenset[type] | None = None,
) -> list[str]:
    """Lines (at no indent) testing `v` against the canonical type; a failed test clears
    `checked`. `gives`: the types `v` is known to have, where known."""
    if check.kind == "any":
        return []
    if check.kind == "validate":
        return ["checked = False"]
    maybe_none = gives is None or NONE in gives
    present = "v is not None and " if check.optional and maybe_none else ""
    if check.kind == "exact":
        namespace[f"x{index}"] = check.exact
        return [f"if {present}type(v) is not x{index}:", "    checked = False"]
    if check.kind == "decimal":
        return [
            f"if {present}(type(v) is not Decimal or not v.is_finite()):",
            "    checked = False",
        ]
    namespace[f"en{index}"] = check.enum
    namespace[f"em{index}"] = check.members
    # A member or its value becomes the member, as pydantic makes it.
    if gives is not None and gives - {NONE} == {str}:
        find = f"em{index}.get(v)"  # (text: no type to test; None finds no member)
    else:
        find = f"em{index}.get(v) if type(v) is str or type(v) is en{index} else None"
    body = [f"m = {find}", "if m is None:", "    checked = False", "else:", "    v = m"]
    if not (check.optional and maybe_none):  # (None is no member: it fails the test)
        return body
    return ["if v is not None:", *_indented(body, 4)]


def _local_parts(fields: Sequence[CompiledField]) -> frozenset[str]:
    """The value objects (`billing_address`) that only fields of one nested path each fill:
    the generated code keeps each in a local variable (`p_billing_address`) instead of
    looking it up in `values` for every one of its fields. A value object some field writes
    whole, or with other paths (`assign`), is left to the lookup."""
    nested: set[str] = set()
    other: set[str] = set()
    for field in fields:
        for path in field.canonical:
            head, _, tail = path.partition(".")
            (nested if tail and len(field.canonical) == 1 else other).add(head)
    return frozenset(head for head in nested - other if head.isidentifier())


def _assign(
    field: CompiledField, index: int, namespace: dict[str, Any], parts: frozenset[str]
) -> list[str]:
    if len(field.canonical) > 1:
        namespace[f"as{index}"] = field.assign
        return [f"as{index}(values, v)"]
    head, _, tail = field.canonical[0].partition(".")
    if not tail:
        return [f"values[{head!r}] = v"]
    if head in parts:
        return [
            f"if p_{head} is None:",
            f"    p_{head} = values[{head!r}] = {{}}",
            f"p_{head}[{tail!r}] = v",
        ]
    return [
        f"part = values.get({head!r})",
        "if part is None:",
        f"    part = values[{head!r}] = {{}}",
        f"part[{tail!r}] = v",
    ]


RecordFunction = Callable[..., tuple[Any, dict[str, Any] | None, dict[str, Any] | None]]


def build_record_inbound(
    fields: Sequence[CompiledField], entity: Entity, model: type[BaseModel]
) -> RecordFunction | None:
    """`(fields, refs, updated_at, deleted) -> (record, flat, values)`: the record itself, for
    a native record that holds every field the mapping reads (a `dict`, as an SQL row is) and
    whose every value passed its check, built as `model.trusted_constructor` would build it
    from the values `build_inbound`'s function gives (with `updated_at` and `deleted`, which
    the caller has checked) — but in place: each value object and the record made from a dict
    written out in the declared field order, with the fields set known when generating, so no
    dict of values, no merge with the defaults and no call per object. `flat` as
    `build_inbound`'s. A value that did not pass its check gives `(None, None, values)`: the
    values `build_inbound`'s function gives, for pydantic to validate; a record that does not
    hold every field, or no `dict`, `(None, None, None)`: the caller takes the general way.

    None for a mapping this cannot serve: a field read from a nested or several native fields,
    filling several canonical paths, a meta field or a whole value object, or whose value is
    always validated; a record type without a `construction`.
    """
    if not fields:
        return None
    parts = _local_parts(fields)
    for field in fields:
        if not _plain_native(field) or len(field.canonical) != 1:
            return None
        head, _, tail = field.canonical[0].partition(".")
        if head in META_FIELDS or (tail and head not in parts):
            return None
        if value_check(entity, field.canonical[0]).kind == "validate":
            return None
    objects = dict(value_objects(model))
    try:
        # The value objects first, then the record that holds them (None).
        plans: list[tuple[str | None, Construction]] = [
            (head, construction(objects[head])) for head in sorted(parts) if head in objects
        ]
        plans.append((None, construction(model)))
    except TypeError:
        return None
    if any(head not in objects and head not in model.model_fields for head in parts):
        return None
    namespace = _namespace()
    namespace["PLAIN"] = PLAIN_TYPES
    namespace["take"] = _taker(field.native[0] for field in fields)
    forms = [_flat_form(field, entity) for field in fields]
    lines = [
        "def inbound_record(fields, refs, updated_at, deleted):",
        "    if type(fields) is not dict:",
        "        return None, None, None",
        "    try:",
        # (One name: `itemgetter` of one key gives the value, not a tuple.)
        f"        {', '.join(f'n{index}' for index in range(len(fields)))} = take(fields)",
        "    except KeyError:",
        "        return None, None, None",
        "    checked = True",
        "    whole = True",
    ]
    # Each value in a local of its own (`v3`), its flat form in another where it differs
    # (`f3`); every dict is written once, at the end.
    top: dict[str, str] = {}  # record field → its source (a value, or a value object's dict)
    nested: dict[str, dict[str, str]] = {}  # value object (or `custom`) → its fields' sources
    flat: dict[str, str] = {}
    for index, (field, form) in enumerate(zip(fields, forms, strict=True)):
        namespace[f"f{index}"] = field
        lines.append(f"    # {field.label!r}")
        body = [f"v = n{index}", *_convert(field, index, namespace, entity, specialise=True)]
        body.append(f"v{index} = v")
        path = field.canonical[0]
        head, _, tail = path.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = f"v{index}"
            top.setdefault(head, f"p_{head}")
        else:
            top[head] = f"v{index}"
        if form is not None and form.kind != "none":
            if form.kind == "plain":
                flat[path] = f"v{index}"
            else:
                body += _flat_lines(form, f"x_{index}")
                flat[path] = f"x_{index}"
        lines += _indented(body, 4)
    # Not checked: the values, as `build_inbound`'s function gives them, for pydantic.
    values = {
        name: _dict_display(nested[name]) if name in nested else source
        for name, source in top.items()
    }
    lines += ["    if not checked:", f"        return None, None, {_dict_display(values)}"]
    for head, inner in nested.items():
        if head not in objects:  # (`custom`: a dict)
            lines.append(f"    p_{head} = {_dict_display(inner)}")
    for part, plan in plans:
        label = "record" if part is None else part
        given = (
            {**top, "updated_at": "updated_at", "deleted": "deleted"}
            if part is None
            else nested[part]
        )
        data: dict[str, str] = {}
        fixed: dict[str, Any] = {}  # the defaults that are constants
        for name, default in plan.defaults.items():
            if name in given:
                data[name] = given[name]
            elif plan.factories.get(name) is dict:
                data[name] = "{}"  # (a display: no call)
            elif name in plan.factories:
                namespace[f"make_{label}_{name}"] = plan.factories[name]
                data[name] = f"make_{label}_{name}()"
            else:
                namespace[f"default_{label}_{name}"] = fixed[name] = default
                data[name] = "None" if default is None else f"default_{label}_{name}"
        namespace[f"model_{label}"] = model if part is None else objects[part]
        namespace[f"set_{label}"] = frozenset(given)
        for setter in ("set_dict", "set_fields_set", "set_extra", "set_private"):
            namespace[f"{setter}_{label}"] = getattr(plan, setter)
        made = "record" if part is None else f"p_{part}"
        lines += _indented(_dict_lines(f"d_{label}", data, namespace, fixed), 4)
        lines += [
            f"    {made} = new(model_{label})",
            f"    set_dict_{label}({made}, d_{label})",
            f"    set_fields_set_{label}({made}, set(set_{label}))",
            f"    set_extra_{label}({made}, None)",
            f"    set_private_{label}({made}, None)",
        ]
    if not all(form is not None for form in forms):
        lines.append("    return record, None, None")
    else:
        lines += ["    if not whole:", "        return record, None, None"]
        # Its keys in sorted order: the snapshot codec has orjson sort them (OPT_SORT_KEYS),
        # which costs a third less for a dict given in that order (callgrind, a 27-path
        # customer: 10,600 instructions against 15,600). Nothing else reads the order.
        flat = dict(sorted(flat.items()))
        lines += _indented(_dict_lines("flat", flat, namespace), 4)
        lines.append("    return record, flat, None")
    namespace["new"] = object.__new__
    return _define("inbound_record", lines, namespace)


#: Up to this many items, a dict display builds a dict faster than copying one and setting
#: each item (CPython builds a longer display in parts of 16 and merges them: callgrind).
_DISPLAY_ITEMS = 16


def _dict_lines(
    name: str, items: dict[str, str], namespace: dict[str, Any], fixed: Mapping[str, Any] = {}
) -> list[str]:
    """Lines (at no indent) setting `name` to a dict of these keys (literals) and value
    sources, in their order: a display, or for many items a copy of a dict of these keys (kept
    in `namespace`, with the values of `fixed`, whose items are then not set again) with each
    other value set."""
    if len(items) <= _DISPLAY_ITEMS:
        return [f"{name} = {_dict_display(items)}"]
    namespace[f"keys_{name}"] = {key: fixed.get(key) for key in items}
    sets = [f"{name}[{key!r}] = {value}" for key, value in items.items() if key not in fixed]
    return [f"{name} = keys_{name}.copy()", *sets]


def _dict_display(items: dict[str, str]) -> str:
    """Source of a dict display of these keys (literals) and value sources, in their order."""
    return "{" + ", ".join(f"{key!r}: {value}" for key, value in items.items()) + "}"


def build_outbound(
    fields: Sequence[CompiledField],
    *,
    specialise: bool = True,
    record_type: type[BaseModel] | None = None,
) -> OutboundFunction:
    """`(record, refs, create, wanted) -> dict` of native values; `wanted` None: all set.

    Two bodies are generated, one testing the record's set fields and one testing `wanted`,
    so that choice is made once per record instead of once per field. For a few wanted paths
    a third body, of only the fields they concern, is generated on first use (`_outbound_for`).
    A transform step written as an expression for the value's exact type (`Inline`, as
    inbound) is not called; `specialise=False` calls every one (the tests hold the generated
    code to that). With `record_type`, the bodies testing `wanted` read a record of exactly
    that type from its `__dict__` (`_reading_dict`).
    """
    every = _outbound_function("outbound_set", fields, wanted=False, specialise=specialise)
    some = _outbound_function("outbound_wanted", fields, wanted=True, specialise=specialise)
    heads = _dict_heads(fields, record_type) if specialise else None
    few: dict[frozenset[str], OutboundFunction] = {}

    if heads is not None:
        general = some

        def first(record: Any, refs: Any, create: bool, wanted: Any) -> dict[str, Any]:
            # Made on first use, as the bodies for a few paths: every mapper of a
            # configuration is compiled at start-up, and most never write `wanted` paths.
            nonlocal some
            some = _reading_dict("outbound_wanted", fields, general, record_type, heads)
            return some(record, refs, create, wanted)

        some = first

    def outbound(record: Any, refs: Any, create: bool, wanted: Any) -> dict[str, Any]:
        if wanted is None:
            return every(record, refs, create, None)
        if type(wanted) is frozenset and len(wanted) <= _FEW_PATHS:
            function = few.get(wanted)
            if function is None:
                if len(few) >= _FEW_FUNCTIONS:  # (kept bounded: the others take the whole body)
                    return some(record, refs, create, wanted)
                function = few[wanted] = _outbound_for(fields, wanted, specialise, record_type)
            return function(record, refs, create, wanted)
        return some(record, refs, create, wanted)

    return outbound


#: Up to this many wanted paths (the natural key the match stage asks for, an update's
#: changed field or two), a body that leaves out every field they cannot write is generated
#: and kept, for at most this many distinct sets per direction of a mapper.
_FEW_PATHS = 3
_FEW_FUNCTIONS = 64


def _outbound_for(
    fields: Sequence[CompiledField],
    wanted: frozenset[str],
    specialise: bool = True,
    record_type: type[BaseModel] | None = None,
) -> OutboundFunction:
    """`outbound_wanted` without the fields these paths do not make written: a field with
    canonical paths and no default writes nothing unless one of its triggers is wanted
    (`_outbound_field`); the others (a native-only constant, a default on create) stay."""
    kept = [
        f for f in fields if not f.canonical or f.has_default or not wanted.isdisjoint(f.triggers)
    ]
    return _outbound_wanted("outbound_few", kept, specialise, record_type)


def _outbound_wanted(
    name: str,
    fields: Sequence[CompiledField],
    specialise: bool,
    record_type: type[BaseModel] | None,
) -> OutboundFunction:
    """The body testing `wanted`: reading the record's attributes, or, for a record of exactly
    `record_type`, its `__dict__` (`_reading_dict`), which falls back to the first."""
    general = _outbound_function(name, fields, wanted=True, specialise=specialise)
    heads = _dict_heads(fields, record_type) if specialise else None
    if heads is None:
        return general
    return _reading_dict(name, fields, general, record_type, heads)


def _reading_dict(
    name: str,
    fields: Sequence[CompiledField],
    general: OutboundFunction,
    record_type: type[BaseModel] | None,
    heads: tuple[str, ...],
) -> OutboundFunction:
    """The body testing `wanted` that reads a record of exactly `record_type` from its
    `__dict__` (`heads`: `_dict_heads`), and hands any other record to `general`, the body
    already built that reads the record's attributes (`build_outbound`'s, made on first use,
    and `_outbound_wanted`'s share this)."""
    return _outbound_function(name, fields, wanted=True, read=(record_type, heads, general))


def _dict_heads(
    fields: Sequence[CompiledField], record_type: type[BaseModel] | None
) -> tuple[str, ...] | None:
    """The record fields a body reads (each field of one canonical path: its head), in order,
    when each can be read from a `record_type` instance's `__dict__` as its attribute reads.

    Reading an attribute of a pydantic model is the slow path of CPython's attribute lookup
    (`BaseModel` defines `__getattr__`, so the interpreter neither specialises nor inlines it):
    ~450 callgrind instructions each, ~20 a HubSpot customer's payload. Its `__dict__` is
    where the attribute is found when no class in the MRO defines that name (no data
    descriptor to take precedence: the Python docs, "Invoking Descriptors") and the class keeps
    `object.__getattribute__`; pydantic keeps every field's value there. None: read attributes.
    """
    if record_type is None or record_type.__getattribute__ is not object.__getattribute__:
        return None
    heads: dict[str, None] = {}
    for field in fields:
        if len(field.canonical) == 1:
            heads[field.canonical[0].partition(".")[0]] = None
    if not heads or any(name in vars(k) for k in record_type.__mro__ for name in heads):
        return None
    return tuple(heads)


def _outbound_function(
    name: str,
    fields: Sequence[CompiledField],
    *,
    wanted: bool,
    specialise: bool = True,
    read: tuple[type[BaseModel] | None, tuple[str, ...], OutboundFunction] | None = None,
) -> OutboundFunction:
    """`read` (record type, heads, general body): the record's fields are taken from its
    `__dict__` in one `itemgetter` call when it is of exactly that type and holds each of the
    heads; any other record (a subclass, one `model_construct` left a field out of) goes to
    the general body, which reads attributes."""
    namespace = _namespace()
    lines = [f"def {name}(record, refs, create, wanted):"]
    local: dict[str, str] = {}
    if read is not None:
        record_type, heads, general = read
        local = {head: f"r{number}" for number, head in enumerate(heads)}
        # (Interned: the names pydantic and the generated inbound code key a record's
        # `__dict__` by are, so each is found by identity, not by comparing text.)
        take = operator.itemgetter(*map(sys.intern, heads))
        namespace.update(R=record_type, general=general, take_dict=take)
        names = "".join(f"{local[head]}, " for head in heads)
        lines += [
            "    if type(record) is not R:",
            "        return general(record, refs, create, wanted)",
            "    try:",
            f"        ({names}) = take_dict(record.__dict__)"
            if len(heads) > 1
            else f"        {names[:-2]} = take_dict(record.__dict__)",
            "    except KeyError:",
            "        return general(record, refs, create, wanted)",
        ]
    lines.append("    out = {}")
    if not wanted:  # (the other body tests `wanted`, never the fields set)
        lines.append("    fs = record.model_fields_set")
    for index, field in enumerate(fields):
        namespace[f"f{index}"] = field
        lines.append(f"    # {field.label!r}")
        body = _outbound_field(
            field, index, namespace, wanted=wanted, specialise=specialise, local=local
        )
        if field.create_only or not field.canonical:
            lines.append("    if create:")
            body = [f"    {line}" for line in body]
        lines += body
    lines.append("    return out")
    return _define(name, lines, namespace)


def _outbound_field(
    field: CompiledField,
    index: int,
    namespace: dict[str, Any],
    *,
    wanted: bool,
    specialise: bool,
    local: Mapping[str, str],
) -> list[str]:
    write = _write(field, index, namespace)
    default = _default(field, index, namespace)
    if not field.canonical:
        return [f"    {write(default)}"]
    test = _is_wanted(field, index, namespace) if wanted else _is_set(field)
    got = _get(field, index, namespace, local)
    body = [f"    if {test}:", *[f"        {line}" for line in got]]
    converts = field.backward is not None and field.backward is not identity
    if not (field.has_default or field.required or field.ref is not None or converts):
        return [*body, f"        {write('v')}"]  # a plain copy: an empty value clears
    body.append("        if v is None:")
    if field.has_default:
        body += ["            if create:", f"                {write(default)}", "            else:"]
        indent = "                "
    else:
        indent = "            "
    if field.required:
        body.append(f"{indent}raise fail(f{index}, 'required, but the record has no value')")
    else:
        body.append(f"{indent}{write('None')}")
    body.append("        else:")
    if field.ref is not None:
        namespace[f"e{index}"] = field.ref
        body += [
            f"            ext = refs.external_id(e{index}, v)",
            "            if ext is None:",
            f"                raise UnresolvedReference(e{index}.value, v, {field.canonical[0]!r})",
            "            v = ext or None  # DELETED_REFERENCE: the parent is gone",
        ]
    if converts:
        namespace[f"bw{index}"] = field.backward
        body += [
            "            try:",
            *_indented(_backward(field, index, namespace, specialise=specialise), 16),
            "            except CONVERSION_ERRORS as error:",
            f"                raise fail(f{index}, error) from None",
        ]
    body.append(f"            {write('v')}")
    if field.has_default:
        body += ["    elif create:", f"        {write(default)}"]
    return body


def _backward(
    field: CompiledField, index: int, namespace: dict[str, Any], *, specialise: bool
) -> list[str]:
    """Lines (at no indent) turning a canonical `v` (never None) into the native value: for
    each input type every step of the chain has an `Inline` form for, that form written in
    place of the call (`inline_code.specialised`); any other value calls the chain."""
    call = f"v = bw{index}(v)"
    assert field.backward is not None
    branches = specialised(chain_steps(field.backward)) if specialise else []
    if not branches:
        return [call]
    steps = chain_steps(field.backward)
    lines: list[str] = []
    for number, (accepts, forms, _) in enumerate(branches):
        namespace[f"bin{index}_{number}"] = accepts
        lines.append(f"{'if' if number == 0 else 'elif'} type(v) is bin{index}_{number}:")
        chain = inline_chain(steps, forms, f"bs{index}", namespace, indent=4)
        lines += chain or ["    pass  # (already the native value)"]
    return [*lines, "else:", f"    {call}"]


#: Up to this many paths, a field's "is it wanted" test is written as `in` tests.
_INLINE_TRIGGERS = 3


def _is_wanted(field: CompiledField, index: int, namespace: dict[str, Any]) -> str:
    """Source of a test that `wanted` holds one of the paths that make the field written:
    membership tests for the usual one path or two (a value object's path and the object's own
    name), no method call per field of every write. The full path is tested first (the usual
    hit)."""
    if len(field.triggers) <= _INLINE_TRIGGERS:
        paths = sorted(field.triggers, key=lambda path: (-len(path), path))
        return " or ".join(f"{path!r} in wanted" for path in paths)
    namespace[f"t{index}"] = field.triggers
    return f"not wanted.isdisjoint(t{index})"


def _is_set(field: CompiledField) -> str:
    """Source of a test that the record has set (one of) the field's canonical paths."""
    tests = []
    for path in field.canonical:
        head, _, tail = path.partition(".")
        if not tail:
            tests.append(f"{head!r} in fs")
        elif head == "custom":
            tests.append(f"('custom' in fs and {tail!r} in record.custom)")
        else:
            tests.append(
                f"({head!r} in fs and (record.{head} is None or "
                f"{tail!r} in record.{head}.model_fields_set))"
            )
    return " or ".join(tests)


def _get(
    field: CompiledField, index: int, namespace: dict[str, Any], local: Mapping[str, str]
) -> list[str]:
    """Lines setting `v` to the field's canonical value; `local`: record fields already read
    into locals (`_outbound_function`'s `read`), by name."""
    if len(field.canonical) > 1:
        namespace[f"gt{index}"] = field.get
        return [f"v = gt{index}(record)"]
    head, _, tail = field.canonical[0].partition(".")
    source = local.get(head, f"record.{head}")
    if not tail:
        return [f"v = {source}"]
    if head == "custom":
        return [f"v = {source}.get({tail!r})"]
    return [f"part = {source}", f"v = None if part is None else part.{tail}"]


def _write(field: CompiledField, index: int, namespace: dict[str, Any]) -> Callable[[str], str]:
    if len(field.native) == 1 and "." not in field.native[0]:
        name = field.native[0]
        return lambda value: f"out[{name!r}] = {value}"
    namespace[f"wr{index}"] = field.write
    return lambda value: f"wr{index}(out, {value})"


def _default(field: CompiledField, index: int, namespace: dict[str, Any]) -> str:
    namespace[f"d{index}"] = field.default
    # A list or dict default must not be one object shared by every record written.
    return f"deepcopy(d{index})" if isinstance(field.default, dict | list) else f"d{index}"


def _define(name: str, lines: list[str], namespace: dict[str, Any]) -> Callable[..., Any]:
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<mapping {name}>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    function.__source__ = source  # type: ignore[attr-defined]
    return function
