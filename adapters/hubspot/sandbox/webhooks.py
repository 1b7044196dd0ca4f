"""Outgoing webhooks: CRM changes become HubSpot event batches, signed and retried.

Payload (hubspot.md §8.2): a JSON array of at most 100 events with eventId, subscriptionId,
portalId, appId, occurredAt (epoch ms), subscriptionType, attemptNumber (from 0), objectId,
propertyName/propertyValue on propertyChange, changeSource. Signatures (§8.4): v1 is
hex(SHA-256(secret + body)); v3 is base64(HMAC-SHA256(secret, method + uri + body + timestamp))
with the listed percent-escapes in the URI decoded. Retries (§8.3): any connection failure,
timeout or 4xx/5xx is retried, up to 10 times; a 429 `Retry-After` is honoured. Delivery runs
in background tasks and never holds up an API request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .clock import Clock
from .errors import JsonDict
from .settings import SandboxOptions
from .store import Change

UNWATCHABLE = frozenset({"hs_lastmodifieddate", "lastmodifieddate"})
_URI_DECODES = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


def decode_uri(uri: str) -> str:
    for escape, char in _URI_DECODES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + decode_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def events_for(
    change: Change, options: SandboxOptions, now_ms: int, next_event_id: Callable[[], int]
) -> list[JsonDict]:
    """The events one change fires, one per matching subscription (and changed property)."""
    singular = change.record.object_type.singular
    events: list[JsonDict] = []
    for number, sub in enumerate(options.webhooks.subscriptions, start=1):
        if sub.subscription_type != f"{singular}.{change.kind}":
            continue
        base: JsonDict = {
            "eventId": next_event_id(),
            "subscriptionId": number,
            "portalId": options.portal_id,
            "appId": options.app_id,
            "occurredAt": now_ms,
            "subscriptionType": sub.subscription_type,
            "attemptNumber": 0,
            "objectId": change.record.id,
            "changeSource": change.source,
        }
        if change.source == "CRM_UI":
            base["sourceId"] = "userId:1"
        if change.kind == "creation":
            base["changeFlag"] = "CREATED"
        if change.kind != "propertyChange":
            events.append(base)
            continue
        first = True
        for prop, value in change.changed.items():
            if prop in UNWATCHABLE or (sub.property_name not in (None, prop)):
                continue
            event = dict(base) if first else {**base, "eventId": next_event_id()}
            first = False
            event["propertyName"] = prop
            event["propertyValue"] = value
            events.append(event)
    return events


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt: int
    events: int
    status: int | None  # None when the connection failed or timed out
    error: str | None
    at_ms: int


class WebhookDispatcher:
    """Queues events, batches them, and POSTs them in the background with retries."""

    def __init__(
        self,
        options: Callable[[], SandboxOptions],
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._options = options
        self._clock = clock
        self._transport = transport
        self._pending: list[JsonDict] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None  # HubSpot's maxConcurrentRequests
        self._event_id = 100_000
        self.attempts: list[DeliveryAttempt] = []
        self.delivered: list[list[JsonDict]] = []
        self.abandoned: list[list[JsonDict]] = []

    def next_event_id(self) -> int:
        self._event_id += 1
        return self._event_id

    def on_change(self, change: Change) -> None:
        options = self._options()
        if options.webhooks.target_url is None:
            return
        events = events_for(change, options, self._clock.now_ms(), self.next_event_id)
        if events:
            self._pending.extend(events)
            self._start_flusher()

    def _start_flusher(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            return
        try:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        except RuntimeError:
            return  # no loop (a synchronous seed): events wait for the next async flush

    async def _flush(self) -> None:
        options = self._options().webhooks
        await asyncio.sleep(options.batch_window_ms / 1000)
        while self._pending:
            batch, self._pending = (
                self._pending[: options.max_batch],
                self._pending[options.max_batch :],
            )
            self._spawn(self._deliver(batch, 0))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, follow_redirects=False, trust_env=False
            )
        return self._client

    async def _deliver(self, events: list[JsonDict], attempt: int) -> None:
        options = self._options()
        hook = options.webhooks
        url = hook.target_url
        if url is None:
            return
        sent = [{**event, "attemptNumber": attempt} for event in events]
        body = json.dumps(sent, separators=(",", ":")).encode()
        timestamp = str(self._clock.now_ms())
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature": sign_v1(hook.client_secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": sign_v3(hook.client_secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "User-Agent": "HubSpot Connect 2.0 (sandbox)",
        }
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        if self._gate is None:
            self._gate = asyncio.Semaphore(hook.max_concurrent)
        try:
            async with self._gate:
                response = await self._http().post(
                    url, content=body, headers=headers, timeout=hook.timeout_s
                )
            status = response.status_code
            if status == 429 and response.headers.get("Retry-After", "").isdigit():
                retry_after = float(response.headers["Retry-After"])
        except httpx.HTTPError as failure:
            error = type(failure).__name__
        self.attempts.append(DeliveryAttempt(attempt, len(sent), status, error, int(timestamp)))
        if status is not None and 200 <= status < 300:
            self.delivered.append(sent)
            return
        if attempt >= len(hook.retry_delays_s):
            self.abandoned.append(sent)
            return
        delay = retry_after if retry_after is not None else hook.retry_delays_s[attempt]
        await asyncio.sleep(delay)
        await self._deliver(events, attempt + 1)

    async def drain(self) -> None:
        """Wait until every queued event is delivered or abandoned (for tests and shutdown)."""
        while self._pending or self._tasks or (self._flusher and not self._flusher.done()):
            if self._pending:
                self._start_flusher()
            waiting = [*self._tasks, *([self._flusher] if self._flusher else [])]
            await asyncio.gather(*waiting, return_exceptions=True)

    def reset(self) -> None:
        self._pending.clear()
        for task in [*self._tasks, *([self._flusher] if self._flusher else [])]:
            task.cancel()
        self.attempts.clear()
        self.delivered.clear()
        self.abandoned.clear()

    async def aclose(self) -> None:
        for task in [*self._tasks, *([self._flusher] if self._flusher else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
