"""The Standard Webhooks verifier: signatures, secrets, the time window, the body shape."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import SecretStr

from adapters.erp_generic.webhooks import StandardWebhooksVerifier, decode_secret, sign
from connector.adapter import WebhookRequest
from connector.errors import WebhookRejected
from connector.model import Entity

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def request(raw: bytes, headers: dict[str, str], at: dt.datetime = NOW) -> WebhookRequest:
    return WebhookRequest("POST", "http://127.0.0.1/webhooks/erp", headers, raw, at)


def rejection(verifier: StandardWebhooksVerifier, req: WebhookRequest) -> tuple[int, str]:
    with pytest.raises(WebhookRejected) as caught:
        verifier.verify(req)
    return caught.value.status, caught.value.reason


def test_known_vector_from_the_spec_shape() -> None:
    # Recomputed independently of `sign`: HMAC-SHA256 over "id.timestamp.body", base64.
    import base64
    import hashlib
    import hmac

    key = b"0123456789abcdef0123456789abcdef"
    expected = base64.b64encode(
        hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    ).decode()
    assert sign(key, "msg_1", 1700000000, b"{}") == f"v1,{expected}"


def test_valid_delivery_becomes_a_hint(verifier, deliver, change_body) -> None:
    body = change_body("customer", "42")
    body["timestamp"] = "2026-03-01T11:59:00+00:00"
    raw, headers = deliver("msg_1", body, at=NOW)
    [hint] = verifier.verify(request(raw, headers))
    assert hint.entity is Entity.CUSTOMER
    assert hint.external_id == "42"
    assert hint.event_id == "msg_1"
    assert hint.deleted is False
    assert hint.occurred_at == dt.datetime(2026, 3, 1, 11, 59, tzinfo=dt.UTC)


def test_deleted_action_and_integer_id(verifier, deliver) -> None:
    raw, headers = deliver("m", {"type": "sale.deleted", "data": {"id": 7}}, at=NOW)
    [hint] = verifier.verify(request(raw, headers))
    assert (hint.entity, hint.external_id, hint.deleted) == (Entity.SALE, "7", True)


def test_second_active_secret_and_several_signatures(verifier, deliver, keys) -> None:
    raw, headers = deliver(
        "m", {"type": "contact.updated", "data": {"id": "1"}}, at=NOW, key=keys["b"]
    )
    assert verifier.verify(request(raw, headers))
    # A rotating sender lists an old-key signature first and the current one after it.
    unknown = sign(b"x" * 32, "m", int(NOW.timestamp()), raw)
    headers["webhook-signature"] = f"{unknown} {headers['webhook-signature']}"
    assert verifier.verify(request(raw, headers))


def test_signature_from_an_unknown_key_is_401(verifier, deliver) -> None:
    raw, headers = deliver(
        "m", {"type": "customer.updated", "data": {"id": "1"}}, at=NOW, key=b"k" * 32
    )
    assert rejection(verifier, request(raw, headers))[0] == 401


def test_tampered_body_is_401(verifier, deliver, change_body) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=NOW)
    assert rejection(verifier, request(raw.replace(b'"1"', b'"2"'), headers))[0] == 401


def test_signed_id_is_part_of_the_signature(verifier, deliver, change_body) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=NOW)
    headers["webhook-id"] = "other"
    assert rejection(verifier, request(raw, headers))[0] == 401


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86400])
def test_outside_the_window_either_way_is_401(verifier, deliver, change_body, skew) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=NOW + dt.timedelta(seconds=skew))
    status, reason = rejection(verifier, request(raw, headers))
    assert status == 401 and "tolerance" in reason


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_inside_the_window_is_accepted(verifier, deliver, change_body, skew) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=NOW + dt.timedelta(seconds=skew))
    assert verifier.verify(request(raw, headers))


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_401(verifier, deliver, change_body, missing) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=NOW)
    del headers[missing]
    assert rejection(verifier, request(raw, headers))[0] == 401


def test_non_numeric_timestamp_and_wrong_version_are_401(verifier, deliver, change_body) -> None:
    raw, headers = deliver("m", change_body("customer", "1"), at=NOW)
    assert rejection(verifier, request(raw, {**headers, "webhook-timestamp": "soon"}))[0] == 401
    v2 = headers["webhook-signature"].replace("v1,", "v1a,")
    assert rejection(verifier, request(raw, {**headers, "webhook-signature": v2}))[0] == 401


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"type": "customer.updated"}',
        b'{"type": 5, "data": {}}',
        b'{"type": "planet.updated", "data": {"id": "1"}}',
        b'{"type": "customer.updated", "data": {"id": ""}}',
        b'{"type": "customer.updated", "data": {"id": true}}',
        b'{"type": "customer.updated", "data": {"id": [1]}}',
        b'{"type": "customer.updated", "timestamp": "yesterday", "data": {"id": "1"}}',
        b'{"type": "customer.updated", "timestamp": "2026-03-01T10:00:00", "data": {"id": "1"}}',
    ],
)
def test_malformed_but_signed_body_is_400(verifier, deliver, raw) -> None:
    body, headers = deliver("m", raw, at=NOW)
    assert rejection(verifier, request(body, headers))[0] == 400


def test_secret_checks_never_echo_the_secret() -> None:
    with pytest.raises(ValueError) as caught:
        decode_secret(SecretStr("whsec_not*base64*at-all"))
    assert "not*base64" not in str(caught.value)
    with pytest.raises(ValueError, match="at least"):
        decode_secret(SecretStr("whsec_" + "YWJj"))
    with pytest.raises(ValueError):
        StandardWebhooksVerifier([])


def test_body_is_checked_byte_for_byte(verifier, deliver) -> None:
    # Re-serialising the JSON (different spacing) must not verify: the raw bytes are signed.
    raw, headers = deliver("m", b'{"type":"customer.updated","data":{"id":"1"}}', at=NOW)
    respaced = json.dumps(json.loads(raw)).encode()
    assert respaced != raw
    assert rejection(verifier, request(respaced, headers))[0] == 401
