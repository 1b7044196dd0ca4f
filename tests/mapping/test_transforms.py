"""The built-in transforms, one by one, and user transforms through the entry-point group."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connector.mapping import transforms as registry_module
from connector.mapping.catalog import compile_text
from connector.mapping.countries import NAMES, code_for, name_for
from connector.mapping.transforms import Functions, NoArgs, Transform, available_transforms
from connector.model import Entity

from .conftest import DictRefs, native


def build(name: str, **args: Any) -> Functions:
    transform = available_transforms()[name]
    return transform.build(transform.args.model_validate(args))


def test_strip_lower_upper():
    assert build("strip").forward("  Acme  ") == "Acme"
    assert build("strip").forward("   ") is None
    assert build("lower").forward("A@B.DE") == "a@b.de"
    assert build("upper").forward("eur") == "EUR"


def test_epoch_ms_date_is_midnight_utc_and_reads_iso_too():
    functions = build("epoch_ms_date")
    assert functions.forward("1572480000000") == dt.date(2019, 10, 31)
    assert functions.inverse is not None
    assert functions.inverse(dt.date(2019, 10, 31)) == "1572480000000"
    assert functions.forward("2024-03-01T00:00:00.000Z") == dt.date(2024, 3, 1)
    with pytest.raises(ValueError):
        functions.forward("soon")


def test_epoch_ms_datetime_is_exact_to_the_millisecond():
    functions = build("epoch_ms_datetime")
    moment = dt.datetime(2019, 12, 7, 16, 50, 6, 678000, tzinfo=dt.UTC)
    assert functions.forward("1575737406678") == moment
    assert functions.inverse is not None and functions.inverse(moment) == "1575737406678"


def test_datetime_iso_with_z_and_naive_policy():
    functions = build("datetime")
    parsed = functions.forward("2019-12-07T17:50:06.678+01:00")
    assert parsed == dt.datetime(2019, 12, 7, 16, 50, 6, 678000, tzinfo=dt.UTC)
    assert functions.inverse is not None
    assert functions.inverse(parsed) == "2019-12-07T16:50:06.678Z"
    assert functions.forward("2019-12-07T16:50:06").tzinfo is dt.UTC
    with pytest.raises(ValueError, match="no time zone"):
        build("datetime", naive="error").forward("2019-12-07T16:50:06")


def test_date_with_a_format():
    functions = build("date", format="%d.%m.%Y")
    assert functions.forward("31.12.2024") == dt.date(2024, 12, 31)
    assert functions.inverse is not None and functions.inverse(dt.date(2024, 1, 2)) == "02.01.2024"


def test_decimal_scale_and_output_forms():
    two = build("decimal", scale=2)
    assert two.forward("1250.5") == Decimal("1250.50")
    assert two.forward(0.1) == Decimal("0.10")
    assert two.forward("") is None
    assert two.inverse is not None and two.inverse(Decimal("3")) == "3.00"
    number = build("decimal", output="number")
    assert number.inverse is not None
    assert number.inverse(Decimal("2.5")) == 2.5 and number.inverse(Decimal("4")) == 4
    with pytest.raises(ValueError):
        two.forward("NaN")
    with pytest.raises(TypeError):
        two.forward(True)


def test_decimal_from_a_decimal_as_from_any_number():
    """A Decimal (what an SQL ERP gives) takes a shortcut in both directions: the same result
    as the general path, a non-finite one still refused, a scale still applied."""
    plain = build("decimal", output="decimal")
    assert plain.forward(Decimal("163938400")) == Decimal("163938400")
    assert plain.forward(Decimal("1.50")).as_tuple() == Decimal("1.50").as_tuple()
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(ValueError, match="not a finite number"):
            plain.forward(bad)
    assert build("decimal", scale=2).forward(Decimal("1.005")) == Decimal("1.01")
    text = build("decimal")
    assert text.inverse is not None
    assert text.inverse(Decimal("25000")) == "25000" and text.inverse(Decimal("1E+2")) == "100"
    assert text.inverse("12.5") == "12.5"
    with pytest.raises(TypeError):
        text.inverse(True)


def test_integer_and_boolean_from_strings():
    integer = build("integer")
    assert integer.forward("17") == 17 and integer.forward("17.0") == 17
    assert integer.inverse is not None and integer.inverse(17) == "17"
    with pytest.raises(ValueError, match="whole number"):
        integer.forward("1.5")
    boolean = build("boolean")
    assert boolean.forward("true") is True and boolean.forward("FALSE") is False
    assert boolean.inverse is not None and boolean.inverse(False) == "false"
    with pytest.raises(ValueError):
        boolean.forward("maybe")


def test_every_country_name_maps_back_to_its_code():
    for code, name in NAMES.items():
        assert code_for(name) == code
        assert name_for(code) == name
    assert code_for("USA") == "US" and code_for("the Netherlands") == "NL"
    assert code_for("de") == "DE"
    with pytest.raises(ValueError):
        code_for("Atlantis")
    country_code = build("country_code")
    assert country_code.forward(" de ") == "DE" and country_code.forward("FR") == "FR"
    for bad in ("XX", " ", 49):
        with pytest.raises((ValueError, TypeError)):
            country_code.forward(bad)


def test_phone_normalisation():
    phone = build("phone")
    assert phone.forward("+49 (30) 123-45") == "+493012345"
    assert phone.forward("0049 30 12345") == "+493012345"
    assert phone.forward("030 12345") == "03012345"
    assert build("phone", national_prefix="+49").forward("030 12345") == "+493012345"
    assert phone.forward("n/a") is None


def test_names_constant_coalesce_prefix():
    split = build("split_name")
    assert split.forward("Ada Lovelace") == ("Ada", "Lovelace")
    assert split.forward("Cher") == (None, "Cher")
    assert split.inverse is not None and split.inverse(("Ada", "Lovelace")) == "Ada Lovelace"
    reverse = build("split_name", order="last_first")
    assert reverse.forward("Lovelace, Ada") == ("Ada", "Lovelace")
    assert build("constant", value=5).forward("anything") == 5
    assert build("constant", value=5).inverse is None
    assert build("coalesce").forward((None, "", "x", "y")) == "x"
    prefix = build("prefix", text="C-")
    assert prefix.forward("C-1001") == "1001"
    assert prefix.inverse is not None and prefix.inverse("1001") == "C-1001"


def test_value_map_unknown_policies():
    assert build("value_map", map={"a": "x"}, unknown="keep").forward("b") == "b"
    assert build("value_map", map={"a": "x"}, unknown="null").forward("b") is None
    keep = build("value_map", map={"a": "x"}, also={"aa": "x"})
    assert keep.forward("aa") == "x"
    assert keep.inverse is not None and keep.inverse("x") == "a"
    with pytest.raises(ValueError, match="canonical value 'y'"):
        keep.inverse("y")


SHOUT = Transform(
    "shout",
    "upper-case with an exclamation mark",
    lambda _: Functions(lambda v: v.upper() + "!", lambda v: v.lower().rstrip("!")),
    NoArgs,
)


class _Point:
    name = "shout"
    group = registry_module.ENTRY_POINT_GROUP

    def load(self) -> Transform:
        return SHOUT


def test_user_transforms_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch):
    def fake_entry_points(*, group: str) -> list[_Point]:
        return [_Point()] if group == registry_module.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    available_transforms.cache_clear()
    try:
        assert "shout" in available_transforms()
        mapper, problems = compile_text(
            "fields:\n  - {canonical: name, native: n, transform: shout}\n",
            "u.yaml",
            Entity.CUSTOMER,
        )
        assert problems == [] and mapper is not None
        record = mapper.to_canonical(native({"n": "acme"}), DictRefs())
        assert record.name == "ACME!"
        assert mapper.to_native(record, DictRefs(), create=False) == {"n": "acme"}
    finally:
        available_transforms.cache_clear()


def test_per_unit_spreads_a_line_value_over_its_units_and_back():
    """A rebate on the whole line ↔ a discount per unit (HubSpot's line-item `discount`)."""
    per_unit = build("per_unit")
    assert per_unit.inverse is not None
    assert per_unit.forward(("4", "2.5")) == (Decimal(4), Decimal("10.00"))
    assert per_unit.inverse((Decimal(4), Decimal("10.00"))) == ("4", "2.5")
    # 1.23 over 7 units is 0.175714 per unit (six digits), and 7 of those are 1.23 again.
    quantity, unit = per_unit.inverse((Decimal(7), Decimal("1.23")))
    assert unit == "0.175714"
    assert per_unit.forward((quantity, unit)) == (Decimal(7), Decimal("1.23"))
    assert per_unit.forward(("3", None)) == (Decimal(3), None)
    assert per_unit.inverse((Decimal(3), None)) == ("3", None)
    assert per_unit.inverse((Decimal(0), Decimal(0))) == ("0", "0")
    with pytest.raises(ValueError, match="0 units"):
        per_unit.inverse((Decimal(0), Decimal("5")))
    coarse = build("per_unit", scale=2)
    assert coarse.inverse is not None
    assert coarse.inverse((Decimal(3), Decimal("10.00"))) == ("3", "3.33")
