"""`RunLease`: a run's hold on its route — renewed in the background, checked before every write.

A run takes its route's lease (with a fencing token, see `connector.state.leases`) and then:

* renews it every third of its time to live, in the background, so a run waiting on a slow
  CRM call keeps it; each renewal is also the run's heartbeat in `runs`;
* knows locally until when the lease is good (the monotonic time of the last renewal that
  went through, plus the time to live, less a margin). `check()` — called before every push
  and by the fenced store before every transaction — raises `LeaseLostError` once that time
  has passed or a renewal found the lease taken: a process that was frozen (SIGSTOP, a VM
  migration, a long GC pause) and wakes after its lease ran out stops before its next write;
* cancels the run it guards as soon as a renewal finds the lease taken over. A lease that
  lapsed because the store stopped answering is not lost yet: `check()` then says the store
  is unavailable, the run waits the outage out, and reclaims the lease if nobody took it
  meanwhile (same holder, same token). A renewal the store's server *refused* (a password
  rotated, a database dropped: `StoreRefusedError`) is no outage: `check()` raises it, and the
  run stops for good.

The store-side fence is what makes this safe; the local check is what makes it prompt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

from connector.errors import (
    LeaseLapsedError,
    LeaseLostError,
    StoreRefusedError,
    StoreUnavailableError,
)
from connector.state.store import Lease, StateStore

log = logging.getLogger("connector.engine")

Monotonic = Callable[[], float]


class RunLease:
    def __init__(
        self,
        store: StateStore,
        lease: Lease,
        ttl: dt.timedelta,
        *,
        run_id: int | None = None,
        taken_at: float | None = None,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self.store = store
        self.lease = lease
        self.ttl = ttl
        self.run_id = run_id
        self._monotonic = monotonic
        seconds = ttl.total_seconds()
        # Margin for the store's clock running a little behind ours.
        self._margin = min(1.0, seconds / 10)
        start = taken_at if taken_at is not None else monotonic()
        self.valid_until = start + seconds - self._margin
        #: A renewal found the lease held by someone else (or with a newer token).
        self.taken_over = False
        #: The last renewal did not get an answer from the store.
        self.store_failing = False
        #: A renewal's connection was refused by the store's server: nothing will work now.
        self.refused: StoreRefusedError | None = None
        #: True once the keeper cancelled the run it guards.
        self.cancelled_owner = False
        #: The run is finishing: the keeper must not cancel it any more.
        self.released = False

    @property
    def renew_every(self) -> float:
        return self.ttl.total_seconds() / 3

    def lapsed(self) -> bool:
        return self._monotonic() >= self.valid_until

    def problem(self) -> str | None:
        """Why the lease cannot be trusted now, or None while it is ours."""
        if self.taken_over:
            return f"another process took over the lease {self.lease.name!r}"
        if self.lapsed():
            return (
                f"the lease {self.lease.name!r} ran out before it could be renewed "
                "(the process was paused, or the store did not answer)"
            )
        return None

    def check(self) -> None:
        """Raise unless the lease is known to be still ours here and now.

        `LeaseLostError` when it was taken over; `LeaseLapsedError` (one) when it ran out here
        before a renewal could say either way (the process was paused or starved);
        `StoreUnavailableError` when it ran out because the store did not answer renewals;
        `StoreRefusedError` once the store's server refused a renewal's connection.
        """
        if self.refused is not None:
            raise StoreRefusedError(str(self.refused))
        problem = self.problem()
        if problem is None:
            return
        if self.taken_over:
            raise LeaseLostError(problem)
        if self.store_failing:
            raise StoreUnavailableError(f"{problem}: the state store is not answering")
        # No renewal has failed yet: one may be on its way, or the loop that runs them was held
        # (a store call on it that hangs, a starved or paused process). Only the store knows.
        raise LeaseLapsedError(problem)

    async def renew(self) -> bool:
        """One renewal; False when it did not go through (taken over, or no answer in time)."""
        started = self._monotonic()
        call = asyncio.ensure_future(
            asyncio.to_thread(self.store.renew_lease, self.lease, self.ttl, run_id=self.run_id)
        )
        # `asyncio.wait`, not `wait_for`: on 3.11 `wait_for` can swallow a cancellation that
        # arrives as the call completes, and the keeper must stop when it is cancelled.
        try:
            await asyncio.wait({call}, timeout=max(0.5, self.valid_until - started))
        finally:
            # A call still running finishes in its thread; nobody waits for its outcome.
            call.add_done_callback(_ignore_outcome)
        if not call.done() or call.exception() is not None:
            error = call.exception() if call.done() else TimeoutError()
            self.store_failing = True
            if isinstance(error, StoreRefusedError):
                self.refused = error
            log.warning(
                "lease renewal failed",
                extra={"lease": self.lease.name, "error": type(error).__name__},
            )
            return False
        renewed = call.result()
        self.store_failing = False
        if renewed:
            self.valid_until = started + self.ttl.total_seconds() - self._margin
        else:
            self.taken_over = True
        return renewed

    async def keep(self, owner: asyncio.Task[object] | None) -> None:
        """Renew until cancelled; cancel `owner` once the lease is found taken over."""
        while True:
            left = self.valid_until - self._monotonic()
            await asyncio.sleep(max(0.0, min(self.renew_every, left)))
            renewed = await self.renew()
            if self.released:
                return
            if self.taken_over:
                log.warning(
                    "stopping the run: lease lost",
                    extra={"lease": self.lease.name, "reason": self.problem()},
                )
                if owner is not None and not owner.done():
                    self.cancelled_owner = True
                    owner.cancel()
                return
            if not renewed:
                await asyncio.sleep(min(1.0, self.renew_every))


def _ignore_outcome(call: asyncio.Future[bool]) -> None:
    if not call.cancelled():
        call.exception()  # retrieved, so asyncio does not log it as never retrieved
