"""Random canonical values for a mapping's paths: the records the convergence check syncs.

Values are drawn from one `random.Random`, so a seed gives the same records again (the CLI uses
a fixed seed; the property test hands in hypothesis' own `Random`, which it can shrink). Text is
in a plain normal form (trimmed words, lower-case e-mail addresses): the check is about what a
system does to a value on the way, not about garbage input the canonical model would refuse.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from enum import Enum
from typing import Any, get_args

from pydantic import BaseModel

from connector.mapping.countries import NAMES
from connector.model import Entity, SaleLine, record_type

_WORDS = ("acme", "Nordic", "Valve", "Blue", "Sensor", "river", "Pump", "North", "Delta", "7")
_TLDS = ("de", "com", "test", "io")
_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


def _slug(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))


def _email(rng: random.Random) -> str:
    return f"{_slug(rng)}@{_slug(rng)}.{rng.choice(_TLDS)}"


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 10_000_000)).scaleb(-2)


def _quantity(rng: random.Random) -> Decimal:
    # Whole units mostly, and sometimes a fraction (hours, kilograms).
    if rng.random() < 0.8:
        return Decimal(rng.randint(1, 500))
    return Decimal(rng.randint(1, 99_999)).scaleb(-2)


#: Values by the last part of a canonical path, where the type alone says too little.
_BY_NAME: dict[str, Any] = {
    "email": _email,
    "owner": _email,
    "phone": lambda rng: "+49" + "".join(rng.choice("0123456789") for _ in range(9)),
    "mobile": lambda rng: "+44" + "".join(rng.choice("0123456789") for _ in range(10)),
    "country": lambda rng: rng.choice(sorted(NAMES)),
    "currency": lambda rng: rng.choice(_CURRENCIES),
    "domain": lambda rng: f"{_slug(rng)}.{rng.choice(_TLDS)}",
    "website": lambda rng: f"https://www.{_slug(rng)}.{rng.choice(_TLDS)}",
    "quantity": _quantity,
    "customer": lambda rng: f"key-{rng.randint(1, 999)}",
    "contact": lambda rng: f"key-{rng.randint(1, 999)}",
}


def annotation_of(entity: Entity, path: str, *, line: bool = False) -> Any:
    """The type annotation of a canonical path (`custom.*` is text)."""
    if line:
        return SaleLine.model_fields[path].annotation
    head, _, tail = path.partition(".")
    if head == "custom":
        return str
    info = record_type(entity).model_fields[head]
    if not tail:
        return info.annotation
    part = next(
        arg for arg in get_args(info.annotation) if isinstance(arg, type) and arg is not type(None)
    )
    assert issubclass(part, BaseModel)
    return part.model_fields[tail].annotation


def value_for(annotation: Any, name: str, rng: random.Random) -> Any:
    """A random value of `annotation` for a path ending in `name`."""
    if name in _BY_NAME:
        return _BY_NAME[name](rng)
    for candidate in flattened(annotation):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return rng.choice(list(candidate))
        if candidate is bool:
            return rng.random() < 0.5
        if candidate is int:
            return rng.randint(0, 100_000)
        if candidate is Decimal:
            return _money(rng)
        if candidate is dt.datetime:
            return dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                seconds=rng.randint(0, 10**8)
            )
        if candidate is dt.date:
            return dt.date(2000, 1, 1) + dt.timedelta(days=rng.randint(0, 20_000))
        if candidate is str:
            return _text(rng)
    raise ValueError(f"no sample values for {annotation!r}")


def flattened(annotation: Any) -> list[Any]:
    """The annotation and every type inside it (Optional, Annotated)."""
    found = [annotation]
    for arg in get_args(annotation):
        found.extend(flattened(arg))
    return found
