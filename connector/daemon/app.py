"""The HTTP face of the daemon: the webhook receiver plus health, readiness and metrics.

`POST /webhooks/{system}` follows the receiver checklist of the reliability notes (§1.2):
the body is capped before and while it is read (413), the content type must be JSON (415),
the system's own verifier checks signature and timestamp on the raw bytes (401) and parses the
events (400), and the verified events are committed to the inbox before the 202 goes out. A
redelivery is answered 202 too and stored no second time (the inbox is unique on
(source, event id)). Processing happens later, in the inbox worker. Bad input is always a 4xx;
a 5xx (503) only means the inbox could not be written, so the sender should retry.

An id the store cannot hold is bad input, not an outage: an event or record id with a NUL
character (PostgreSQL text cannot hold one), a lone surrogate (not valid Unicode, so no UTF-8
database can store it) or more than `MAX_ID_LENGTH` characters gets 400 naming the problem.
We reject rather than store an escaped form: such an id names no record any system could
return, so there is nothing to sync, and a 503 would only make the sender redeliver it for
days. Should the store still refuse a value, the request is answered 400 too, and the requests
committed together with it are written again without it (see `ingest`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.adapter import AcknowledgingVerifier, ChangeHint, WebhookRequest, WebhookVerifier
from connector.daemon.ingest import GroupCommitter
from connector.daemon.logging import log_event
from connector.daemon.metrics import DaemonMetrics, InboxGauges
from connector.errors import UnstorableError, WebhookRejected
from connector.http.telemetry import METRICS as HTTP_METRICS
from connector.http.telemetry import render_prometheus
from connector.timestamps import WallClock, utc_now

LOGGER = logging.getLogger("connector.daemon.webhooks")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: The inbox columns' width; longer ids would fail in the database instead of as a 400.
MAX_ID_LENGTH = 255
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: How long `/readyz` waits for the store: well inside the 2 s a probe should get its answer.
READY_TIMEOUT_SECONDS = 1.5
METRICS_RENDER_ATTEMPTS = 3
WEBHOOK_PREFIX = "/webhooks/"
#: Group commits in flight at once on PostgreSQL (bench/webhooks.py, daemon case); MariaDB
#: takes the same (its row locks let them run side by side; not measured apart).
POSTGRES_WRITERS = 4


class InboxStore(Protocol):
    """The part of `StateStore` the receiver uses."""

    def enqueue_new_events(self, events: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]: ...

    def ping(self) -> bool: ...

    def migrations_current(self) -> bool: ...

    def inbox_stats(self) -> tuple[dict[str, int], dt.datetime | None]: ...


@dataclass
class ReceiverDeps:
    """Everything the app needs; `create_app` builds it from a runtime when given one."""

    store: InboxStore
    verifiers: Mapping[str, WebhookVerifier]
    metrics: DaemonMetrics = field(default_factory=DaemonMetrics)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    clock: WallClock = utc_now
    #: Called after new events are committed (wakes an inbox worker in the same process).
    on_enqueued: Callable[[], None] | None = None
    #: Per unhealthy system, what is wrong (`health.SystemHealth`); `/readyz` reports it.
    health: Callable[[], Awaitable[dict[str, list[str]]]] | None = None


class RuntimeLike(Protocol):
    @property
    def store(self) -> Any: ...

    @property
    def adapters(self) -> Mapping[str, Any]: ...

    @property
    def config(self) -> Any: ...


def deps_from_runtime(runtime: RuntimeLike, metrics: DaemonMetrics | None = None) -> ReceiverDeps:
    """Verifiers from every opened adapter that has one; limits from `config.webhooks`."""
    verifiers: dict[str, WebhookVerifier] = {}
    for name, adapter in runtime.adapters.items():
        verifier = adapter.webhook_verifier()
        if verifier is not None:
            verifiers[name] = verifier
    from connector.daemon.health import SystemHealth

    health = SystemHealth(runtime.adapters, runtime.config.entities_by_system())
    return ReceiverDeps(
        store=runtime.store,
        verifiers=verifiers,
        metrics=metrics or DaemonMetrics(),
        max_body_bytes=runtime.config.webhooks.max_body_bytes,
        health=health.problems,
    )


class Accepted(BaseModel):
    """The events of the delivery are durably in the inbox."""

    accepted: int
    duplicates: int


class Problem(BaseModel):
    detail: str


class Status(BaseModel):
    status: str
    detail: str | None = None


_WEBHOOK_HEADERS = [
    {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
    for name in (
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-HubSpot-Signature-v3",
        "X-HubSpot-Request-Timestamp",
    )
]


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise WebhookRejected(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise WebhookRejected(413, f"body larger than {limit} bytes")
    # Counting while reading catches chunked bodies and senders that understate the length.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def unstorable(value: str) -> str | None:
    """Why the store cannot hold `value` as an id, or None if it can."""
    if not value or len(value) > MAX_ID_LENGTH:
        return f"must be 1 to {MAX_ID_LENGTH} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


def _inbox_rows(system: str, hints: Sequence[ChangeHint]) -> list[dict[str, Any]]:
    rows = []
    for number, hint in enumerate(hints, start=1):
        for what, value in (("event id", hint.event_id), ("record id", hint.external_id)):
            problem = unstorable(value)
            if problem is not None:
                where = f" of event {number}" if len(hints) > 1 else ""
                raise WebhookRejected(400, f"{what}{where} {problem}")
        if hint.occurred_at is not None and hint.occurred_at.tzinfo is None:
            raise WebhookRejected(400, "event time has no time zone")
        rows.append(
            {
                "source": system,
                "event_id": hint.event_id,
                "entity": str(hint.entity),
                "external_id": hint.external_id,
                "deleted": hint.deleted,
                "occurred_at": hint.occurred_at,
            }
        )
    return rows


WebhookHandler = Callable[[str, Request], Awaitable[Response]]


class _StoreFailed(Exception):
    """The inbox could not be written (not the delivery's fault): answered 503."""

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


class WebhookFastPath:
    """ASGI middleware: `POST /webhooks/{system}` straight to the handler.

    A py-spy profile of bench/webhooks.py put FastAPI's router, request wrapper and dependency
    solving at about half the receiver's CPU per delivery, and the handler itself at a sixth.
    Under load that CPU is latency (the daemon's worker shares the interpreter), so deliveries
    take this short way; everything else, and anything the handler raises, still goes through
    the app's full stack (this middleware sits inside its error handling).
    """

    def __init__(self, app: ASGIApp, handle: WebhookHandler) -> None:
        self.app = app
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            system = path[len(WEBHOOK_PREFIX) :] if path.startswith(WEBHOOK_PREFIX) else ""
            if system and "/" not in system:
                response = await self.handle(system, Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _writers_for(store: InboxStore) -> int:
    """Concurrent inbox writes: several on PostgreSQL and MariaDB (row locks), one on SQLite
    (a single write lock)."""
    engine = getattr(store, "engine", None)
    dialect = getattr(getattr(engine, "dialect", None), "name", "")
    return POSTGRES_WRITERS if dialect in ("postgresql", "mysql", "mariadb") else 1


def create_app(source: ReceiverDeps | RuntimeLike) -> FastAPI:
    """The ASGI app; give it `ReceiverDeps` in tests or an opened runtime in the daemon."""
    deps = source if isinstance(source, ReceiverDeps) else deps_from_runtime(source)
    committer = GroupCommitter(
        lambda rows: deps.store.enqueue_new_events(rows), writers=_writers_for(deps.store)
    )
    app = FastAPI(
        title="connector webhook receiver",
        version="1",
        description="Receives signed change notifications and queues them for syncing.",
    )
    app.state.deps = deps

    async def verify(system: str, request: Request) -> tuple[list[dict[str, Any]], int]:
        verifier = deps.verifiers.get(system)
        if verifier is None:
            raise WebhookRejected(404, "no webhook receiver for this system")
        media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if isinstance(verifier, AcknowledgingVerifier):
            if media not in verifier.content_types:
                allowed = ", ".join(sorted(verifier.content_types))
                raise WebhookRejected(415, f"content type must be one of {allowed}")
        elif not _is_json(request.headers.get("content-type")):
            raise WebhookRejected(415, "content type must be application/json")
        body = await _read_capped(request, deps.max_body_bytes)
        raw = WebhookRequest(
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=body,
            received_at=deps.clock(),
        )
        try:
            hints = verifier.verify(raw)
        except WebhookRejected:
            raise
        except Exception as error:  # a verifier tripping over odd input is still bad input
            log_event(
                LOGGER,
                "webhook.verifier_error",
                logging.ERROR,
                system=system,
                error_class=type(error).__name__,
            )
            raise WebhookRejected(400, "request could not be verified") from None
        rows = _inbox_rows(system, hints)
        return rows, len(rows)

    async def handle_webhook(system: str, request: Request) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            try:
                rows, total = await verify(system, request)
                try:
                    new = await committer.submit(rows) if rows else 0
                except UnstorableError as refused:
                    raise WebhookRejected(400, str(refused)) from None
                except Exception as error:
                    raise _StoreFailed(error) from error
            except WebhookRejected as rejected:
                status = rejected.status if 400 <= rejected.status < 500 else 400
                log_event(
                    LOGGER,
                    "webhook.rejected",
                    logging.WARNING,
                    system=system,
                    status=status,
                    reason=rejected.reason,
                )
                return JSONResponse({"detail": rejected.reason}, status_code=status)
            except _StoreFailed as failed:
                status = 503
                log_event(
                    LOGGER,
                    "webhook.store_failed",
                    logging.ERROR,
                    system=system,
                    error_class=type(failed.error).__name__,
                )
                return JSONResponse(
                    {"detail": "events could not be stored; retry later"},
                    status_code=503,
                    headers={"Retry-After": "30"},
                )
            deps.metrics.webhook_stored(system, new, total - new)
            if new and deps.on_enqueued is not None:
                deps.on_enqueued()
            verifier = deps.verifiers[system]
            if isinstance(verifier, AcknowledgingVerifier):
                status = 200  # the sender's own acknowledgement, sent only after the commit
                body, media_type = verifier.acknowledgement()
                return Response(body, status_code=200, media_type=media_type)
            status = 202
            return JSONResponse({"accepted": new, "duplicates": total - new}, status_code=202)
        finally:
            # Unknown system names are folded into one label so garbage cannot grow the series.
            label = system if system in deps.verifiers else "unknown"
            deps.metrics.webhook_request(label, status, time.perf_counter() - started)

    @app.post(
        "/webhooks/{system}",
        status_code=202,
        response_model=Accepted,
        responses={
            400: {"model": Problem, "description": "Malformed body or headers."},
            401: {"model": Problem, "description": "Bad signature or stale timestamp."},
            404: {"model": Problem, "description": "No webhook receiver for this system."},
            413: {"model": Problem, "description": "Body over the size limit."},
            415: {"model": Problem, "description": "Content type is not JSON."},
            503: {"model": Problem, "description": "The inbox could not be written; retry."},
        },
        openapi_extra={
            "parameters": _WEBHOOK_HEADERS,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {}}},
            },
        },
    )
    async def receive_webhook(system: str, request: Request) -> Response:
        """Verify a delivery from `system` and store its events in the inbox."""
        return await handle_webhook(system, request)

    # Deliveries skip FastAPI's routing and dependency layers, which cost more CPU than
    # verifying and storing a delivery does; the route above documents the same handler.
    app.add_middleware(WebhookFastPath, handle=handle_webhook)

    @app.get("/healthz", response_model=Status)
    async def healthz() -> Status:
        """The process is up and serving."""
        return Status(status="ok")

    @app.get("/readyz", response_model=Status, responses={503: {"model": Status}})
    async def readyz() -> JSONResponse:
        """The store answers (within 1.5 s), its schema is current, and every system accepts
        our credentials."""

        def check() -> tuple[bool, bool]:
            reachable = deps.store.ping()
            return reachable, reachable and deps.store.migrations_current()

        try:
            # A store that does not answer is "not ready" now, not when its timeouts run out:
            # the probe stops waiting and the check thread finishes (or times out) on its own.
            reachable, current = await asyncio.wait_for(
                asyncio.to_thread(check), READY_TIMEOUT_SECONDS
            )
        except TimeoutError:
            detail = f"store did not answer within {READY_TIMEOUT_SECONDS:g} s"
            return JSONResponse({"status": "unready", "detail": detail}, status_code=503)
        except Exception as error:
            detail = f"store unreachable ({type(error).__name__})"
            return JSONResponse({"status": "unready", "detail": detail}, status_code=503)
        if not reachable:
            return JSONResponse({"status": "unready", "detail": "store unreachable"}, 503)
        if not current:
            return JSONResponse({"status": "unready", "detail": "migrations pending"}, 503)
        if deps.health is not None:
            unhealthy = await deps.health()
            if unhealthy:
                detail = "; ".join(
                    f"system {name!r}: {' / '.join(problems)}"
                    for name, problems in sorted(unhealthy.items())
                )
                return JSONResponse({"status": "unready", "detail": detail}, 503)
        return JSONResponse({"status": "ready", "detail": None})

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text exposition of the daemon's and the HTTP clients' metrics."""
        now = deps.clock()
        gauges: InboxGauges | None
        try:
            by_status, oldest = await asyncio.wait_for(
                asyncio.to_thread(deps.store.inbox_stats), READY_TIMEOUT_SECONDS
            )
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            gauges = InboxGauges(by_status=by_status, oldest_pending_age_seconds=max(0.0, age))
        except Exception:
            gauges = None  # a scrape must still answer when the store is down
        for _attempt in range(METRICS_RENDER_ATTEMPTS):
            try:
                text = deps.metrics.render(gauges, now.timestamp())
                text += render_prometheus(HTTP_METRICS)
                break
            except RuntimeError:
                # The daemon serves from its own thread while the worker counts on the main
                # one: a counter gaining its first sample of a label mid-render changes the
                # dict being read. Rare and harmless; read it again.
                continue
        else:
            return PlainTextResponse("metrics busy; scrape again\n", status_code=503)
        return PlainTextResponse(text, media_type=PROMETHEUS_CONTENT_TYPE)

    return app
