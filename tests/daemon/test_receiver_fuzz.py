"""Schemathesis against the receiver's own OpenAPI document: no input earns a 5xx.

Generated requests hit every operation (webhooks with arbitrary system names, bodies and
signature headers, health, readiness, metrics) on an app with a real SQLite inbox; the check is
that the answer is never a server error and that nothing unverified reaches the inbox. A second,
hypothesis-only fuzz goes beyond the document: raw bytes, any content type, odd headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode

from adapters.erp_generic.webhooks import StandardWebhooksVerifier
from connector.daemon.app import ReceiverDeps, create_app
from connector.state.store import StateStore, open_store


@pytest.fixture
def receiver_store(tmp_path: Path) -> Iterator[StateStore]:
    store = open_store(f"sqlite:///{tmp_path / 'fuzz.db'}", tmp_path)
    yield store
    store.close()


@pytest.fixture
def receiver_schema(receiver_store: StateStore, verifier: StandardWebhooksVerifier):
    deps = ReceiverDeps(store=receiver_store, verifiers={"erp": verifier}, max_body_bytes=4096)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(deps))


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_no_input_gets_a_server_error(receiver_schema, receiver_store: StateStore) -> None:
    # schemathesis' pytest plugin does not load under pytest 9, so its strategies are driven
    # through hypothesis directly; the generated cases are the same.
    seen: set[str] = set()
    calls: list[int] = []
    for operation in operations(receiver_schema):

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:
            # Aim a share of the generated deliveries at the one configured system.
            webhook = case.path == "/webhooks/{system}" and case.path_parameters is not None
            if webhook and len(str(case.body)) % 2:
                case.path_parameters["system"] = "erp"
            response = case.call()
            assert response.status_code < 500, (case.path, response.status_code, response.text)
            if case.path == "/webhooks/{system}":
                assert response.status_code in {400, 401, 404, 405, 413, 415, 422}
            seen.add(f"{case.method} {case.path}")
            calls.append(response.status_code)

        check()
    assert receiver_store.inbox_depth() == 0  # nothing was signed, so nothing was stored
    assert len(calls) > 60 and {401, 404} <= set(calls), sorted(set(calls))
    assert seen == {
        "POST /webhooks/{system}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    }


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@given(
    body=st.binary(max_size=300) | st.just(b'{"type":"customer.updated","data":{"id":"1"}}'),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x+json"])
    | HEADER_TEXT,
    webhook_id=HEADER_TEXT,
    timestamp=st.integers(min_value=-(2**40), max_value=2**40).map(str) | HEADER_TEXT,
    signature=HEADER_TEXT | st.just("v1,AAAA v1,==== v2,x"),
    system=st.sampled_from(["erp", "nope", "erp%2F..", "%00"]),
)
@settings(max_examples=150, deadline=None, database=None, derandomize=True)
def test_arbitrary_bytes_and_headers_are_4xx(
    body, content_type, webhook_id, timestamp, signature, system
) -> None:
    # Beyond the document: raw bytes, any content type, and hand-made signature headers.
    headers = {
        "content-type": content_type,
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }

    async def send() -> int:
        transport = httpx.ASGITransport(app=FUZZ_APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            response = await http.post(f"/webhooks/{system}", content=body, headers=headers)
            return response.status_code

    status = asyncio.run(send())
    assert 400 <= status < 500, status


class _NoStore:
    def enqueue_new_events(self, events):
        raise AssertionError("an unsigned request reached the inbox")


FUZZ_APP = create_app(
    ReceiverDeps(
        store=_NoStore(),  # type: ignore[arg-type]
        verifiers={"erp": StandardWebhooksVerifier([SecretStr("whsec_" + "A" * 44)])},
        max_body_bytes=256,
    )
)
