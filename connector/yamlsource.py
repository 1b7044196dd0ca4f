"""YAML that remembers where each value came from, so errors can say `file:line:column`.

`load_located(path)` returns the plain Python data and a `Locations` index from a key path
(`("routes", 0, "schedule")`) to the position of that value in the file. Config and mapping
errors use it to point at the exact line a person has to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector.errors import InvalidConfiguration, Problem

KeyPath = tuple[str | int, ...]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Locations:
    """Where each value of a loaded YAML document sits."""

    file: str
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Sequence[str | int]) -> str:
        """`file:line:column` of the deepest known ancestor of `path`."""
        probe: KeyPath = tuple(path)
        while probe:
            if probe in self.positions:
                line, column = self.positions[probe]
                return f"{self.file}:{line}:{column}"
            probe = probe[:-1]
        return self.file

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        dotted = ".".join(str(part) for part in path)
        where = self.of(path)
        return Problem(where, f"{dotted}: {message}" if dotted else message)


def _construct(
    node: yaml.Node, path: KeyPath, locations: Locations, loader: yaml.SafeLoader
) -> Any:
    locations.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader)
            result[key] = _construct(value_node, (*path, key), locations, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, index), locations, loader)
            for index, item in enumerate(node.value)
        ]
    return _scalar(node, loader)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    """A scalar as `yaml.safe_load` reads it (the composer has already resolved its tag)."""
    if not isinstance(node, yaml.ScalarNode):
        # A mapping or list used as a key is legal YAML but never a valid config key: kept as
        # text, so validation reports it instead of a crash on an unhashable key.
        return f"<{node.tag}>"
    return loader.construct_object(node, deep=True)


def load_located(path: Path) -> tuple[Any, Locations]:
    """Parse a YAML file, keeping every value's position. Raises `InvalidConfiguration`."""
    locations = Locations(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidConfiguration([Problem(str(path), f"cannot read: {error.strerror}")]) from None
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            reason = error.problem or "invalid YAML"
            raise InvalidConfiguration([Problem(where, f"invalid YAML: {reason}")]) from None
        if node is None:
            return {}, locations
        # Each scalar is constructed by the loader that composed it; serialising a node and
        # parsing it again (as this once did) was a third of reading config.yaml.
        return _construct(node, (), locations, loader), locations
    finally:
        loader.dispose()


def interpolate_env(
    data: Any, locations: Locations, environ: dict[str, str] | None = None
) -> tuple[Any, list[Problem]]:
    """Replace `${VAR}` (or `${VAR:-default}`) in every string; report each missing variable."""
    env = dict(os.environ) if environ is None else environ
    problems: list[Problem] = []

    def visit(value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {key: visit(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [visit(item, (*path, index)) for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(locations.problem(path, f"environment variable {name} is not set"))
            return ""

        return _ENV_REFERENCE.sub(replace, value)

    return visit(data, ()), problems
