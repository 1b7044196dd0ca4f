"""The one error hierarchy: what went wrong decides what happens next.

Retry semantics live here, in the types, not in if-statements scattered over the code:

* `TransientError` — the call may succeed if repeated: retry with backoff.
* `RateLimitedError` — the server asked us to wait: wait as told, then retry.
* `QuotaExhaustedError` — a daily or rolling allocation is spent: stop the route until the
  reset instead of retrying.
* `AuthExpiredError` — the token is stale: refresh once, then retry.
* `RecordError` — this one record is bad (validation, conflict, a dangling reference): it goes
  to the `failures` table and the rest of the batch goes on. `retryable` says whether a later
  replay may succeed without anyone fixing the data (a parent not synced yet).
* `ConfigurationError` — nothing will work until a person fixes the configuration or the
  credentials: stop with a clear message.
* `StoreUnavailableError` (a `TransientError`) — our own state store is not answering: the run
  stops committing, waits and resumes from its last checkpoint, within a bounded time.
* `StoreRefusedError` (a `ConfigurationError`) — the store's server answered and refused the
  connection (database, user or password no longer valid): at start or mid-run, the process
  stops (exit 2) instead of waiting for an answer that will not change.
* `LeaseHeldError` / `LeaseLostError` — another process runs the route: this run does not start,
  or (having lost its lease) commits nothing more.

Messages must never contain secrets, tokens or request bodies: they reach logs, the store and
the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConnectorError(Exception):
    """Base of every error the product raises on purpose."""


class TransientError(ConnectorError):
    """Worth retrying: a timeout, a reset connection, a 5xx."""


class RateLimitedError(TransientError):
    """The server refused for rate.

    `retry_after` is how long the server asked us to wait, in seconds. When it did not say, the
    adapter's table may know how its window frees up instead: a rolling window frees a slot every
    window/limit seconds, so the first retry waits about `first_wait`, each further refusal of
    the same request doubles that, and no wait exceeds `max_wait` (by then the window has rolled
    over completely).
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        first_wait: float | None = None,
        max_wait: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.first_wait = first_wait
        self.max_wait = max_wait


class AuthExpiredError(TransientError):
    """The access token expired or was revoked; refresh it and retry once."""


class QuotaExhaustedError(ConnectorError):
    """A daily or rolling quota is used up; `resets_in` seconds until it frees (if known)."""

    def __init__(self, message: str, resets_in: float | None = None) -> None:
        super().__init__(message)
        self.resets_in = resets_in


class ConfigurationError(ConnectorError):
    """A person must fix configuration, mapping files or credentials before anything works."""


@dataclass(frozen=True)
class Problem:
    """One configuration problem with where it is (`file:line:column` or a dotted path)."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class InvalidConfiguration(ConfigurationError):
    """Every problem found in a configuration or mapping file, reported together."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} configuration {noun}:\n" + "\n".join(map(str, self.problems)))


class RecordError(ConnectorError):
    """One record could not be synced; the batch it came in goes on.

    `code` is the system's own error code or category (e.g. HubSpot `VALIDATION_ERROR`,
    Salesforce `REQUIRED_FIELD_MISSING`) so people can search for it.
    """

    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.code = code
        if retryable is not None:
            self.retryable = retryable


class AwaitingTarget(RecordError):
    """The target accepted the record but has not confirmed it yet (an ERP's import job has
    still to process its staging row). Kept as a pending failure with this code; each run of
    the route asks again first, and the answer binds the record or fails it for good."""

    retryable = True
    CODE = "AWAITING_TARGET"

    def __init__(self, message: str) -> None:
        super().__init__(message, code=self.CODE)


class MappingError(RecordError):
    """The record does not fit the mapping (a required field is empty, a date won't parse)."""


class UnresolvedReference(RecordError):
    """A reference points at a record not synced to this system yet; a replay may succeed."""

    retryable = True

    def __init__(self, entity: str, external_id: str, field: str) -> None:
        super().__init__(
            f"{field} refers to {entity} {external_id!r}, which is not synced yet",
            code="UNRESOLVED_REFERENCE",
        )
        self.entity = entity
        self.external_id = external_id
        self.field = field


class LeaseHeldError(ConnectorError):
    """Another process holds the route's lease; this run did not start."""


class LeaseLostError(ConnectorError):
    """The run's lease was taken over (or could not be renewed in time): it commits nothing more.

    Raised by the fencing check before a write, by the lease keeper, and before a push, so a
    paused process that wakes up after its lease ran out stops instead of writing twice.
    """


class LeaseLapsedError(LeaseLostError):
    """The lease ran out here before a renewal went through, and nothing says another process
    took it: this process was paused, starved, or held up by a store call that did not answer.
    It writes nothing until the store says the lease is still its own (a renewal that goes
    through); the run asks the store before it stops (`engine.service.ride_out_outages`)."""


class StoreUnavailableError(TransientError):
    """The sync-state store did not answer (connection refused or lost, or a timeout).

    A run that meets it commits nothing more; `connector sync` waits and resumes from the last
    checkpoint for `state.outage_seconds`, then exits with its own code (3).
    """


class StoreRefusedError(ConfigurationError):
    """The state store's server refused the connection for what `state.url` says: an unknown
    database, user or password, or an account that may not log in. Retrying cannot help until
    a person fixes the URL or the account; the message is the server's, never the URL."""


class UnstorableError(ConnectorError):
    """The store refused the values themselves (e.g. a NUL character, invalid Unicode).

    Not an outage: writing the same values again fails the same way, so callers answer the
    sender with a 4xx instead of asking it to retry.
    """


class WebhookRejected(ConnectorError):
    """A webhook request that must not be accepted; `status` is the 4xx to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
