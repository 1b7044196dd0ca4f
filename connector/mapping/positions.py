"""YAML loading that remembers where every value came from, and problem locations.

Mapping files are validated after loading, so an error found later (an unknown canonical field,
a bad transform argument) must still point at a line and column. `load_yaml` returns the plain
data together with a `Positions` index from each key path (`("fields", 3, "canonical")`) to the
place in the file where that value starts; pydantic's error locations are the same key paths.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector.errors import Problem

KeyPath = tuple[str | int, ...]


@dataclass
class Positions:
    """Where each value (and each mapping key) of one file starts, 1-based."""

    source: str
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> str:
        """`file:line:column` of the value at `path` (or of its key), or the nearest parent."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                line, column = table[probe]
                return f"{self.source}:{line}:{column}"
            if key and probe in self.values:
                line, column = self.values[probe]
                return f"{self.source}:{line}:{column}"
            probe = probe[:-1]
        line, column = self.values.get((), (1, 1))
        return f"{self.source}:{line}:{column}"

    def problem(self, path: Sequence[str | int], message: str, *, key: bool = False) -> Problem:
        return Problem(self.locate(path, key=key), message)


class YamlSyntaxError(Exception):
    """The file is not valid YAML; `problem` says where."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_yaml(text: str, source: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data plus the position of every value."""
    positions = Positions(source)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        reason = error.problem or error.context or "invalid YAML"
        raise YamlSyntaxError(Problem(where, f"invalid YAML: {reason}")) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(Problem(source, f"invalid YAML: {error}")) from None
    try:
        if node is None:
            return None, positions
        return _construct(node, (), positions, loader), positions
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> tuple[Any, Positions]:
    return load_yaml(path.read_text(encoding="utf-8"), str(path))


def _construct(
    node: yaml.Node, path: KeyPath, positions: Positions, loader: yaml.SafeLoader
) -> Any:
    positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader)
            child = (*path, key)
            positions.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _construct(value_node, child, positions, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, index), positions, loader)
            for index, item in enumerate(node.value)
        ]
    return _scalar(node, loader)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        # A mapping or list used as a key is legal YAML but never a valid mapping-file key;
        # keep it as text so validation reports it instead of a crash on an unhashable key.
        return f"<{node.tag}>"
    return loader.construct_object(node, deep=True)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` — did you mean `x`?` when a candidate is close enough, else an empty string."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" — did you mean `{close[0]}`?" if close else ""
