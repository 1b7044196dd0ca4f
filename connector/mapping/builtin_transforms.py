"""The built-in transforms (see `transforms.py` for the contract, docs/mapping.md for use).

Every function here is pure and receives a non-empty value (the registry passes `None` through).
Conversions raise `ValueError`/`TypeError` on values they cannot read; the mapper turns those
into a `MappingError` naming the field.

HubSpot formats (reference/hubspot.md §1.3): every property value is a string; `date`
properties are epoch milliseconds at midnight UTC ("1572480000000"); `datetime` properties
read as ISO-8601 ("2019-12-07T16:50:06.678Z") and are accepted as epoch ms too.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.mapping import countries
from connector.mapping.transforms import Functions, Inline, Transform, identity, inline

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NONE = type(None)
_MS_PER_DAY = 86_400_000


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__} {value!r}")
    return value


# --- text ---------------------------------------------------------------------------------


def _strip(value: Any) -> str | None:
    return _text(value).strip() or None


def _lower(value: Any) -> str:
    return _text(value).lower()


def _upper(value: Any) -> str:
    return _text(value).upper()


# What they compute for text, written in place of the call by the generated mapping code
# (`Inline`); for anything else they are called, and raise as before.
inline(_strip, Inline(str, "v.strip() or None", (str, _NONE)))
inline(_lower, Inline(str, "v.lower()", (str,)))
inline(_upper, Inline(str, "v.upper()", (str,)))


def _build_strip(_: Any) -> Functions:
    return Functions(_strip, identity, lossy=True)


def _build_lower(_: Any) -> Functions:
    return Functions(_lower, identity, lossy=True)


def _build_upper(_: Any) -> Functions:
    return Functions(_upper, identity, lossy=True)


def _build_string(_: Any) -> Functions:
    def forward(value: Any) -> str:
        if isinstance(value, bool | dict | list):
            raise TypeError(f"cannot read {value!r} as text")
        return value if isinstance(value, str) else str(value)

    inline(forward, Inline(str, "v", (str,)), Inline(int, "str(v)", (str,)))
    return Functions(forward, identity, lossy=True)


class PrefixArgs(_Args):
    text: str = Field(min_length=1)


def _build_prefix(args: PrefixArgs) -> Functions:
    """Native values carry a prefix the canonical value does not (`C-1001` ↔ `1001`)."""

    def forward(value: Any) -> str:
        return _text(value).removeprefix(args.text)

    inline(forward, Inline(str, "v.removeprefix({text})", (str,), (("text", args.text),)))

    def inverse(value: Any) -> str:
        return f"{args.text}{_text(value)}"

    inline(inverse, Inline(str, "{text} + v", (str,), (("text", args.text),)))
    return Functions(forward, inverse, lossy=True)


# --- value maps ---------------------------------------------------------------------------


class ValueMapArgs(_Args):
    map: dict[Any, Any] = Field(description="native value → canonical value, one to one")
    also: dict[Any, Any] = Field(
        default_factory=dict,
        description="more native values → canonical, read inbound only (many to one)",
    )
    unknown: Literal["error", "keep", "null"] = Field(
        default="error", description="what an unmapped value becomes"
    )


def _build_value_map(args: ValueMapArgs) -> Functions:
    reverse: dict[Any, Any] = {}
    for native, canonical in args.map.items():
        if canonical in reverse:
            raise ValueError(
                f"`map` sends both {reverse[canonical]!r} and {native!r} to {canonical!r}, so "
                "it cannot be inverted; keep one in `map` and move the others to `also`"
            )
        reverse[canonical] = native
    forward_table = {**args.also, **args.map}
    unknown = args.unknown

    def lookup(table: dict[Any, Any], value: Any, side: str) -> Any:
        try:
            return table[value]
        except (KeyError, TypeError):
            if unknown == "keep":
                return value
            if unknown == "null":
                return None
            known = ", ".join(repr(key) for key in table)
            raise ValueError(f"{side} value {value!r} is not in the value map ({known})") from None

    def forward(value: Any) -> Any:
        return lookup(forward_table, value, "native")

    def inverse(value: Any) -> Any:
        return lookup(reverse, value, "canonical")

    inline(forward, _inline_lookup(forward_table, unknown, "native"))
    inline(inverse, _inline_lookup(reverse, unknown, "canonical"))
    return Functions(forward, inverse, lossy=bool(args.also) or unknown != "error")


class _Table(dict[Any, Any]):
    """A value map's table whose miss raises `lookup`'s error (`unknown: error`), so that the
    generated code's `table[v]` is the whole lookup: one subscript, no call."""

    def __init__(self, table: dict[Any, Any], side: str) -> None:
        super().__init__(table)
        self.side = side

    def __missing__(self, value: Any) -> Any:
        known = ", ".join(repr(key) for key in self)
        raise ValueError(f"{self.side} value {value!r} is not in the value map ({known})")


def _inline_lookup(table: dict[Any, Any], unknown: str, side: str) -> Inline:
    """The lookup of a text value (`lookup` with the `unknown` rule) as an expression."""
    gives = {type(found) for found in table.values()}
    if unknown == "keep":
        expression = "{table}.get(v, v)"
        gives.add(str)
    elif unknown == "null":
        expression = "{table}.get(v)"
        gives.add(_NONE)
    else:
        expression = "{table}[v]"
        table = _Table(table, side)
    # (A set's order differs between runs; the generated code is the same whichever it is.)
    return Inline(str, expression, tuple(gives), (("table", table),))


# --- dates and times ----------------------------------------------------------------------


class DateArgs(_Args):
    format: str = Field(default="%Y-%m-%d", description="strftime format of the native text")


def _build_date(args: DateArgs) -> Functions:
    pattern = args.format

    def forward(value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.datetime.strptime(_text(value).strip(), pattern).date()

    inline(forward, Inline(dt.date, "v", (dt.date,)), Inline(dt.datetime, "v.date()", (dt.date,)))

    def inverse(value: dt.date) -> str:
        return value.strftime(pattern)

    inline(inverse, Inline(dt.date, "v.strftime({pattern})", (str,), (("pattern", pattern),)))
    return Functions(forward, inverse, lossy=True)


class DatetimeArgs(_Args):
    format: str | None = Field(
        default=None, description="strftime format; default ISO-8601 with milliseconds and Z"
    )
    naive: Literal["utc", "error"] = Field(
        default="utc", description="how to read a timestamp without a zone"
    )


def _iso_z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _build_datetime(args: DatetimeArgs) -> Functions:
    pattern = args.format

    def forward(value: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            parsed = value
        elif pattern is None:
            parsed = dt.datetime.fromisoformat(_text(value).strip())
        else:
            parsed = dt.datetime.strptime(_text(value).strip(), pattern)
        if parsed.tzinfo is None:
            if args.naive == "error":
                raise ValueError(f"timestamp {value!r} has no time zone")
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)

    def inverse(value: dt.datetime) -> str:
        return _iso_z(value) if pattern is None else value.astimezone(dt.UTC).strftime(pattern)

    return Functions(forward, inverse, lossy=True)


def _epoch_ms(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"expected epoch milliseconds, got {value!r}")
    if isinstance(value, int):
        return value
    return int(_text(value).strip())


def _build_epoch_ms_date(_: Any) -> Functions:
    """HubSpot `date` properties: midnight UTC as epoch milliseconds, as a string."""

    def forward(value: Any) -> dt.date:
        if isinstance(value, str) and "-" in value[1:]:
            return dt.date.fromisoformat(value.strip()[:10])  # some clients send ISO dates
        return (_EPOCH + dt.timedelta(milliseconds=_epoch_ms(value))).date()

    def inverse(value: dt.date) -> str:
        return str((value.toordinal() - _EPOCH.date().toordinal()) * _MS_PER_DAY)

    day = "str((v.toordinal() - {epoch}) * {ms})"
    bound = (("epoch", _EPOCH.date().toordinal()), ("ms", _MS_PER_DAY))
    inline(inverse, Inline(dt.date, day, (str,), bound))
    return Functions(forward, inverse, lossy=True)


def _build_epoch_ms_datetime(_: Any) -> Functions:
    def forward(value: Any) -> dt.datetime:
        if isinstance(value, str) and "-" in value[1:]:
            parsed = dt.datetime.fromisoformat(value.strip())
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        return _EPOCH + dt.timedelta(milliseconds=_epoch_ms(value))

    def inverse(value: dt.datetime) -> str:
        return str((value - _EPOCH) // dt.timedelta(milliseconds=1))

    return Functions(forward, inverse, lossy=True)


# --- numbers and booleans -----------------------------------------------------------------


class DecimalArgs(_Args):
    scale: int | None = Field(default=None, ge=0, le=12, description="digits after the point")
    output: Literal["string", "number", "decimal"] = Field(
        default="string", description="native form written: text, JSON number or Decimal"
    )


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest repr, not the binary expansion
    try:
        return Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{value!r} is not a number") from None


def _build_decimal(args: DecimalArgs) -> Functions:
    quantum = Decimal(1).scaleb(-args.scale) if args.scale is not None else None

    def forward(value: Any) -> Decimal | None:
        if type(value) is Decimal and quantum is None and value.is_finite():
            return value  # what an SQL ERP's NUMERIC column gives: nothing to convert
        if isinstance(value, str) and not value.strip():
            return None
        number = _to_decimal(value)
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return number.quantize(quantum, ROUND_HALF_UP) if quantum is not None else number

    # An SQL ERP's NUMERIC column gives a `Decimal`: finite, it is the answer (or is rounded).
    if quantum is None:
        inline(forward, Inline(Decimal, "v if v.is_finite() else {self}(v)", (Decimal,)))
    else:
        exact = "v.quantize({quantum}, {rounding}) if v.is_finite() else {self}(v)"
        bound = (("quantum", quantum), ("rounding", ROUND_HALF_UP))
        inline(forward, Inline(Decimal, exact, (Decimal,), bound))

    def inverse(value: Any) -> Any:
        # (A canonical amount is a Decimal already: no detour through the conversions.)
        number = value if type(value) is Decimal else _to_decimal(value)
        if quantum is not None:
            number = number.quantize(quantum, ROUND_HALF_UP)
        if args.output == "decimal":
            return number
        if args.output == "number":
            return int(number) if number == number.to_integral_value() else float(number)
        return format(number, "f")

    # What a canonical amount is: a `Decimal` (finite, as the model holds it; `quantize` raises
    # what it raises in `inverse` too).
    number = "v" if quantum is None else "v.quantize({quantum}, {rounding})"
    # As text: `str` gives what `format(number, "f")` gives wherever it writes no exponent
    # (the Decimal docs' to-sci-string: plain notation for an exponent <= 0 and an adjusted
    # exponent >= -6; `f` always plain, of the value's own digits), at under half the cost
    # (callgrind: ~970 instructions against ~2,160 a value; two a HubSpot customer created).
    text = "w if 'E' not in (w := str(v)) else format(v, 'f')"
    if quantum is not None:
        text = f"w if 'E' not in (w := str(n := {number})) else format(n, 'f')"
    written = {
        "decimal": (number, (Decimal,)),
        "string": (text, (str,)),
        "number": (f"int(n) if (n := {number}) == n.to_integral_value() else float(n)",
                   (int, float)),
    }[args.output]  # fmt: skip
    rounding: tuple[tuple[str, Any], ...] = ()
    if quantum is not None:
        rounding = (("quantum", quantum), ("rounding", ROUND_HALF_UP))
    inline(inverse, Inline(Decimal, written[0], written[1], rounding))
    return Functions(forward, inverse, lossy=True)


class IntegerArgs(_Args):
    output: Literal["string", "number"] = "string"


def _build_integer(args: IntegerArgs) -> Functions:
    def forward(value: Any) -> int | None:
        if isinstance(value, bool):
            raise TypeError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            if value.isdigit():  # the common case, without a detour through Decimal
                return int(value)
            if not value.strip():
                return None
        number = _to_decimal(value)
        if number != number.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)

    digits = "int(v) if v.isdigit() else {self}(v)"
    inline(forward, Inline(int, "v", (int,)), Inline(str, digits, (int, _NONE)))

    def inverse(value: int) -> Any:
        return str(value) if args.output == "string" else value

    string = args.output == "string"
    inline(inverse, Inline(int, "str(v)" if string else "v", (str,) if string else (int,)))
    return Functions(forward, inverse, lossy=True)


class BooleanArgs(_Args):
    true: list[str] = Field(default_factory=lambda: ["true"], min_length=1)
    false: list[str] = Field(default_factory=lambda: ["false"], min_length=1)
    output: Literal["string", "bool"] = "string"


def _build_boolean(args: BooleanArgs) -> Functions:
    truthy = {text.casefold() for text in args.true}
    falsy = {text.casefold() for text in args.false}
    if truthy & falsy:
        raise ValueError(f"{sorted(truthy & falsy)} listed as both true and false")

    def forward(value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        folded = _text(value).strip().casefold()
        if folded in truthy:
            return True
        if folded in falsy:
            return False
        if not folded:
            return None
        raise ValueError(f"{value!r} is neither {args.true[0]!r} nor {args.false[0]!r}")

    inline(forward, Inline(bool, "v", (bool,)))

    def inverse(value: bool) -> Any:
        if args.output == "bool":
            return value
        return args.true[0] if value else args.false[0]

    return Functions(forward, inverse, lossy=True)


# --- countries and phones -----------------------------------------------------------------


def _checked_code(value: Any) -> str:
    if type(value) is str:  # the usual case, one lookup; anything else fails or raises below
        code = value.strip().upper()
        if code in countries.NAMES:
            return code
    code = _text(value).strip().upper()
    countries.name_for(code)  # raises for a code ISO 3166-1 does not assign
    return code


inline(
    _checked_code,
    Inline(str, "w if (w := v.strip().upper()) in {names} else {self}(v)", (str,),
           (("names", countries.NAMES),)),
)  # fmt: skip


def _build_country_code(_: Any) -> Functions:
    """Native ISO alpha-2 codes, checked and upper-cased."""
    return Functions(_checked_code, identity, lossy=True)


def _build_country_name(_: Any) -> Functions:
    """Native country names ("Germany", "USA") ↔ canonical ISO alpha-2 codes."""

    def inverse(value: Any) -> str:
        return countries.name_for(_text(value))

    names = "n if (n := {names}.get(v.upper())) is not None else {self}(v)"
    inline(inverse, Inline(str, names, (str,), (("names", countries.NAMES),)))
    return Functions(lambda value: countries.code_for(_text(value)), inverse, lossy=True)


class PhoneArgs(_Args):
    national_prefix: str | None = Field(
        default=None,
        pattern=r"^\+[1-9][0-9]{0,3}$",
        description="country calling code for numbers written with a leading 0 (`+49`)",
    )


_NOT_DIGITS = re.compile(r"[^0-9]")


def _build_phone(args: PhoneArgs) -> Functions:
    """Formatting removed: `+49 (30) 123-45` → `+493012345`; `0049…` → `+49…`."""

    def forward(value: Any) -> str | None:
        text = (value if type(value) is str else _text(value)).strip()
        international = text.startswith("+")
        # Most stored numbers differ from digits only by spaces: skip the regex for those.
        compact = text.replace(" ", "").lstrip("+")
        digits = compact if compact.isascii() and compact.isdigit() else _NOT_DIGITS.sub("", text)
        if not digits:
            return None
        if international:
            return f"+{digits}"
        if digits.startswith("00"):
            return f"+{digits[2:]}"
        if args.national_prefix and digits.startswith("0"):
            return f"{args.national_prefix}{digits[1:]}"
        return digits

    inline(forward, Inline(str, None, (str, _NONE)))  # (called: only its result type is known)
    return Functions(forward, identity, lossy=True)


# --- several values -----------------------------------------------------------------------


class ConstantArgs(_Args):
    value: Any


def _build_constant(args: ConstantArgs) -> Functions:
    fixed = args.value
    return Functions(lambda _: fixed, None)


def _build_coalesce(_: Any) -> Functions:
    """The first non-empty of several native fields (`native: [mobilephone, phone]`)."""

    def forward(value: Any) -> Any:
        if not isinstance(value, tuple | list):
            return value
        return next((item for item in value if item not in (None, "")), None)

    return Functions(forward, None)


class NameArgs(_Args):
    order: Literal["first_last", "last_first"] = "first_last"


def _split(args: NameArgs, value: Any) -> tuple[str | None, str | None]:
    text = " ".join(_text(value).split())
    if not text:
        return (None, None)
    if args.order == "last_first":
        last, _, first = text.partition(",")
        return (first.strip() or None, last.strip() or None)
    first, _, last = text.rpartition(" ")
    return (first or None, last or None)


def _join(args: NameArgs, value: Any) -> str | None:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"expected (first, last), got {value!r}")
    first, last = value
    if args.order == "last_first":
        parts = [part for part in (last, first) if part]
        return ", ".join(parts) or None
    return " ".join(part for part in (first, last) if part) or None


def _build_split_name(args: NameArgs) -> Functions:
    """One native full name ↔ canonical `[first_name, last_name]`."""
    return Functions(lambda value: _split(args, value), lambda value: _join(args, value), True)


def _build_join_name(args: NameArgs) -> Functions:
    """Native `[first, last]` fields ↔ one canonical full name."""
    return Functions(lambda value: _join(args, value), lambda value: _split(args, value), True)


class PerUnitArgs(_Args):
    scale: int = Field(default=6, ge=0, le=12, description="digits of the per-unit value")
    line_scale: int = Field(default=2, ge=0, le=12, description="digits of the line value")


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _build_per_unit(args: PerUnitArgs) -> Functions:
    """Native `[quantity, per-unit value]` ↔ canonical `[quantity, line value]`.

    For a system that keeps a discount per unit where the canonical model keeps it per line
    (HubSpot's line-item `discount`). The per-unit value is rounded to `scale` digits, so a
    line value survives the round trip while quantity * 0.5e-`scale` stays below half a unit
    of `line_scale` (below 10,000 units with the defaults).
    """
    unit_quantum = Decimal(1).scaleb(-args.scale)
    line_quantum = Decimal(1).scaleb(-args.line_scale)

    def pair(value: Any) -> tuple[Any, Any]:
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise TypeError(f"expected (quantity, value), got {value!r}")
        return value[0], value[1]

    def number(value: Any) -> Decimal | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _to_decimal(value)

    def forward(value: Any) -> tuple[Decimal | None, Decimal | None]:
        quantity, unit = (number(part) for part in pair(value))
        if unit is None:
            return quantity, None
        units = Decimal(1) if quantity is None else quantity
        return quantity, (units * unit).quantize(line_quantum, ROUND_HALF_UP)

    def inverse(value: Any) -> tuple[str | None, str | None]:
        quantity, line = (number(part) for part in pair(value))
        shown = None if quantity is None else format(quantity, "f")
        if line is None:
            return shown, None
        units = Decimal(1) if quantity is None else quantity
        if units.is_zero():
            if line.is_zero():
                return shown, "0"
            raise ValueError(f"a line value of {line} cannot be spread over 0 units")
        return shown, _plain((line / units).quantize(unit_quantum, ROUND_HALF_UP))

    return Functions(forward, inverse, lossy=True)


BUILTIN_TRANSFORMS: tuple[Transform, ...] = (
    Transform("strip", "trim whitespace; blank becomes empty", _build_strip),
    Transform("lower", "lower-case (inbound)", _build_lower),
    Transform("upper", "upper-case (inbound)", _build_upper),
    Transform("string", "numbers as text (inbound)", _build_string),
    Transform("prefix", "drop a native prefix inbound, add it outbound", _build_prefix,
              PrefixArgs, "text"),
    Transform("value_map", "native ↔ canonical value table", _build_value_map, ValueMapArgs,
              "map"),
    Transform("date", "text date in a strftime format ↔ date", _build_date, DateArgs, "format"),
    Transform("datetime", "ISO-8601 (or formatted) text ↔ UTC datetime", _build_datetime,
              DatetimeArgs, "format"),
    Transform("epoch_ms_date", "epoch milliseconds at midnight UTC ↔ date",
              _build_epoch_ms_date),
    Transform("epoch_ms_datetime", "epoch milliseconds ↔ UTC datetime",
              _build_epoch_ms_datetime),
    Transform("decimal", "number or text ↔ Decimal, optionally rounded to `scale`",
              _build_decimal, DecimalArgs, "scale"),
    Transform("integer", "number or text ↔ int", _build_integer, IntegerArgs, "output"),
    Transform("boolean", "'true'/'false' text ↔ bool", _build_boolean, BooleanArgs),
    Transform("country_code", "ISO alpha-2 code, checked", _build_country_code),
    Transform("country_name", "country name ↔ ISO alpha-2 code", _build_country_name),
    Transform("phone", "phone number without formatting", _build_phone, PhoneArgs,
              "national_prefix"),
    Transform("constant", "always this value (inbound; no inverse)", _build_constant,
              ConstantArgs, "value"),
    Transform("coalesce", "first non-empty of several native fields (no inverse)",
              _build_coalesce),
    Transform("split_name", "full name ↔ [first, last]", _build_split_name, NameArgs, "order"),
    Transform("join_name", "[first, last] ↔ full name", _build_join_name, NameArgs, "order"),
    Transform("per_unit", "[quantity, per-unit value] ↔ [quantity, line value]",
              _build_per_unit, PerUnitArgs, "scale"),
)  # fmt: skip
