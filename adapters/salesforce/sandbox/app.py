"""The sandbox ASGI app: `create_app(...)` in process (httpx.ASGITransport), `serve(...)` on a
port (`connector sandbox salesforce --port 8082`)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import admin, bulk, bulk_query, composite, rest, tooling
from .network import ResetMiddleware
from .oauth import OAuthRefused
from .query import render_value
from .state import Sandbox, SandboxOptions

DATA = "/services/data/{version}"


async def token(request: Request) -> Response:
    sandbox = rest.sandbox_of(request)
    form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    basic = _basic(request.headers.get("authorization", ""))
    try:
        access = sandbox.issuer.grant(
            form,
            basic=basic,
            users=sandbox.users(),
            run_as=sandbox.options.integration_user,
            now=_epoch(sandbox),
        )
    except OAuthRefused as refused:
        return JSONResponse(
            {"error": refused.error, "error_description": refused.description},
            status_code=refused.status,
        )
    user_id = sandbox.issuer.sessions[access].user_id
    # Sessions are checked against the monotonic clock from then on.
    sandbox.issuer.sessions[access].last_used = sandbox.monotonic()
    instance = sandbox.options.instance_url or str(request.base_url).rstrip("/")
    identity = f"{instance}/id/{sandbox.org.org_id}/{user_id}"
    issued_at = str(int(sandbox.clock().timestamp() * 1000))
    return JSONResponse(
        {
            "access_token": access,
            "signature": sandbox.issuer.signature(identity, issued_at),
            "scope": "api",
            "instance_url": instance,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
    )


def _epoch(sandbox: Sandbox) -> float:
    return sandbox.clock().timestamp()


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def versions(request: Request) -> Response:
    latest = f"{rest.LATEST_VERSION}.0"
    return JSONResponse(
        [{"label": "Summer '26", "url": f"/services/data/v{latest}", "version": latest}]
    )


async def identity(request: Request) -> Response:
    sandbox = rest.sandbox_of(request)
    user = sandbox.org.get("User", request.path_params["user_id"])
    if user is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    return JSONResponse({k: render_value(v) for k, v in user.items()})


def create_app(sandbox: Sandbox | None = None, **options: Any) -> Starlette:
    """The ASGI app around `sandbox` (or a new one built from `options`)."""
    state = sandbox or Sandbox(SandboxOptions(**options))
    routes = [
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/data", versions, methods=["GET"]),
        Route("/id/{org_id}/{user_id}", identity, methods=["GET"]),
        Route(DATA + "/limits", rest.api(rest.limits), methods=["GET"]),
        Route(DATA + "/query", rest.api(rest.query), methods=["GET"]),
        Route(DATA + "/queryAll", rest.api(rest.query), methods=["GET"]),
        Route(DATA + "/query/{locator}", rest.api(rest.query_more), methods=["GET"]),
        *(
            Route(DATA + path, rest.api(rest.describe_global), methods=["GET"])
            for path in ("/sobjects", "/sobjects/")
        ),
        Route(DATA + "/sobjects/{sobject}/describe", rest.api(rest.describe), methods=["GET"]),
        Route(DATA + "/sobjects/{sobject}", rest.api(rest.create_row), methods=["POST"]),
        Route(
            DATA + "/sobjects/{sobject}/{record_id}",
            rest.api(rest.row),
            methods=["GET", "PATCH", "DELETE"],
        ),
        Route(
            DATA + "/sobjects/{sobject}/{field}/{value}",
            rest.api(rest.upsert_row),
            methods=["PATCH"],
        ),
        Route(
            DATA + "/composite/sobjects",
            rest.api(rest.collection_create_update, min_version=42),
            methods=["POST", "PATCH"],
        ),
        Route(
            DATA + "/composite/sobjects",
            rest.api(rest.collection_delete, min_version=42),
            methods=["DELETE"],
        ),
        Route(
            DATA + "/composite/sobjects/{sobject}/{field}",
            rest.api(rest.collection_upsert, min_version=46),
            methods=["PATCH"],
        ),
        Route(DATA + "/composite", rest.api(composite.composite, min_version=34), methods=["POST"]),
        *bulk.routes(DATA),
        *(
            Route(DATA + path, rest.api(tooling.create_custom_field), methods=["POST"])
            for path in ("/tooling/sobjects/CustomField", "/tooling/sobjects/CustomField/")
        ),
        *bulk_query.routes(DATA),
        Route("/_sandbox/records/{sobject}", admin.records, methods=["GET", "POST"]),
        Route("/_sandbox/records/{sobject}/{record_id}", admin.record, methods=["PATCH", "DELETE"]),
        Route("/_sandbox/users", admin.users, methods=["POST"]),
        Route("/_sandbox/products", admin.products, methods=["POST"]),
        Route("/_sandbox/faults", admin.faults, methods=["POST"]),
        Route("/_sandbox/limits", admin.limits, methods=["POST"]),
        Route("/_sandbox/certificate", admin.certificate, methods=["POST"]),
        Route("/_sandbox/validation-rules", admin.rules, methods=["POST"]),
        Route("/_sandbox/sessions", admin.sessions, methods=["DELETE"]),
        Route("/_sandbox/outbound", admin.outbound, methods=["GET", "POST"]),
        Route("/_sandbox/requests", admin.log, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes, lifespan=_lifespan, middleware=[Middleware(ResetMiddleware)])
    app.state.sandbox = state
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Runs the Outbound Message sender while the app is served."""
    sandbox: Sandbox = app.state.sandbox
    task = asyncio.create_task(sandbox.outbound.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve(host: str = "127.0.0.1", port: int = 8082, **options: Any) -> None:
    """Run standalone with uvicorn. The connected app's certificate for the JWT bearer flow is
    read from the file named by `SALESFORCE_SANDBOX_CERT` (PEM), if set; a non-empty
    `SALESFORCE_SANDBOX_FRESH_ORG` starts an org without the connector's custom fields."""
    from connector.listen import serve_app

    cert = os.environ.get("SALESFORCE_SANDBOX_CERT")
    if cert:
        options.setdefault("certificate_pem", Path(cert).read_bytes())
    if os.environ.get("SALESFORCE_SANDBOX_FRESH_ORG"):  # no custom fields: try `setup --create`
        options.setdefault("custom_fields", False)
    serve_app(create_app(**options), host, port, name="sandbox salesforce")
