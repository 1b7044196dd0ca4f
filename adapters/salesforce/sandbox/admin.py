"""`/_sandbox/…`: what a test or a demo does to the org from outside the API.

A "sales rep" creates and edits records (as one of the org's users, so `SystemModstamp` moves
and `LastModifiedById` is not the integration user), an admin adds users, products, validation
rules, and tests inject faults (request-level errors, lock errors, latency, connection resets
before or after the work is done), change the daily allocation, revoke sessions and read the request
log. None of these count against the API allocation.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .network import Reset
from .oauth import load_public_key
from .org import ApiFault, RecordFailure, ValidationRule
from .query import render_value
from .rest import _json, sandbox_of
from .state import Fault


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: render_value(value) for key, value in row.items()}


async def _guarded(request: Request, action: Any) -> Response:
    sandbox = sandbox_of(request)
    try:
        async with sandbox.lock:
            response: Response = await action(sandbox)
            return response
    except ApiFault as fault:
        return JSONResponse(fault.body(), status_code=fault.status)
    except RecordFailure as failure:
        return JSONResponse([failure.entry()], status_code=400)


def _acting_user(sandbox: Any, body: dict[str, Any]) -> str:
    username = body.pop("_as", None) or (
        sandbox.options.reps[0][0] if sandbox.options.reps else sandbox.options.integration_user
    )
    return str(sandbox.user_id(username))


async def records(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        sobject = sandbox.org.sobject(request.path_params["sobject"])
        if request.method == "GET":
            rows = [_row(r) for r in sandbox.org.rows[sobject.name].values()]
            return JSONResponse({"records": rows})
        body = dict(await _json(request))
        outcome = sandbox.org.create(sobject, body, _acting_user(sandbox, body))
        sandbox.outbound.notify(sobject.name, outcome.id)
        return JSONResponse({"id": outcome.id}, status_code=201)

    return await _guarded(request, action)


async def record(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        sobject = sandbox.org.sobject(request.path_params["sobject"])
        record_id = request.path_params["record_id"]
        if request.method == "DELETE":
            sandbox.org.delete(sobject.name, record_id)
            return Response(status_code=204)
        body = dict(await _json(request))
        outcome = sandbox.org.update(sobject, record_id, body, _acting_user(sandbox, body))
        sandbox.outbound.notify(sobject.name, outcome.id)
        return JSONResponse(_row(sandbox.org.get(sobject.name, record_id) or {}))

    return await _guarded(request, action)


async def users(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        body = dict(await _json(request))
        email = body["email"]
        outcome = sandbox.org.create(
            sandbox.org.schema["User"],
            {
                "Username": body.get("username", email),
                "Email": email,
                "FirstName": body.get("first_name"),
                "LastName": body.get("last_name", email),
            },
            sandbox.integration_user_id,
        )
        return JSONResponse({"id": outcome.id}, status_code=201)

    return await _guarded(request, action)


async def products(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        body = await _json(request)
        items = body if isinstance(body, list) else [body]
        ids = [
            sandbox.add_product(
                i["code"],
                i.get("name", i["code"]),
                i["price"],
                currencies=tuple(i["currencies"]) if i.get("currencies") else None,
            )
            for i in items
        ]
        return JSONResponse({"ids": ids}, status_code=201)

    return await _guarded(request, action)


async def faults(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        body = dict(await _json(request))
        if "latency_seconds" in body:
            sandbox.latency = float(body["latency_seconds"])
        if "lock_next" in body:
            sandbox.org.lock_next = int(body["lock_next"])
        for item in body.get("requests", []):
            sandbox.faults.append(
                Fault(
                    int(item["status"]),
                    item.get("errorCode", "SERVER_UNAVAILABLE"),
                    item.get("message", "injected"),
                    item.get("path", ""),
                    int(item.get("count", 1)),
                )
            )
        for item in body.get("resets", []):
            when = item.get("when", "after")
            if when not in ("before", "after"):
                raise ApiFault(400, "INVALID_INPUT", "a reset's when is 'before' or 'after'")
            sandbox.resets.append(
                Reset(item.get("path", ""), int(item.get("count", 1)), when, item.get("method"))
            )
        return JSONResponse({"ok": True})

    return await _guarded(request, action)


async def limits(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        body = dict(await _json(request))
        sandbox.api_limit = int(body.get("max", sandbox.api_limit))
        sandbox.api_used = int(body.get("used", sandbox.api_used))
        return JSONResponse({"used": sandbox.api_used, "max": sandbox.api_limit})

    return await _guarded(request, action)


async def rules(request: Request) -> Response:
    async def action(sandbox: Any) -> Response:
        body = dict(await _json(request))
        sandbox.org.rules.append(
            ValidationRule(body["sobject"], body["field"], body["pattern"], body["message"])
        )
        return JSONResponse({"ok": True}, status_code=201)

    return await _guarded(request, action)


async def outbound(request: Request) -> Response:
    """Point Outbound Messages at a URL (`{"url": …}`); GET shows deliveries and the queue."""
    sandbox = sandbox_of(request)
    sender = sandbox.outbound
    if request.method == "POST":
        body = dict(await _json(request))
        sender.url = body.get("url")
    return JSONResponse(
        {
            "url": sender.url,
            "delivered": sender.delivered,
            "attempts": sender.attempts,
            "queued": len(sender.queue),
        }
    )


async def sessions(request: Request) -> Response:
    sandbox_of(request).issuer.revoke_all()
    return Response(status_code=204)


async def log(request: Request) -> Response:
    sandbox = sandbox_of(request)
    if request.method == "DELETE":
        sandbox.log.clear()
        return Response(status_code=204)
    return JSONResponse({"requests": sandbox.log, "grants": sandbox.issuer.grants})


async def certificate(request: Request) -> Response:
    """Upload another certificate to the connected app (`{"pem": …}`), as an admin rotating
    the JWT key does: assertions signed by the old key are refused from then on."""
    sandbox = sandbox_of(request)
    body = await request.json()
    sandbox.issuer.public_key = load_public_key(str(body["pem"]).encode())
    return JSONResponse({"ok": True})
