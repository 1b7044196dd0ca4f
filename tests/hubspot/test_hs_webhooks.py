"""Webhook verification against signatures computed here, independently, from hubspot.md §8.4."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr

from adapters.hubspot.webhooks import HubSpotWebhookVerifier
from connector.adapter import WebhookRequest
from connector.errors import WebhookRejected
from connector.model import Entity

URL = "https://connector.example.com/webhooks/hubspot"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
NOW_MS = 1772366400000  # NOW in epoch milliseconds
SECRETS = [SecretStr("current-secret"), SecretStr("previous-secret")]
BODY = json.dumps(
    [
        {"eventId": 1, "subscriptionId": 25, "portalId": 33, "appId": 1160452,
         "occurredAt": NOW_MS - 1000, "subscriptionType": "contact.propertyChange",
         "attemptNumber": 0, "objectId": 1246965, "propertyName": "lifecyclestage",
         "propertyValue": "subscriber", "changeSource": "CRM_UI"},
        {"eventId": 2, "subscriptionId": 22, "portalId": 33, "appId": 1160452,
         "occurredAt": NOW_MS - 900, "subscriptionType": "deal.deletion", "attemptNumber": 0,
         "objectId": 1246978, "changeSource": "IMPORT"},
        {"eventId": 3, "portalId": 33, "occurredAt": NOW_MS, "subscriptionType": "company.merge",
         "objectId": 10, "primaryObjectId": 10, "newObjectId": 10, "mergedObjectIds": [10, 11]},
        {"eventId": 4, "portalId": 33, "occurredAt": NOW_MS,
         "subscriptionType": "line_item.creation", "objectId": 5},
    ],
    separators=(",", ":"),
).encode()  # fmt: skip


def v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = f"{method}{uri}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.digest(secret.encode(), source, "sha256")).decode()


def v2_signature(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.new("sha256", f"{secret}{method}{uri}".encode() + body).hexdigest()


def v1_signature(secret: str, body: bytes) -> str:
    return hashlib.new("sha256", secret.encode() + body).hexdigest()


def request(headers: dict[str, str], *, url: str = URL, body: bytes = BODY) -> WebhookRequest:
    return WebhookRequest("POST", url, headers, body, NOW)


def verifier(**kw) -> HubSpotWebhookVerifier:
    return HubSpotWebhookVerifier(SECRETS, **kw)


def v3_headers(secret: str, *, timestamp_ms: int = NOW_MS, uri: str = URL) -> dict[str, str]:
    ts = str(timestamp_ms)
    return {
        "X-HubSpot-Signature-v3": v3_signature(secret, "POST", uri, BODY, ts),
        "X-HubSpot-Request-Timestamp": ts,
    }


def test_v3_signature_verifies_and_events_become_hints():
    hints = verifier().verify(request(v3_headers("current-secret")))
    summary = [(h.entity, h.external_id, h.deleted) for h in hints]
    assert summary == [
        (Entity.CONTACT, "1246965", False),
        (Entity.SALE, "1246978", True),
        (Entity.CUSTOMER, "10", False),
        (Entity.CUSTOMER, "11", True),  # merged away
    ]
    assert hints[0].occurred_at == dt.datetime.fromtimestamp((NOW_MS - 1000) / 1000, dt.UTC)
    assert hints[0].event_id == f"33:contact.propertyChange:1246965:lifecyclestage:{NOW_MS - 1000}"


def test_second_active_secret_is_accepted():
    assert verifier().verify(request(v3_headers("previous-secret")))


def test_wrong_secret_is_rejected_with_401():
    with pytest.raises(WebhookRejected) as caught:
        verifier().verify(request(v3_headers("someone-else")))
    assert caught.value.status == 401


@pytest.mark.parametrize("offset_ms", [-300_001, 300_001])
def test_timestamp_outside_five_minutes_is_rejected(offset_ms: int):
    with pytest.raises(WebhookRejected, match="5-minute") as caught:
        verifier().verify(request(v3_headers("current-secret", timestamp_ms=NOW_MS + offset_ms)))
    assert caught.value.status == 401


def test_timestamp_just_inside_the_window_is_accepted():
    assert verifier().verify(request(v3_headers("current-secret", timestamp_ms=NOW_MS - 299_000)))


def test_v3_signs_the_uri_with_the_documented_escapes_decoded():
    raw = URL + "?portal=33%3Aeu&x=%28a%29"
    signed_over = URL + "?portal=33:eu&x=(a)"
    assert verifier().verify(request(v3_headers("current-secret", uri=signed_over), url=raw))


def test_a_modified_body_fails_even_with_a_valid_looking_signature():
    headers = v3_headers("current-secret")
    with pytest.raises(WebhookRejected):
        verifier().verify(request(headers, body=BODY.replace(b"subscriber", b"customer")))


def test_v2_signature_verifies():
    headers = {
        "X-HubSpot-Signature": v2_signature("current-secret", "POST", URL, BODY),
        "X-HubSpot-Signature-Version": "v2",
    }
    assert len(verifier().verify(request(headers))) == 4


def test_v1_signature_verifies_with_either_secret():
    for secret in ("current-secret", "previous-secret"):
        headers = {
            "X-HubSpot-Signature": v1_signature(secret, BODY),
            "X-HubSpot-Signature-Version": "v1",
        }
        assert verifier().verify(request(headers))


def test_v1_can_be_switched_off():
    headers = {"X-HubSpot-Signature": v1_signature("current-secret", BODY)}
    with pytest.raises(WebhookRejected, match="v1"):
        verifier(versions=("v3",)).verify(request(headers))


def test_missing_signature_and_bad_bodies():
    with pytest.raises(WebhookRejected) as caught:
        verifier().verify(request({}))
    assert caught.value.status == 401
    body = b'{"not": "an array"}'
    headers = {"X-HubSpot-Signature": v1_signature("current-secret", body)}
    with pytest.raises(WebhookRejected) as caught:
        verifier().verify(request(headers, body=body))
    assert caught.value.status == 400
    with pytest.raises(WebhookRejected) as caught:
        verifier(max_body_bytes=10).verify(request(v3_headers("current-secret")))
    assert caught.value.status == 413


def test_no_configured_secret_rejects_everything():
    with pytest.raises(WebhookRejected):
        HubSpotWebhookVerifier([]).verify(request(v3_headers("current-secret")))
