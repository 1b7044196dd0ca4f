"""Mapping files held against a described native schema (`connector.mapping.live_check`)."""

from __future__ import annotations

from connector.mapping.catalog import compile_text
from connector.mapping.live_check import Findings, check_against_schema
from connector.model import Entity
from connector.native_schema import NativeField, NativeSchema

CUSTOMER = """\
entity: customer
fields:
  - {canonical: name, native: name, required: true}
  - canonical: industry
    native: Sector
    transform:
      - strip
      - value_map: {Farming: agriculture, Mining: mining}
  - {canonical: website, native: Web, create_only: true}
  - {canonical: phone, native: Phone}
  - {canonical: custom.tier, native: Tier, direction: outbound, default: Gold}
  - {canonical: number, native: Number, direction: inbound}
  - {canonical: custom.region, native: Region}
"""

SALE = """\
entity: sale
fields:
  - {canonical: title, native: Title}
lines:
  native: lines
  fields:
    - {canonical: sku, native: Sku}
    - {canonical: quantity, native: Qty, transform: {decimal: {output: number}}}
"""


def at(source: str, needle: str) -> str:
    """`f.yaml:line:column` of the first `needle` in `source`."""
    offset = source.index(needle)
    line = source.count("\n", 0, offset) + 1
    return f"f.yaml:{line}:{offset - source.rfind(chr(10), 0, offset)}"


def schema(*fields: NativeField, case_sensitive: bool = True, **extra: object) -> NativeSchema:
    return NativeSchema(
        "Thing",
        {f.name: f for f in fields},
        case_sensitive=case_sensitive,
        missing_hint="add it in the admin UI",
        **extra,  # type: ignore[arg-type]
    )


def text(name: str, **extra: object) -> NativeField:
    label = "picklist" if "values" in extra else "text"
    return NativeField(name, label, python_type=str, **extra)  # type: ignore[arg-type]


def run(source: str, entity: Entity, described: NativeSchema, *, written: bool = True) -> Findings:
    mapper, problems = compile_text(source, "f.yaml", entity)
    assert mapper is not None, problems
    return check_against_schema(
        source, "f.yaml", entity, described, written=written, compiled=mapper.fields
    )


def everything_fine(**overrides: NativeField) -> list[NativeField]:
    fields = {
        "Name": text("Name"),
        "Sector": text("Sector", values=("Farming", "Mining"), restricted=True),
        "Web": text("Web", updateable=False),
        "Phone": text("Phone"),
        "Tier": text("Tier", values=("Gold", "Silver"), restricted=True),
        "Number": text("Number", createable=False, updateable=False),
        "Region": text("Region"),
    }
    fields.update(overrides)
    return list(fields.values())


def test_a_schema_that_has_everything_gives_no_finding_and_names_match_case_blind():
    found = run(CUSTOMER, Entity.CUSTOMER, schema(*everything_fine(), case_sensitive=False))
    assert found.problems == [] and found.warnings == []


def test_case_matters_where_the_system_says_so():
    found = run(CUSTOMER, Entity.CUSTOMER, schema(*everything_fine()))
    assert [str(p) for p in found.problems] == [
        f"{at(CUSTOMER, 'name, required')}: Thing has no field `name` (a typo for `Name`?); "
        "add it in the admin UI"
    ]


def test_a_value_the_restricted_list_lacks_is_an_error_at_its_key_an_open_list_warns():
    restricted = text("Sector", values=("Farming",), restricted=True)
    found = run(
        CUSTOMER, Entity.CUSTOMER, schema(*everything_fine(Sector=restricted), case_sensitive=False)
    )
    assert [str(p) for p in found.problems] == [
        f"{at(CUSTOMER, 'Mining:')}: Thing.Sector is a restricted picklist without the value "
        "'Mining': records mapped to it would be refused; add it to the picklist or map to one "
        "of its values"
    ]
    open_list = text("Sector", values=("farming",))
    found = run(
        CUSTOMER, Entity.CUSTOMER, schema(*everything_fine(Sector=open_list), case_sensitive=False)
    )
    assert found.problems == []
    assert [str(w) for w in found.warnings] == [
        f"{at(CUSTOMER, 'Farming:')}: Thing.Sector is a picklist without the value 'Farming' "
        "(it has 'farming': the case differs): it is stored, but not offered in the list",
        f"{at(CUSTOMER, 'Mining:')}: Thing.Sector is a picklist without the value 'Mining': "
        "it is stored, but not offered in the list",
    ]


def test_a_default_outside_a_restricted_list_is_an_error_at_the_default():
    tier = text("Tier", values=("Silver",), restricted=True)
    found = run(
        CUSTOMER, Entity.CUSTOMER, schema(*everything_fine(Tier=tier), case_sensitive=False)
    )
    assert [str(p) for p in found.problems] == [
        f"{at(CUSTOMER, 'Gold')}: Thing.Tier is a restricted picklist without the default 'Gold'"
    ]


def test_writability_follows_the_entry_direction_and_create_only():
    read_only = text("Phone", createable=False, updateable=False)
    create_only = text("Region", updateable=False)
    not_on_create = text("Web", createable=False)
    found = run(
        CUSTOMER,
        Entity.CUSTOMER,
        schema(
            *everything_fine(Phone=read_only, Region=create_only, Web=not_on_create),
            case_sensitive=False,
        ),
    )
    messages = [str(p) for p in found.problems]
    assert messages[0].startswith(f"{at(CUSTOMER, 'Web')}: Thing.Web cannot be set on create")
    assert messages[1].startswith(
        f"{at(CUSTOMER, 'Phone}')}: Thing.Phone is read-only for this connection"
    )
    assert messages[2].startswith(
        f"{at(CUSTOMER, 'Region}')}: Thing.Region can be set on create only, but the mapping "
        "writes every change to it: add `create_only: true`"
    )
    assert len(messages) == 3  # `Number` is read-only too, but the entry only reads it
    # A route that only reads the system: nothing is written, so nothing of that matters.
    quiet = run(
        CUSTOMER,
        Entity.CUSTOMER,
        schema(*everything_fine(Phone=read_only, Region=create_only), case_sensitive=False),
        written=False,
    )
    assert quiet.problems == [] and quiet.warnings == []


def test_a_native_type_that_cannot_carry_the_canonical_value():
    number = NativeField("Phone", "double", python_type=float)
    found = run(
        CUSTOMER, Entity.CUSTOMER, schema(*everything_fine(Phone=number), case_sensitive=False)
    )
    [problem] = found.problems
    assert str(problem).startswith(
        f"{at(CUSTOMER, 'Phone}')}: Thing.Phone is double: the native field is a number"
    )


def test_line_fields_are_held_against_the_lines_schema():
    lines = NativeSchema(
        "Line", {"Sku": text("Sku"), "Quantity": NativeField("Quantity", "double")}
    )
    described = NativeSchema("Order", {"Title": text("Title")}, lines=lines)
    found = run(SALE, Entity.SALE, described)
    assert [str(p) for p in found.problems] == [f"{at(SALE, 'Qty')}: Line has no field `Qty`"]
    without_lines = NativeSchema("Order", {"Title": text("Title")})
    assert run(SALE, Entity.SALE, without_lines).problems == []
