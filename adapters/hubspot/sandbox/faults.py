"""Injected faults, drawn from a seeded generator so a run can be replayed exactly.

Each API request draws one number; the configured rates split [0, 1) into consecutive ranges in
a fixed order, so the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import random
from enum import Enum

from .settings import FaultRates


class Fault(Enum):
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    BAD_GATEWAY = "bad_gateway"
    UNAVAILABLE = "unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"
    ORIGIN_TIMEOUT = "origin_timeout"
    LOCKED = "locked"
    MIGRATING = "migrating"
    CONNECTION_RESET = "connection_reset"
    STALL = "stall"


STATUS = {
    Fault.RATE_LIMITED: 429,
    Fault.INTERNAL_ERROR: 500,
    Fault.BAD_GATEWAY: 502,
    Fault.UNAVAILABLE: 503,
    Fault.GATEWAY_TIMEOUT: 504,
    Fault.ORIGIN_TIMEOUT: 524,
    Fault.LOCKED: 423,
    Fault.MIGRATING: 477,
    Fault.STALL: 524,  # what the edge answers after 100 s without an origin reply (§6)
}


def pick_fault(rates: FaultRates, draw: float) -> Fault | None:
    """The fault whose range holds `draw` (a number in [0, 1)), or None."""
    bound = 0.0
    for fault in Fault:
        bound += float(getattr(rates, fault.value))
        if draw < bound:
            return fault
    return None


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def next(self, rates: FaultRates) -> Fault | None:
        if not any(rates.model_dump().values()):
            return None  # draw nothing, so turning faults on later starts from the seed
        return pick_fault(rates, self._random.random())
