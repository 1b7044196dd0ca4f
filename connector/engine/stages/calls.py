"""What a failed call to a system means for the records it was made for."""

from __future__ import annotations

from connector.errors import QuotaExhaustedError, StoreUnavailableError, TransientError


def failed_for_now(error: BaseException) -> bool:
    """A call to a system failed in a way a later retry may not (its own retries are spent).

    Not the state store being away: that stops the run (see `SyncService`).
    """
    passing = isinstance(error, TransientError | QuotaExhaustedError)
    return passing and not isinstance(error, StoreUnavailableError)
