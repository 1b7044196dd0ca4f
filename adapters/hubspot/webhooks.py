"""Verifies HubSpot webhook requests and turns their event arrays into change hints.

The algorithms are those of hubspot.md §8.4 (HubSpot's request-validation docs and the v3
changelog):

* v3: `X-HubSpot-Signature-v3 = base64(HMAC-SHA256(secret, method + uri + body + timestamp))`,
  with `X-HubSpot-Request-Timestamp` (epoch ms) no more than 5 minutes old. The URI is the full
  URL with a fixed set of escapes decoded; that table was seen only in a secondary source, so the
  decoded and the raw URL are both tried.
* v2: `hex(SHA-256(secret + method + uri + body))`; v1: `hex(SHA-256(secret + body))`. Neither
  carries a timestamp, so neither can be replay-checked: they are accepted only when configured.

Signatures are checked on the raw body bytes, against every configured client secret (so a
secret can be rotated with no gap), in constant time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from connector.adapter import ChangeHint, WebhookRequest
from connector.errors import WebhookRejected
from connector.model import Entity

# requestUri decoding for v3 (request-validation docs, as quoted in hubspot.md §8.4 step 2).
_V3_DECODE = {
    "3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
    "27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";",
}  # fmt: skip
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")

_ENTITY_BY_PREFIX: Mapping[str, Entity] = {
    "company": Entity.CUSTOMER,
    "contact": Entity.CONTACT,
    "deal": Entity.SALE,
}
_ENTITY_BY_TYPE_ID: Mapping[str, Entity] = {
    "0-2": Entity.CUSTOMER,
    "0-1": Entity.CONTACT,
    "0-3": Entity.SALE,
}
_DELETING = frozenset({"deletion", "privacyDeletion"})


def decode_v3_uri(uri: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return _V3_DECODE.get(match.group(1).upper(), match.group(0))

    return _ESCAPE.sub(replace, uri)


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _matches(candidates: Iterable[str], received: str) -> bool:
    # Evaluate every candidate (no early exit) so timing says nothing about which secret matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), received.encode())
    return matched


class HubSpotWebhookVerifier:
    """A `WebhookVerifier` for one HubSpot app's webhooks."""

    def __init__(
        self,
        secrets: Sequence[SecretStr],
        *,
        versions: Collection[str] = ("v3", "v2", "v1"),
        max_age_seconds: float = 300.0,
        max_body_bytes: int = 1_000_000,
    ) -> None:
        self._secrets = [s for s in secrets if s.get_secret_value()]
        self._versions = frozenset(versions)
        self._max_age_ms = max_age_seconds * 1000
        self._max_body = max_body_bytes

    def verify(self, request: WebhookRequest) -> list[ChangeHint]:
        if len(request.body) > self._max_body:
            raise WebhookRejected(413, "webhook body too large")
        if not self._secrets:
            raise WebhookRejected(401, "no HubSpot client secret is configured")
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._check_signature(request, headers)
        return parse_events(request.body)

    def _check_signature(self, request: WebhookRequest, headers: Mapping[str, str]) -> None:
        method = request.method.upper()
        secrets = [s.get_secret_value() for s in self._secrets]
        v3 = headers.get("x-hubspot-signature-v3")
        if v3 is not None and "v3" in self._versions:
            timestamp = headers.get("x-hubspot-request-timestamp", "").strip()
            if not timestamp.isdigit():
                raise WebhookRejected(401, "missing or malformed X-HubSpot-Request-Timestamp")
            received_ms = request.received_at.timestamp() * 1000
            if abs(received_ms - int(timestamp)) > self._max_age_ms:
                raise WebhookRejected(401, "webhook timestamp outside the 5-minute window")
            uris = dict.fromkeys([decode_v3_uri(request.url), request.url])
            candidates = [
                sign_v3(secret, method, uri, request.body, timestamp)
                for secret in secrets
                for uri in uris
            ]
            if _matches(candidates, v3.strip()):
                return
            raise WebhookRejected(401, "invalid v3 webhook signature")
        signature = headers.get("x-hubspot-signature")
        version = headers.get("x-hubspot-signature-version", "v1").strip().lower()
        if signature is None or version not in {"v1", "v2"}:
            raise WebhookRejected(401, "missing HubSpot webhook signature")
        if version not in self._versions:
            raise WebhookRejected(401, f"{version} webhook signatures are not accepted")
        if version == "v1":
            candidates = [sign_v1(secret, request.body) for secret in secrets]
        else:
            candidates = [sign_v2(secret, method, request.url, request.body) for secret in secrets]
        if not _matches(candidates, signature.strip().lower()):
            raise WebhookRejected(401, f"invalid {version} webhook signature")


def _event_entity(event: Mapping[str, Any], kind: str) -> Entity | None:
    prefix = kind.split(".", 1)[0]
    if prefix == "object":
        return _ENTITY_BY_TYPE_ID.get(str(event.get("objectTypeId")))
    # Line items are not an entity of their own: their deal is re-read by a deal's own event.
    return _ENTITY_BY_PREFIX.get(prefix)


def _occurred(event: Mapping[str, Any]) -> dt.datetime | None:
    value = event.get("occurredAt")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    return None


def _event_id(event: Mapping[str, Any], kind: str, object_id: str) -> str:
    # "eventId is not guaranteed to be unique": identify an event by what it says instead.
    parts = (
        event.get("portalId"),
        kind,
        object_id,
        event.get("propertyName"),
        event.get("occurredAt"),
    )
    return ":".join("" if p is None else str(p) for p in parts)


def parse_events(body: bytes) -> list[ChangeHint]:
    """HubSpot's JSON event array → change hints (unknown event types are ignored)."""
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "webhook body is not JSON") from None
    if not isinstance(events, list):
        raise WebhookRejected(400, "webhook body is not a JSON array of events")
    hints: list[ChangeHint] = []
    for event in events:
        if not isinstance(event, dict):
            raise WebhookRejected(400, "webhook event is not a JSON object")
        kind = str(event.get("subscriptionType") or event.get("eventType") or "")
        entity = _event_entity(event, kind)
        if entity is None or "objectId" not in event:
            continue
        action = kind.split(".", 1)[1] if "." in kind else ""
        occurred = _occurred(event)
        object_id = str(event["objectId"])
        hints.append(
            ChangeHint(
                entity=entity,
                external_id=object_id,
                event_id=_event_id(event, kind, object_id),
                occurred_at=occurred,
                deleted=action in _DELETING,
            )
        )
        if action == "merge":
            survivor = str(event.get("newObjectId") or event.get("primaryObjectId") or object_id)
            for merged in event.get("mergedObjectIds") or []:
                if str(merged) != survivor:
                    hints.append(
                        ChangeHint(
                            entity=entity,
                            external_id=str(merged),
                            event_id=_event_id(event, kind, str(merged)),
                            occurred_at=occurred,
                            deleted=True,
                        )
                    )
            if survivor != object_id:
                hints.append(
                    ChangeHint(entity, survivor, _event_id(event, kind, survivor), occurred)
                )
    return hints
