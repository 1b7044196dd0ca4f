"""The transform registry: small pure functions with declared inverses.

A transform turns a native value into a canonical one (`forward`) and, when it can, back again
(`inverse`). Mapping files name transforms and give their arguments; the compiler looks them up
here, validates the arguments with the transform's own pydantic model and builds the functions
once. `None` never reaches a transform: an empty value stays empty in both directions.

Users add transforms with an entry point in the `connector.transforms` group that points at a
`Transform` instance::

    [project.entry-points."connector.transforms"]
    sap_date = "my_package.transforms:SAP_DATE"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict

from connector.errors import ConfigurationError

ENTRY_POINT_GROUP = "connector.transforms"

Function = Callable[[Any], Any]


class NoArgs(BaseModel):
    """Arguments of a transform that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Functions:
    """A built transform: `forward` native → canonical, `inverse` canonical → native."""

    forward: Function
    #: None: the transform cannot be undone (a `both` field then needs an explicit `inverse:`).
    inverse: Function | None
    #: `forward` normalises (trims, lower-cases, rounds): a native value survives a round trip
    #: only once it is in normal form. Used by the round-trip property tests.
    lossy: bool = False


@dataclass(frozen=True, slots=True)
class Transform:
    """A named transform: `build(args)` makes the functions once, at load time."""

    name: str
    summary: str
    build: Callable[[Any], Functions]
    args: type[BaseModel] = NoArgs
    #: The argument a bare value fills: `decimal: 2` means `decimal: {scale: 2}`.
    shorthand: str | None = None


@dataclass(frozen=True, slots=True)
class Inline:
    """What a transform's `forward` computes for a value of exactly type `accepts`, so that the
    generated mapping code (`codegen.py`) can write it in place of the call, and knows the
    type of what comes out (a field whose value is already of its canonical type then needs
    no type test).

    `expression` is Python source in `v`, `{self}` (the function itself: the way back to the
    general case) and `{name}` for each of `bound`'s objects, or None when the function is
    still called and only `gives` is known. It must compute what the function computes and
    raise what it raises for every value of type `accepts`; the mapping tests run both on
    many values (tests/mapping/test_inline_transforms.py). `gives`: the exact types the result
    can have, `type(None)` among them where it can be None; a `Decimal` given is finite.
    """

    accepts: type
    expression: str | None
    gives: tuple[type, ...]
    bound: tuple[tuple[str, Any], ...] = ()


def inline(function: Function, *forms: Inline) -> Function:
    """`function`, with what it computes for some exact input types (see `Inline`)."""
    function.inline = forms  # type: ignore[attr-defined]
    return function


def inline_forms(function: Function) -> tuple[Inline, ...]:
    """The `Inline` forms `inline()` gave `function` (none for every other function)."""
    forms: tuple[Inline, ...] = getattr(function, "inline", ())
    return forms


def compose(functions: Sequence[Function]) -> Function:
    """One function applying `functions` in order; callers never pass it `None`.

    A step may return `None` (a blank string stripped away): the later steps are skipped.
    `identity` steps are dropped, and a chain of only those is `identity` itself, which the
    code generator recognises and does not call at all.
    """
    steps = tuple(function for function in functions if function is not identity)
    if not steps:
        return identity
    if len(steps) == 1:
        return steps[0]

    def run(value: Any) -> Any:
        for step in steps:
            if value is None:
                return None
            value = step(value)
        return value

    run.steps = steps  # type: ignore[attr-defined]  # the code generator unrolls the chain
    return run


def chain_steps(function: Function) -> tuple[Function, ...]:
    """The steps `compose` made `function` of (itself alone when it is no chain)."""
    steps: tuple[Function, ...] = getattr(function, "steps", (function,))
    return steps


def identity(value: Any) -> Any:
    """The transform that changes nothing (the inverse of normalisers such as `strip`)."""
    return value


@cache
def available_transforms() -> dict[str, Transform]:
    """The built-ins plus every transform installed through the entry-point group."""
    from connector.mapping.builtin_transforms import BUILTIN_TRANSFORMS

    found = {transform.name: transform for transform in BUILTIN_TRANSFORMS}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        if not isinstance(loaded, Transform):
            raise ConfigurationError(
                f"entry point {point.name!r} in {ENTRY_POINT_GROUP} is not a Transform"
            )
        if loaded.name != point.name:
            raise ConfigurationError(
                f"entry point {point.name!r} names a Transform called {loaded.name!r}"
            )
        found[loaded.name] = loaded
    return found
