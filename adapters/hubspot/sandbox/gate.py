"""The ASGI layer in front of the API routes: latency, faults, auth, rate limits, request log.

Order: the request is logged whatever happens; latency is added first (it stands for the
network); then an injected fault may answer instead of the API; then the bearer token is
checked; then the rate limiter admits or refuses with 429. Admin routes (/_sandbox/) pass
straight through and are not logged; the OAuth token endpoint skips auth and limits.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, JsonDict, correlation_id
from .faults import STATUS, Fault
from .limits import Bucket, rate_limit_body
from .state import LoggedRequest, Sandbox

ADMIN_PREFIX = "/_sandbox"


class SandboxConnectionReset(ConnectionResetError):
    """Raised after the response head is sent so the server drops the connection mid-reply."""


class Gate:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        started = time.perf_counter()
        at_ms = sandbox.clock.now_ms()
        body = await _read_body(receive)
        outcome: dict[str, Any] = {"status": 0, "bytes": 0, "fault": None}

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
            elif message["type"] == "http.response.body":
                outcome["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self._handle(scope, replay, logged_send, outcome)
        finally:
            sandbox.request_log.append(
                LoggedRequest(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    status=outcome["status"],
                    at_ms=at_ms,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    request_bytes=len(body),
                    response_bytes=outcome["bytes"],
                    fault=outcome["fault"],
                )
            )

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, outcome: dict[str, Any]
    ) -> None:
        sandbox = self.sandbox
        options = sandbox.options
        if options.latency_ms > 0:
            await asyncio.sleep(options.latency_ms / 1000)
        targeted = not options.fault_paths or any(p in scope["path"] for p in options.fault_paths)
        fault = sandbox.faults.next(options.faults) if targeted else None
        outcome["fault"] = fault.value if fault else None
        if fault is Fault.STALL:
            await asyncio.sleep(options.stall_seconds)
        if fault is not None and fault is not Fault.CONNECTION_RESET:
            await _send_fault(send, fault, sandbox)
            return
        path: str = scope["path"]
        headers = _headers(scope)
        extra: dict[str, str] = {}
        if not path.startswith("/oauth/"):
            now = sandbox.clock.now_ms()
            oauth = False
            if options.require_auth:
                try:
                    caller = sandbox.tokens.authenticate(headers.get("authorization"), options, now)
                except ApiError as refused:
                    await send_json(send, refused.status, refused.body())
                    return
                oauth = caller.oauth
            decision = sandbox.limiter.admit(_bucket(scope, options), now, options, oauth)
            extra = decision.headers
            if not decision.allowed:
                assert decision.policy is not None
                if options.retry_after_on_429 and decision.retry_after_s is not None:
                    extra = {**extra, "Retry-After": str(decision.retry_after_s)}
                await send_json(send, 429, rate_limit_body(decision.policy, options), extra)
                return
        if fault is Fault.CONNECTION_RESET:
            await self._reset_after(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        *[(k.lower().encode(), v.encode()) for k, v in extra.items()],
                    ],
                }
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _reset_after(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The write happens, the reply is lost: the nastiest reset for an idempotent client."""
        head: Message | None = None

        async def swallow(message: Message) -> None:
            nonlocal head
            if message["type"] == "http.response.start":
                head = message

        await self.app(scope, receive, swallow)
        status = head["status"] if head else 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        raise SandboxConnectionReset("sandbox fault: connection reset before the body was sent")


def _bucket(scope: Scope, options: Any) -> Bucket:
    path: str = scope["path"]
    if scope["method"] == "POST" and path.endswith("/search"):
        return Bucket.SEARCH
    if any(path.startswith(p) for p in options.association_prefixes) and "/batch/" in path:
        return Bucket.EXEMPT
    return Bucket.BURST


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_json(
    send: Send, status: int, body: JsonDict, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await _send(send, status, payload, "application/json;charset=utf-8", headers or {})


async def _send(
    send: Send, status: int, payload: bytes, content_type: str, headers: dict[str, str]
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
        *[(k.lower().encode(), v.encode()) for k, v in headers.items()],
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _send_fault(send: Send, fault: Fault, sandbox: Sandbox) -> None:
    status = STATUS[fault]
    options = sandbox.options
    if fault is Fault.RATE_LIMITED:
        await send_json(send, 429, rate_limit_body("TEN_SECONDLY_ROLLING", options))
    elif fault is Fault.MIGRATING:
        body = _plain_error("Portal is migrating between data centres; retry later.")
        await send_json(send, 477, body, {"Retry-After": str(options.migrating_retry_after_s)})
    elif fault is Fault.LOCKED:
        await send_json(send, 423, _plain_error("The resource is locked; retry in 2 seconds."))
    elif fault is Fault.INTERNAL_ERROR:
        await send_json(send, 500, _plain_error("internal error"))
    else:
        # Gateway errors come from HubSpot's edge, not the API, so they are not JSON.
        page = f"<html><body>error code: {status}</body></html>".encode()
        await _send(send, status, page, "text/html", {})


def _plain_error(message: str) -> JsonDict:
    return {"status": "error", "message": message, "correlationId": correlation_id()}
