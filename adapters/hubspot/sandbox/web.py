"""Small request/response helpers shared by the route modules."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .clock import iso_from_ms
from .errors import ApiError, JsonDict, validation
from .state import Sandbox

BATCH_LIMIT = 100  # "Object API batch endpoints are limited to 100 inputs per request" (§1.2)


def sandbox_of(request: Request) -> Sandbox:
    found: Sandbox = request.app.state.sandbox
    return found


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise validation("Invalid input JSON: the request body is not valid JSON") from None


async def json_object(request: Request) -> JsonDict:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: expected an object")
    return body


def reply(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


def error_reply(error: ApiError) -> Response:
    return JSONResponse(error.body(), status_code=error.status)


def csv_param(request: Request, name: str) -> list[str] | None:
    values = [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]
    return values or None


def bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def inputs_of(body: JsonDict, limit: int = BATCH_LIMIT) -> list[JsonDict]:
    """The `inputs` list of a batch body, refused whole with 400 past the batch limit."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON: `inputs` must be a list of objects")
    if len(inputs) > limit:
        raise validation(
            f"Batch input limit exceeded: {len(inputs)} inputs were sent; the maximum is {limit}",
            code="TOO_MANY_INPUTS",
        )
    return inputs


def batch_reply(
    sandbox: Sandbox,
    results: list[JsonDict],
    errors: list[JsonDict],
    started_ms: int,
    ok_status: int = 200,
) -> Response:
    """`BatchResponse…`: 207 with `errors`/`numErrors` when some inputs failed."""
    now = sandbox.clock.now_ms()
    body: JsonDict = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = iso_from_ms(started_ms)
    body["completedAt"] = iso_from_ms(now)
    body["links"] = {}
    return reply(body, 207 if errors else ok_status)
