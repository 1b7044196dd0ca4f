"""The sandbox ASGI app: `create_app(...)` for in-process use, `serve(...)` to run it on a port.

Object, association and property routes are mounted under every configured prefix, so the
`/crm/v3/...` paths and the dated `/crm/objects/2026-03/...` ones both work (hubspot.md §0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import admin, assoc_routes, batch, objects, owner_routes, prop_routes
from .clock import Clock
from .errors import ApiError, error_body
from .gate import Gate
from .oauth import OAuthError
from .settings import SandboxOptions
from .state import Sandbox
from .web import error_reply, sandbox_of


async def _token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    # Parsed by hand: starlette's form parser needs python-multipart, which is not a dependency.
    form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    granted = sandbox.tokens.grant(form, sandbox.options, sandbox.clock.now_ms())
    return JSONResponse(granted)


async def _token_metadata(request: Request) -> Response:
    sandbox = sandbox_of(request)
    token = request.path_params["token"]
    return JSONResponse(sandbox.tokens.metadata(token, sandbox.options, sandbox.clock.now_ms()))


def _object_routes(prefix: str) -> list[BaseRoute]:
    base = prefix + "/{object_type}"
    return [
        Route(base + "/batch/create", batch.batch_create, methods=["POST"]),
        Route(base + "/batch/read", batch.batch_read, methods=["POST"]),
        Route(base + "/batch/update", batch.batch_update, methods=["POST"]),
        Route(base + "/batch/upsert", batch.batch_upsert, methods=["POST"]),
        Route(base + "/batch/archive", batch.batch_archive, methods=["POST"]),
        Route(base + "/search", objects.search_objects, methods=["POST"]),
        Route(base, objects.list_objects, methods=["GET"]),
        Route(base, objects.create_object, methods=["POST"]),
        Route(base + "/{object_id}", objects.get_object, methods=["GET"]),
        Route(base + "/{object_id}", objects.update_object, methods=["PATCH"]),
        Route(base + "/{object_id}", objects.archive_object, methods=["DELETE"]),
    ]


def _association_record_routes(prefix: str) -> list[BaseRoute]:
    base = prefix + "/{from_type}/{from_id}/associations"
    return [
        Route(base + "/default/{to_type}/{to_id}", assoc_routes.put_default, methods=["PUT"]),
        Route(base + "/{to_type}/{to_id}", assoc_routes.put_labeled, methods=["PUT"]),
        Route(base + "/{to_type}/{to_id}", assoc_routes.delete_pair, methods=["DELETE"]),
        Route(base + "/{to_type}", assoc_routes.list_pair, methods=["GET"]),
    ]


def _association_batch_routes(prefix: str) -> list[BaseRoute]:
    base = prefix + "/{from_type}/{to_type}/batch"
    return [
        Route(base + "/create", assoc_routes.batch_create, methods=["POST"]),
        Route(base + "/associate/default", assoc_routes.batch_default, methods=["POST"]),
        Route(base + "/read", assoc_routes.batch_read, methods=["POST"]),
        Route(base + "/archive", assoc_routes.batch_archive, methods=["POST"]),
        Route(base + "/labels/archive", assoc_routes.batch_archive_labels, methods=["POST"]),
    ]


def _property_routes(prefix: str) -> list[BaseRoute]:
    base = prefix + "/{object_type}"
    return [
        Route(base + "/groups", prop_routes.list_groups, methods=["GET"]),
        Route(base + "/groups", prop_routes.create_group, methods=["POST"]),
        Route(base + "/groups/{group_name}", prop_routes.get_group, methods=["GET"]),
        Route(base + "/groups/{group_name}", prop_routes.update_group, methods=["PATCH"]),
        Route(base + "/groups/{group_name}", prop_routes.archive_group, methods=["DELETE"]),
        Route(base + "/batch/create", prop_routes.batch_create_properties, methods=["POST"]),
        Route(base + "/batch/read", prop_routes.batch_read_properties, methods=["POST"]),
        Route(base + "/batch/archive", prop_routes.batch_archive_properties, methods=["POST"]),
        Route(base, prop_routes.list_properties, methods=["GET"]),
        Route(base, prop_routes.create_property, methods=["POST"]),
        Route(base + "/{property_name}", prop_routes.get_property, methods=["GET"]),
        Route(base + "/{property_name}", prop_routes.update_property, methods=["PATCH"]),
        Route(base + "/{property_name}", prop_routes.archive_property, methods=["DELETE"]),
    ]


def _owner_routes(prefix: str) -> list[BaseRoute]:
    # The docs write the list with a trailing slash (`/crm/v3/owners/`); both forms answer.
    return [
        Route(prefix, owner_routes.list_owners, methods=["GET"]),
        Route(prefix + "/", owner_routes.list_owners, methods=["GET"]),
        Route(prefix + "/{owner_id}", owner_routes.get_owner, methods=["GET"]),
    ]


def _admin_routes() -> list[BaseRoute]:
    base = "/_sandbox"
    return [
        Route(base + "/reset", admin.reset, methods=["POST"]),
        Route(base + "/seed", admin.seed, methods=["POST"]),
        Route(base + "/switches", admin.get_switches, methods=["GET"]),
        Route(base + "/switches", admin.set_switches, methods=["PATCH"]),
        Route(base + "/requests", admin.get_requests, methods=["GET"]),
        Route(base + "/requests", admin.clear_requests, methods=["DELETE"]),
        Route(base + "/timestamps", admin.set_timestamps, methods=["POST"]),
        Route(base + "/objects/{object_type}", admin.dump_objects, methods=["GET"]),
        Route(base + "/ui/{object_type}", admin.ui_create, methods=["POST"]),
        Route(base + "/ui/{object_type}/{object_id}", admin.ui_edit, methods=["PATCH"]),
        Route(base + "/ui/{object_type}/{object_id}", admin.ui_delete, methods=["DELETE"]),
        Route(base + "/webhooks", admin.webhook_log, methods=["GET"]),
        Route(base + "/webhooks/flush", admin.webhook_flush, methods=["POST"]),
        Route(base + "/owners", admin.add_owner, methods=["POST"]),
        Route(base + "/owners/{owner_id}", admin.archive_owner, methods=["DELETE"]),
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_reply(exc)


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    category = "OBJECT_NOT_FOUND" if exc.status_code == 404 else "VALIDATION_ERROR"
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return JSONResponse(error_body(category, message), status_code=exc.status_code)


async def _bad_value(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("VALIDATION_ERROR", f"Invalid input: {exc}"), status_code=400)


def create_app(
    options: SandboxOptions | None = None,
    *,
    clock: Clock | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    **overrides: Any,
) -> Starlette:
    """Build a sandbox app; `overrides` are `SandboxOptions` fields (e.g. latency_ms=100).

    The live state is `app.state.sandbox` (a `Sandbox`), for tests that drive it directly.
    """
    merged = (options or SandboxOptions()).model_dump()
    merged.update(overrides)
    sandbox = Sandbox(SandboxOptions.model_validate(merged), clock, webhook_transport)
    routes: list[BaseRoute] = [
        Route("/oauth/v1/token", _token, methods=["POST"]),
        Route("/oauth/v3/token", _token, methods=["POST"]),
        Route("/oauth/v1/access-tokens/{token}", _token_metadata, methods=["GET"]),
        *_admin_routes(),
    ]
    for prefix in sandbox.options.object_prefixes:
        routes += _object_routes(prefix)
    for prefix in sandbox.options.association_record_prefixes:
        routes += _association_record_routes(prefix)
    for prefix in sandbox.options.association_prefixes:
        routes += _association_batch_routes(prefix)
    for prefix in sandbox.options.property_prefixes:
        routes += _property_routes(prefix)
    for prefix in sandbox.options.owner_prefixes:
        routes += _owner_routes(prefix)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sandbox.webhooks.aclose()

    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            OAuthError: _oauth_error,
            HTTPException: _http_error,
            ValueError: _bad_value,
        },
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.add_middleware(Gate, sandbox=sandbox)
    return app


def serve(host: str = "127.0.0.1", port: int = 8081, **options: Any) -> None:
    """Run the sandbox standalone with uvicorn (the CLI's `connector sandbox hubspot`)."""
    from connector.listen import serve_app

    serve_app(create_app(**options), host, port, name="sandbox hubspot")
