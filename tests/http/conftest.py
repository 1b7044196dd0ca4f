"""Shared fixtures for the HTTP layer tests: a fake clock whose sleeps only move time."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from connector.http import HttpMetrics, HttpSettings, LimiterRegistry
from connector.testing.clock import FakeClock

BASE_URL = "https://api.example.test"
T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> HttpMetrics:
    return HttpMetrics()


@pytest.fixture
def registry() -> LimiterRegistry:
    return LimiterRegistry()


@pytest.fixture
def settings() -> HttpSettings:
    return HttpSettings(base_url=BASE_URL)


class VirtualTime:
    """Fake time for many concurrent sleepers: time jumps to the earliest wake-up when all wait.

    `run` drives the given coroutines; whenever every task is blocked in `sleep`, the clock
    moves to the earliest wake-up and wakes those sleepers. Nothing really sleeps.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._seq, future))
        await future

    async def run(self, coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
        tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        while not all(task.done() for task in tasks):
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers:
                when, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, when)
                future.set_result(None)
        return [task.result() for task in tasks]


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()
