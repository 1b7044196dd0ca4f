"""Every kind of mapping-file error says what is wrong, where (file:line:column) and, where
likely, what was meant."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from connector.errors import InvalidConfiguration
from connector.mapping.catalog import MappingCatalog, check, compile_text
from connector.model import Entity
from tests.mapping.conftest import DictRefs, compile_yaml, native


def problems_of(text: str, entity: Entity = Entity.CUSTOMER, **kwargs):
    mapper, problems = compile_text(textwrap.dedent(text), "my/customer.yaml", entity, **kwargs)
    assert mapper is None
    return [str(problem) for problem in problems]


def test_unknown_canonical_field_names_file_line_column_and_suggests():
    found = problems_of(
        """\
        fields:
          - canonical: name
            native: name
          - canonical: emial
            native: email
        """
    )
    assert found == [
        "my/customer.yaml:4:16: unknown canonical field `emial` for customer"
        " — did you mean `email`?"
    ]


def test_unknown_nested_canonical_field_suggests_the_nested_path():
    [found] = problems_of("fields:\n  - {canonical: billing_address.cty, native: city}\n")
    assert found.startswith("my/customer.yaml:2:17: unknown canonical field")
    assert "did you mean `billing_address.city`?" in found


def test_custom_paths_are_open():
    mapper, problems = compile_text(
        "fields:\n  - {canonical: custom.anything_at_all, native: x}\n", "f.yaml", Entity.CUSTOMER
    )
    assert problems == [] and mapper is not None


def test_unknown_transform_suggests_a_known_one():
    found = problems_of(
        """\
        fields:
          - canonical: email
            native: email
            transform: [strip, lowr]
        """
    )
    assert found == ["my/customer.yaml:4:24: unknown transform `lowr` — did you mean `lower`?"]


def test_unknown_transform_given_with_arguments_points_at_its_name():
    found = problems_of(
        """\
        fields:
          - canonical: annual_revenue
            native: annualrevenue
            transform:
              decmal: {scale: 2}
        """
    )
    assert found == ["my/customer.yaml:5:7: unknown transform `decmal` — did you mean `decimal`?"]


def test_non_invertible_transform_on_a_both_field_is_a_load_error():
    found = problems_of(
        """\
        fields:
          - canonical: phone
            native: [mobilephone, phone]
            transform: coalesce
        """
    )
    assert found == [
        "my/customer.yaml:4:16: transform `coalesce` has no inverse, so a `both` field cannot"
        " use it: add `inverse:` or make the field `direction: inbound`"
    ]


def test_non_invertible_transform_is_fine_inbound_or_with_an_explicit_inverse():
    text = """\
        fields:
          - {canonical: phone, native: [mobilephone, phone], transform: coalesce,
             direction: inbound}
          - {canonical: name, native: name, transform: {constant: ACME},
             inverse: {constant: ACME}}
        """
    mapper, problems = compile_text(textwrap.dedent(text), "f.yaml", Entity.CUSTOMER)
    assert problems == [] and mapper is not None


def test_bad_yaml_reports_its_line():
    found = problems_of("fields:\n  - canonical: name\n   native: x\n")
    assert found == [
        "my/customer.yaml:3:4: invalid YAML: expected <block end>, "
        "but found '<block mapping start>'"
    ]


def test_wrong_argument_type_names_the_transform_argument_and_its_position():
    found = problems_of(
        """\
        fields:
          - canonical: annual_revenue
            native: annualrevenue
            transform:
              decimal: {scale: two}
        """
    )
    assert len(found) == 1
    assert found[0].startswith("my/customer.yaml:5:24: transform `decimal` argument `scale`:")
    assert "integer" in found[0]


def test_wrong_argument_in_shorthand_form_points_at_the_value():
    [found] = problems_of("fields:\n  - {canonical: name, native: n, transform: {decimal: x}}\n")
    assert found.startswith("my/customer.yaml:2:55: transform `decimal` argument `scale`")


def test_unknown_argument_suggests_the_right_one():
    [found] = problems_of(
        "fields:\n  - {canonical: name, native: n, transform: {decimal: {scael: 2}}}\n"
    )
    assert found == (
        "my/customer.yaml:2:56: transform `decimal` has no argument `scael` — did you mean `scale`?"
    )


def test_unknown_key_in_a_field_entry_suggests_the_right_key():
    [found] = problems_of("fields:\n  - {canonical: name, native: n, direcion: inbound}\n")
    assert found == "my/customer.yaml:2:34: unknown key `direcion` — did you mean `direction`?"


def test_bad_direction_value():
    [found] = problems_of("fields:\n  - {canonical: name, native: n, direction: sideways}\n")
    assert found.startswith("my/customer.yaml:2:45: `direction`:")
    assert "'sideways'" in found


def test_value_map_into_an_enum_checks_the_canonical_values():
    found = problems_of(
        """\
        fields:
          - canonical: stage
            native: dealstage
            transform:
              value_map: {closedwon: wn, closedlost: lost}
        """,
        entity=Entity.SALE,
    )
    assert found == [
        "my/customer.yaml:5:30: `wn` is not a stage value (lost, open, won) — did you mean `won`?"
    ]


def test_value_map_that_is_not_one_to_one_cannot_be_inverted():
    [found] = problems_of(
        "fields:\n  - {canonical: industry, native: i, transform: {value_map: {a: x, b: x}}}\n"
    )
    assert "my/customer.yaml:2:" in found
    assert "cannot be inverted" in found and "`also`" in found


def test_reference_field_without_ref_and_ref_on_a_plain_field():
    found = problems_of(
        """\
        fields:
          - {canonical: customer, native: AccountId}
          - {canonical: email, native: Email, ref: customer}
        """,
        entity=Entity.CONTACT,
    )
    assert found == [
        "my/customer.yaml:2:17: `customer` holds a canonical key: add `ref: customer` so ids are"
        " translated",
        "my/customer.yaml:3:44: `ref:` is for reference fields (`customer`), not `email`",
    ]


def test_a_path_filled_twice_is_reported():
    found = problems_of(
        "fields:\n  - {canonical: name, native: a}\n  - {canonical: name, native: b}\n"
    )
    assert found == [
        "my/customer.yaml:3:5: canonical `name` is filled twice (also at my/customer.yaml:2:5)"
    ]


def test_native_fields_are_checked_against_the_adapters_declared_fields():
    found = problems_of(
        "fields:\n  - {canonical: name, native: nmae}\n",
        native_fields=frozenset({"name", "domain"}),
    )
    assert found == [
        "my/customer.yaml:2:31: unknown native field `nmae` (the adapter declares no such field"
        " for customer) — did you mean `name`?"
    ]


def test_all_problems_of_all_files_are_reported_together(tmp_path: Path):
    (tmp_path / "hubspot").mkdir()
    (tmp_path / "hubspot" / "customer.yaml").write_text(
        "fields:\n  - {canonical: nam, native: name}\n  - {canonical: x.y, native: z}\n"
    )
    (tmp_path / "hubspot" / "contact.yaml").write_text("fields: [\n")
    found = check(
        [("hubspot", Entity.CUSTOMER), ("hubspot", Entity.CONTACT), ("hubspot", Entity.SALE)],
        user_dir=tmp_path,
    )
    locations = [problem.location for problem in found]
    assert locations[0].endswith("hubspot/customer.yaml:2:17")
    assert locations[1].endswith("hubspot/customer.yaml:3:17")
    assert locations[2].startswith(str(tmp_path / "hubspot" / "contact.yaml"))
    assert len(found) == 3  # the shipped sale file has no problem


def test_mapper_raises_invalid_configuration_with_every_problem(tmp_path: Path):
    (tmp_path / "erp_generic").mkdir()
    (tmp_path / "erp_generic" / "customer.yaml").write_text(
        "fields:\n  - {canonical: nam, native: name}\n  - {canonical: email, native: e, "
        "transform: nope}\n"
    )
    with pytest.raises(InvalidConfiguration) as caught:
        MappingCatalog(tmp_path).mapper("erp_generic", Entity.CUSTOMER)
    assert len(caught.value.problems) == 2
    assert "did you mean `name`?" in str(caught.value)


def test_missing_file_is_a_problem(tmp_path: Path):
    [found] = check([("nosuchcrm", Entity.CUSTOMER)], user_dir=tmp_path)
    assert found.location == "nosuchcrm/customer.yaml"
    assert "no mapping file" in found.message


def test_file_for_the_wrong_entity():
    [found] = problems_of("entity: contact\nfields: []\n")
    assert found == "my/customer.yaml:1:9: this file maps `customer`, not `contact`"


def test_misspelt_value_map_argument_is_reported_as_such():
    [found] = problems_of(
        "fields:\n  - canonical: custom.tier\n    native: t\n"
        "    transform: {value_map: {map: {gold: A}, unknwn: keep}}\n"
    )
    assert found == (
        "my/customer.yaml:4:45: transform `value_map` has no argument `unknwn`"
        " — did you mean `unknown`?"
    )


def test_a_computed_field_is_read_only():
    [found] = problems_of(
        "fields:\n  - {canonical: annual_revenue, native: rev, computed: true, direction: both}\n"
    )
    assert found.startswith("my/customer.yaml:2:") and "`computed` field is read-only" in found


def test_a_computed_field_is_neither_written_nor_carried_into_another_system():
    mapper = compile_yaml(
        """\
        entity: sale
        fields:
          - {canonical: title, native: dealname}
        lines:
          native: lines
          fields:
            - {canonical: number, native: line_no, transform: integer}
            - {canonical: line_total, native: amount, transform: decimal, computed: true}
        """,
        Entity.SALE,
    )
    refs = DictRefs()
    record = mapper.to_canonical(
        native({"dealname": "D", "lines": [{"line_no": "1", "amount": "9"}]}), refs
    )
    assert [line.model_dump(exclude_unset=True) for line in record.lines or []] == [{"number": 1}]
    assert record.lines is not None
    record.lines[0].line_total = Decimal("5")
    assert mapper.to_native(record, refs, create=True)["lines"] == [{"line_no": "1"}]
