"""Transform chains specialised by their steps' `Inline` forms, for the generated code.

A step of a chain may say what it computes for a value of one exact type
(`connector.mapping.transforms.Inline`). Following those forms through the chain gives, for
each input type the first step has a form for, the chain as straight-line expressions and the
exact types its result can have: `codegen.py` writes a branch of its own for each such type,
where no transform is called (or only one whose result type alone is known) and no type test
is made that the known types already pass. tests/mapping/test_inline_transforms.py holds the
result to the general code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from connector.mapping.transforms import Inline, inline_forms
from connector.mapping.value_checks import ValueCheck

NONE = type(None)

#: A chain's specialisation: the exact input type, the `Inline` form of each step for it, and
#: the exact types the last step can give.
Branch = tuple[type, tuple[Inline, ...], frozenset[type]]


def specialised(steps: Sequence[Callable[[Any], Any]]) -> list[Branch]:
    """The input types for which every step of the chain has an `Inline` form: the first
    step's forms, each followed through the chain (a step's one non-None result type is the
    next one's input; None skips the rest, as `compose` does)."""
    if not steps:
        return []
    found: list[Branch] = []
    for first in inline_forms(steps[0]):
        forms = [first]
        gives = frozenset(first.gives)
        for step in steps[1:]:
            passed = gives - {NONE}
            form = next((f for f in inline_forms(step) if passed == {f.accepts}), None)
            if form is None:
                break
            forms.append(form)
            gives = (gives & {NONE}) | frozenset(form.gives)
        else:
            found.append((first.accepts, tuple(forms), gives))
    return found


def proven(check: ValueCheck, gives: frozenset[type], required: bool) -> bool:
    """Whether a value of one of the types `gives` always passes `check` (a required field's
    None never reaches it: it raised)."""
    values = gives - {NONE}
    if NONE in gives and not (check.optional or required):
        return check.kind == "any"
    if check.kind == "exact":
        return values <= {check.exact}
    if check.kind == "decimal":  # (an `Inline` gives only finite decimals)
        return values <= {Decimal}
    return check.kind == "any"


def inline_chain(
    steps: Sequence[Callable[[Any], Any]],
    forms: Sequence[Inline],
    name: str,
    namespace: dict[str, Any],
    *,
    indent: int,
) -> list[str]:
    """The chain as its `Inline` forms for one input type (`specialised`)."""
    lines = []
    for number, (step, form) in enumerate(zip(steps, forms, strict=True)):
        pad = " " * indent
        namespace[f"{name}_{number}"] = step
        if form.expression == "v":
            continue  # (a step that gives this type back as it is)
        if form.expression is None:
            lines.append(f"{pad}v = {name}_{number}(v)")
        else:
            lines.append(f"{pad}v = {expression(form, f'{name}_{number}', namespace)}")
        if number < len(steps) - 1 and NONE in form.gives:
            lines.append(f"{pad}if v is not None:")
            indent += 4
    return lines


def expression(form: Inline, name: str, namespace: dict[str, Any]) -> str:
    """`form.expression` with its objects named in the namespace (`name` is the step's)."""
    assert form.expression is not None
    names = {"self": name}
    for bound, value in form.bound:
        names[bound] = namespace_name = f"{name}_{bound}"
        namespace[namespace_name] = value
    return form.expression.format(**names)
