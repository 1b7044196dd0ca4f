"""One sandbox instance's state: options, clock, data, limits, faults, webhooks, request log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .associations import AssociationStore
from .clock import Clock, SystemClock
from .faults import FaultInjector
from .limits import RateLimiter
from .oauth import TokenIssuer
from .owners import owner_options
from .properties import OWNER_REFERENCE, PropertyRegistry
from .settings import RUNTIME_SWITCHES, SandboxOptions
from .store import Change, ObjectStore
from .webhooks import WebhookDispatcher


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    at_ms: int
    duration_ms: float
    request_bytes: int
    response_bytes: int
    fault: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "atMs": self.at_ms,
            "durationMs": round(self.duration_ms, 3),
            "requestBytes": self.request_bytes,
            "responseBytes": self.response_bytes,
            "fault": self.fault,
        }


class Sandbox:
    """Everything a running sandbox knows; the ASGI app and the admin endpoints share it."""

    def __init__(
        self,
        options: SandboxOptions,
        clock: Clock | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.registry = PropertyRegistry(self.clock.now_ms())
        self.store = ObjectStore(self.clock, self.registry)
        self.associations = AssociationStore()
        self.limiter = RateLimiter()
        self.faults = FaultInjector(options.seed)
        self.tokens = TokenIssuer()
        self.webhooks = WebhookDispatcher(lambda: self.options, self.clock, webhook_transport)
        self.request_log: list[LoggedRequest] = []
        self.store.listeners.append(self._on_change)
        self._apply_store_switches()
        self._apply_owners()

    def _on_change(self, change: Change) -> None:
        if change.kind == "deletion":
            self.associations.drop_record(change.record.object_type.name, change.record.id)
        self.webhooks.on_change(change)

    def _apply_store_switches(self) -> None:
        self.store.date_values = self.options.date_values
        self.store.enforce_required = self.options.enforce_required
        self.store.normalize = self.options.normalize_values

    def _apply_owners(self) -> None:
        """The owner properties accept exactly the active owners' ids, as in HubSpot."""
        self.registry.set_external_options(OWNER_REFERENCE, owner_options(self.options.owners))

    def update_switches(self, changes: dict[str, Any]) -> SandboxOptions:
        """Apply runtime switches atomically: all are validated before any takes effect."""
        unknown = set(changes) - RUNTIME_SWITCHES
        if unknown:
            raise ValueError(f"not a runtime switch: {', '.join(sorted(unknown))}")
        merged = {**self.options.model_dump(), **changes}
        updated = SandboxOptions.model_validate(merged)
        reseed = "seed" in changes
        self.options = updated
        if reseed:
            self.faults.reseed(updated.seed)
        self._apply_store_switches()
        self._apply_owners()
        return updated

    def reset(self) -> None:
        """Back to empty: no records, associations or custom properties; windows cleared.
        The owners are configuration, like the switches: they stay."""
        self.registry.reset(self.clock.now_ms())
        self._apply_owners()
        self.store.clear()
        self.associations.clear()
        self.limiter.reset()
        self.faults.reseed(self.options.seed)
        self.tokens.reset()
        self.webhooks.reset()
        self.request_log.clear()
