"""Shared fixtures for the HTTP layer tests: a fake clock whose sleeps only move time."""

from __future__ import annotations

import datetime as dt

import pytest

from connector.http import HttpMetrics, HttpSettings, LimiterRegistry

BASE_URL = "https://api.example.test"


class FakeClock:
    """Monotonic time that advances only when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def wall(self) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=self.now)


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
