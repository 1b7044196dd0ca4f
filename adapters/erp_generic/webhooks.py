"""Verifies Standard Webhooks deliveries from an ERP and turns them into change hints.

The scheme is Standard Webhooks 1.0.0 (github.com/standard-webhooks/standard-webhooks,
`spec/standard-webhooks.md`): three headers,

* `webhook-id` — the message id, unchanged across retries (our inbox dedupe key);
* `webhook-timestamp` — integer seconds since the epoch;
* `webhook-signature` — a space-separated list of `v1,<base64 signature>` entries (several
  while the sender rotates keys); the signature is base64(HMAC-SHA256(secret, signed content))
  where the signed content is the raw bytes `{id}.{timestamp}.{body}`.

Secrets are `whsec_` followed by the base64 of the key bytes. Any configured secret matching any
`v1` signature accepts the request, so two secrets can be active while one is rotated out.
Timestamps more than `tolerance` away from the time of receipt, in either direction, are
rejected (the spec's reference library does the same; ±300 s).

The body accepted (one event per delivery; the spec's "thin payload" shape)::

    {"type": "customer.updated",              # "<entity>.<action>"
     "timestamp": "2026-01-02T03:04:05Z",     # optional: when the change happened (ISO 8601)
     "data": {"entity": "customer",           # optional if the type names it
              "id": "42"}}                    # the ERP's id of the record (string or integer)

`entity` is one of `customer`, `contact`, `sale`; an action of `deleted` marks the hint as a
deletion. Every other action (`created`, `updated`, …) is just "this record changed": the
engine re-reads the record, so the action is only a hint.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from connector.adapter import ChangeHint, WebhookRequest
from connector.errors import WebhookRejected
from connector.model import Entity

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = dt.timedelta(seconds=300)
#: The spec's recommended secret size is 24 to 64 bytes; shorter keys are refused at start-up.
MIN_SECRET_BYTES = 16


def decode_secret(secret: SecretStr) -> bytes:
    """The key bytes of a `whsec_<base64>` secret; `ValueError` (without the secret) if bad."""
    text = secret.get_secret_value()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret must hold at least {MIN_SECRET_BYTES} bytes")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one delivery (used by senders, tests and benchmarks)."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _header(headers: Mapping[str, str], name: str) -> str:
    # Starlette's headers are case-insensitive already; a plain dict from a test may not be.
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if not value:
        raise WebhookRejected(401, f"missing {name} header")
    return value


class StandardWebhooksVerifier:
    """Checks signature and timestamp on the raw body, then parses the event into a hint."""

    def __init__(
        self,
        secrets: Sequence[SecretStr],
        *,
        tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        if not secrets:
            raise ValueError("at least one webhook secret is needed")
        self._keys = tuple(decode_secret(secret) for secret in secrets)
        self._tolerance = tolerance

    def verify(self, request: WebhookRequest) -> list[ChangeHint]:
        message_id = _header(request.headers, "webhook-id")
        timestamp = self._check_timestamp(
            _header(request.headers, "webhook-timestamp"), request.received_at
        )
        self._check_signature(
            _header(request.headers, "webhook-signature"), message_id, timestamp, request.body
        )
        return [parse_event(request.body, message_id)]

    def _check_timestamp(self, raw: str, received_at: dt.datetime) -> int:
        try:
            timestamp = int(raw)
        except ValueError:
            raise WebhookRejected(401, "webhook-timestamp is not an integer") from None
        skew = abs(received_at.timestamp() - timestamp)
        if skew > self._tolerance.total_seconds():
            raise WebhookRejected(401, "webhook-timestamp outside the tolerance window")
        return timestamp

    def _check_signature(self, header: str, message_id: str, timestamp: int, body: bytes) -> None:
        offered = [
            entry.split(",", 1)[1]
            for entry in header.split(" ")
            if entry.startswith(f"{SIGNATURE_VERSION},")
        ]
        # Every (secret, signature) pair is compared in constant time; no early exit on a
        # secret so timing says nothing about which one matched.
        matched = False
        for key in self._keys:
            expected = sign(key, message_id, timestamp, body).split(",", 1)[1]
            for candidate in offered:
                matched |= hmac.compare_digest(expected.encode(), candidate.encode())
        if not matched:
            raise WebhookRejected(401, "no valid webhook signature")


def _entity(value: Any) -> Entity:
    try:
        return Entity(value)
    except ValueError:
        raise WebhookRejected(400, f"unknown entity {str(value)[:40]!r}") from None


def _occurred_at(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookRejected(400, "timestamp must be an ISO 8601 string")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise WebhookRejected(400, "timestamp is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise WebhookRejected(400, "timestamp must carry a time zone")
    return parsed.astimezone(dt.UTC)


def parse_event(body: bytes, message_id: str) -> ChangeHint:
    """The hint in a verified body (shape in the module docstring); `WebhookRejected(400)`."""
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, "body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookRejected(400, "body must be a JSON object")
    event_type = event.get("type")
    data = event.get("data")
    if not isinstance(event_type, str) or not isinstance(data, dict):
        raise WebhookRejected(400, "body needs a string 'type' and an object 'data'")
    type_entity, _, action = event_type.partition(".")
    entity = _entity(data.get("entity", type_entity))
    record_id = data.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int) or record_id == "":
        raise WebhookRejected(400, "data.id must be a non-empty string or an integer")
    return ChangeHint(
        entity=entity,
        external_id=str(record_id),
        event_id=message_id,
        occurred_at=_occurred_at(event.get("timestamp")),
        deleted=action == "deleted",
    )
