"""Helpers shared by the mapping tests: a dict-backed RefResolver and inline compilation."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import pytest

from connector.adapter import NativeRecord
from connector.mapping.catalog import compile_text
from connector.mapping.mapper import CompiledMapper
from connector.model import Entity

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


class DictRefs:
    """Bindings as a dict: (entity, external id) ↔ canonical key."""

    def __init__(self, bindings: dict[tuple[Entity, str], str] | None = None) -> None:
        self.to_key = dict(bindings or {})
        self.to_id = {(entity, key): ext for (entity, ext), key in self.to_key.items()}

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        return self.to_key.get((entity, external_id))

    def external_id(self, entity: Entity, key: str) -> str | None:
        return self.to_id.get((entity, key))


def compile_yaml(text: str, entity: Entity = Entity.CUSTOMER) -> CompiledMapper:
    mapper, problems = compile_text(textwrap.dedent(text), "test.yaml", entity)
    assert problems == [], problems
    assert mapper is not None
    return mapper


def native(fields: dict[str, Any], id: str = "1") -> NativeRecord:
    return NativeRecord(id=id, updated_at=WHEN, fields=fields)


@pytest.fixture
def refs() -> DictRefs:
    return DictRefs()
