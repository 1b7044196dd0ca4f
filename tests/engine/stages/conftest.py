"""Plain data for the stage tests: records, a route, a resolver over dicts, a temp SQLite store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.adapter import NativeRecord
from connector.config import MissingPolicy, RouteConfig
from connector.engine.prepare import Outgoing
from connector.engine.stages.plan import Known, PlanRules, plan_page
from connector.model import Customer, Entity
from connector.state.store import StateStore, open_store
from connector.testing.identity import IdentityMapper
from tests.engine.helpers import config_for

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def native(
    record_id: str, minute: int = 0, *, deleted: bool = False, **fields: Any
) -> NativeRecord:
    return NativeRecord(id=record_id, updated_at=at(minute), fields=fields, deleted=deleted)


class DictRefs:
    """A `RefResolver` over two dicts: (entity, external id) ↔ key."""

    def __init__(self, keys: dict[tuple[Entity, str], str] | None = None) -> None:
        self.keys = dict(keys or {})

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        return self.keys.get((entity, external_id))

    def external_id(self, entity: Entity, key: str) -> str | None:
        for (known, external_id), bound in self.keys.items():
            if known is entity and bound == key:
                return external_id
        return None


def outgoing(*customers: tuple[str, Customer]) -> list[Outgoing]:
    """Customers on their way to a target that has none of them (key k1 from source id e1)."""
    page = []
    for key, record in customers:
        record.key = key
        page.append((native(key.replace("k", "e")), record, key))
    mapper = IdentityMapper(Entity.CUSTOMER)
    rules = PlanRules("erp", "crm", frozenset({"erp"}), {}, MissingPolicy.WARN)
    return plan_page(page, Known(), rules, mapper, mapper, DictRefs()).outgoing


@pytest.fixture
def route(tmp_path: Path) -> RouteConfig:
    """erp → crm: customers matched on number, contacts on email, sales (tests/engine/helpers)."""
    return config_for(tmp_path).route("erp-to-crm")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StateStore]:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    yield store
    store.close()
