"""Whether each configured system would work now, for the daemon's `/readyz`.

Each system's `probe` (the optional adapter hook, `connector.adapter.Probing`) makes a few cheap
authenticated calls; a readiness endpoint polled every few seconds must not spend the API
quota on them, so the answer is cached for `ttl_seconds` and refreshed by one caller at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from connector.adapter import probe_adapter
from connector.entity import Entity
from connector.errors import ConnectorError

DEFAULT_TTL_SECONDS = 60.0


class SystemHealth:
    """The cached verdict of every system's probe: problems per system (empty: healthy)."""

    def __init__(
        self,
        adapters: Mapping[str, object],
        entities: Mapping[str, frozenset[Entity]],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._adapters = adapters
        self._entities = entities
        self._ttl = ttl_seconds
        self._clock = clock
        self._checked_at: float | None = None
        self._problems: dict[str, list[str]] = {}
        self._lock = asyncio.Lock()

    async def problems(self) -> dict[str, list[str]]:
        """Per unhealthy system, what is wrong (from the cache when it is fresh)."""
        async with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self._ttl:
                self._problems = await self._probe_all()
                self._checked_at = self._clock()
            return dict(self._problems)

    async def _probe_all(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, adapter in self._adapters.items():
            try:
                problems = [
                    problem.message
                    for problem in await probe_adapter(
                        adapter, self._entities.get(name, frozenset())
                    )
                ]
            except ConnectorError as error:
                problems = [str(error)]
            if problems:
                found[name] = problems
        return found
