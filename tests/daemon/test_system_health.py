"""`SystemHealth`: `/readyz`'s view of the systems, probed at most once per TTL."""

from __future__ import annotations

from connector.daemon.health import SystemHealth
from connector.errors import Problem
from connector.model import Entity


class Probed:
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.calls = 0

    async def probe(self, entities: frozenset[Entity]) -> list[Problem]:
        self.calls += 1
        return self.problems


class NoProbe:
    """An adapter without the optional hook: healthy once opened."""


async def test_problems_are_cached_for_the_ttl_then_probed_again():
    now = [0.0]
    crm = Probed([Problem("systems.crm", "token rejected")])
    health = SystemHealth(
        {"crm": crm, "erp": NoProbe()},
        {"crm": frozenset({Entity.CUSTOMER})},
        ttl_seconds=60,
        clock=lambda: now[0],
    )
    assert await health.problems() == {"crm": ["token rejected"]}
    crm.problems = []
    now[0] = 59.0
    assert await health.problems() == {"crm": ["token rejected"]}  # cached
    assert crm.calls == 1
    now[0] = 61.0
    assert await health.problems() == {}  # fixed: ready again without a restart
    assert crm.calls == 2
