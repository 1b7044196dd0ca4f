"""Parsing a field's `transform:` / `inverse:` entries into built functions, with problems.

A step is a transform name (`strip`) or a one-key mapping of the name to its arguments
(`decimal: {scale: 2}`, or the shorthand `decimal: 2` for the transform's main argument).
Arguments are validated with the transform's own pydantic model, so a wrong type is reported
with the file position of the offending argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from connector.errors import Problem
from connector.mapping.positions import KeyPath, Positions, did_you_mean
from connector.mapping.transforms import Functions, Transform


@dataclass(frozen=True)
class BuiltStep:
    name: str
    path: KeyPath
    functions: Functions
    args: BaseModel


def parse_chain(
    chain: Any,
    path: KeyPath,
    positions: Positions,
    registry: Mapping[str, Transform],
    problems: list[Problem],
) -> list[BuiltStep] | None:
    """The built steps of a chain, or None (with `problems` appended) when any step is bad."""
    if chain is None:
        return []
    steps = chain if isinstance(chain, list) else [chain]
    built: list[BuiltStep] = []
    ok = True
    for index, step in enumerate(steps):
        step_path = (*path, index) if isinstance(chain, list) else path
        result = _parse_step(step, step_path, positions, registry, problems)
        if result is None:
            ok = False
        else:
            built.append(result)
    return built if ok else None


def _parse_step(
    step: Any,
    path: KeyPath,
    positions: Positions,
    registry: Mapping[str, Transform],
    problems: list[Problem],
) -> BuiltStep | None:
    if isinstance(step, str):
        name, raw_args, name_path, args_path = step, None, path, path
    elif isinstance(step, dict) and len(step) == 1:
        [(name, raw_args)] = step.items()
        name_path, args_path = (*path, name), (*path, name)
        if not isinstance(name, str):
            problems.append(positions.problem(path, f"transform name {name!r} is not text"))
            return None
    else:
        problems.append(
            positions.problem(
                path,
                "a transform step is a name (`strip`) or one `name: arguments` pair "
                f"(`decimal: {{scale: 2}}`), not {step!r}",
            )
        )
        return None
    transform = registry.get(name)
    if transform is None:
        hint = did_you_mean(name, registry)
        problems.append(
            positions.problem(name_path, f"unknown transform `{name}`{hint}", key=name_path != path)
        )
        return None
    arguments = _arguments(transform, raw_args)
    if arguments is None:
        takes = ", ".join(f"`{arg}`" for arg in transform.args.model_fields) or "no arguments"
        problems.append(
            positions.problem(
                args_path, f"transform `{name}` takes {takes} as a mapping, not {raw_args!r}"
            )
        )
        return None
    try:
        args = transform.args.model_validate(arguments)
    except ValidationError as error:
        for detail in error.errors():
            where = tuple(detail["loc"])
            located = (*args_path, *where) if isinstance(raw_args, dict) else args_path
            argument = ".".join(str(part) for part in where) or transform.shorthand or "arguments"
            if detail["type"] == "extra_forbidden":
                hint = did_you_mean(str(where[-1]), transform.args.model_fields)
                message = f"transform `{name}` has no argument `{argument}`{hint}"
                problems.append(positions.problem(located, message, key=True))
            else:
                message = f"transform `{name}` argument `{argument}`: {detail['msg']}"
                problems.append(positions.problem(located, message))
        return None
    try:
        functions = transform.build(args)
    except (ValueError, TypeError) as error:
        problems.append(positions.problem(args_path, f"transform `{name}`: {error}"))
        return None
    return BuiltStep(name, path, functions, args)


def _arguments(transform: Transform, raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return {}
    fields = transform.args.model_fields
    # A mapping is the arguments themselves unless it names none of them and the main
    # argument is itself a mapping (`value_map: {closedwon: won}` is the table).
    if isinstance(raw, dict) and (
        transform.shorthand is None
        or set(raw) & set(fields)
        or not _takes_mapping(fields[transform.shorthand].annotation)
    ):
        return raw
    if transform.shorthand is None:
        return None
    return {transform.shorthand: raw}


def _takes_mapping(annotation: Any) -> bool:
    """Whether an argument's type is a mapping (then a bare mapping may be its shorthand)."""
    candidates = (annotation, *get_args(annotation))
    return any(candidate is dict or get_origin(candidate) is dict for candidate in candidates)
