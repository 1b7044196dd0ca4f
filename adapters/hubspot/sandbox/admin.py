"""Admin routes under /_sandbox/: not HubSpot's API, but the sandbox's own controls.

They reset and seed data, stand in for a person editing records in HubSpot's UI (which fires
webhooks with changeSource CRM_UI), flip switches, expose the request log, set many records to
one modification timestamp (to reproduce more than 10,000 changes sharing one timestamp), and
add or deactivate owners (the Owners API itself is read-only, as in HubSpot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, not_found, validation
from .objects import written_view
from .objecttypes import ObjectType, resolve_type
from .owners import render_owner
from .settings import SandboxOwner
from .state import Sandbox
from .store import Record, require
from .web import json_object, reply, sandbox_of

UI_SOURCE = "CRM_UI"


def seed_records(
    sandbox: Sandbox,
    object_type: ObjectType,
    rows: Sequence[Mapping[str, Any]],
    *,
    at_ms: int | None = None,
) -> list[Record]:
    """Insert records as pre-existing data: validated and unique-checked, but no webhooks."""
    claimed: dict[tuple[str, str], int] = {}
    prepared = []
    for number, row in enumerate(rows):
        values = sandbox.store.coerce(object_type, row)
        sandbox.store.check_unique(object_type, values, None, claimed)
        for claim in sandbox.store.claims(object_type, values):
            claimed[claim] = -(number + 1)
        prepared.append(values)
    return [
        sandbox.store.insert(object_type, values, source="IMPORT", at_ms=at_ms, notify=False)
        for values in prepared
    ]


def _expand(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = body.get("records")
    if rows is not None:
        if not isinstance(rows, list):
            raise validation("`records` must be a list of property objects")
        return [dict(row.get("properties", row)) for row in rows]
    count = int(body.get("count", 0))
    template = body.get("template") or {}
    start = int(body.get("start", 1))
    return [
        {key: str(value).replace("{n}", str(n)) for key, value in template.items()}
        for n in range(start, start + count)
    ]


async def seed(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await json_object(request)
    object_type = resolve_type(str(body.get("objectType", "")))
    at_ms = body.get("timestamp")
    records = seed_records(
        sandbox, object_type, _expand(body), at_ms=int(at_ms) if at_ms is not None else None
    )
    return reply({"ids": [str(r.id) for r in records]}, 201)


async def reset(request: Request) -> Response:
    sandbox_of(request).reset()
    return reply({"reset": True})


async def get_switches(request: Request) -> Response:
    return reply(sandbox_of(request).options.model_dump(mode="json"))


async def set_switches(request: Request) -> Response:
    sandbox = sandbox_of(request)
    try:
        updated = sandbox.update_switches(await json_object(request))
    except (ValueError, ValidationError) as bad:
        raise validation(f"Invalid switches: {bad}") from None
    return reply(updated.model_dump(mode="json"))


async def get_requests(request: Request) -> Response:
    log = sandbox_of(request).request_log
    return reply({"total": len(log), "results": [entry.to_json() for entry in log]})


async def clear_requests(request: Request) -> Response:
    sandbox_of(request).request_log.clear()
    return reply({"cleared": True})


async def ui_create(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    properties = (await json_object(request)).get("properties") or {}
    values = sandbox.store.coerce(object_type, properties)
    sandbox.store.check_unique(object_type, values, None)
    record = sandbox.store.insert(object_type, values, source=UI_SOURCE)
    return reply(sandbox.store.render(record, written_view(object_type, values)), 201)


async def ui_edit(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    key = request.path_params["object_id"]
    record = require(sandbox.store.find(object_type, key), object_type, key)
    properties = (await json_object(request)).get("properties") or {}
    values = sandbox.store.coerce(object_type, properties)
    sandbox.store.check_unique(object_type, values, record.id)
    sandbox.store.apply(record, values, source=UI_SOURCE)
    return reply(sandbox.store.render(record, written_view(object_type, values)))


async def ui_delete(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    key = request.path_params["object_id"]
    record = require(sandbox.store.find(object_type, key), object_type, key)
    sandbox.store.archive(record, source=UI_SOURCE)
    return reply({"archived": str(record.id)})


async def set_timestamps(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await json_object(request)
    object_type = resolve_type(str(body.get("objectType", "")))
    if "timestamp" not in body:
        raise validation("`timestamp` (epoch ms) is required")
    ids = body.get("ids")
    records = sandbox.store.active(object_type)
    if ids is not None:
        wanted = {int(i) for i in ids}
        records = [r for r in records if r.id in wanted]
    count = sandbox.store.set_modified(records, int(body["timestamp"]))
    return reply({"updated": count})


async def dump_objects(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    records = sandbox.store.records[object_type.name].values()
    results = []
    for record in records:
        view = sandbox.store.render(record, [*record.values, *written_view(object_type, {})])
        results.append(view)
    return reply({"total": len(results), "results": results})


async def webhook_log(request: Request) -> Response:
    hooks = sandbox_of(request).webhooks
    return reply(
        {
            "attempts": [a.__dict__ for a in hooks.attempts],
            "delivered": hooks.delivered,
            "abandoned": hooks.abandoned,
        }
    )


async def webhook_flush(request: Request) -> Response:
    sandbox = sandbox_of(request)
    await sandbox.webhooks.drain()
    return await webhook_log(request)


def _switch_owners(sandbox: Sandbox, owners: list[SandboxOwner]) -> None:
    try:
        sandbox.update_switches({"owners": [o.model_dump() for o in owners]})
    except (ValueError, ValidationError) as bad:
        raise validation(f"Invalid owner: {bad}") from None


async def add_owner(request: Request) -> Response:
    """`{"email", "firstName"?, "lastName"?, "id"?, "userId"?, "type"?}`: a new user in HubSpot.
    Without an id the next free one is used."""
    sandbox = sandbox_of(request)
    body = await json_object(request)
    owners = list(sandbox.options.owners)
    next_id = max((int(o.id) for o in owners), default=71_000_000) + 1
    try:
        owner = SandboxOwner(
            id=str(body.get("id") or next_id),
            email=body.get("email"),
            first_name=str(body.get("firstName") or ""),
            last_name=str(body.get("lastName") or ""),
            user_id=body.get("userId"),
            type=body.get("type") or "PERSON",
            created_ms=sandbox.clock.now_ms(),
        )
    except ValidationError as bad:
        raise validation(f"Invalid owner: {bad}") from None
    _switch_owners(sandbox, [*owners, owner])
    return reply(render_owner(owner), 201)


async def archive_owner(request: Request) -> Response:
    """A user deactivated in HubSpot: the owner stays, archived, and is no longer an option.
    Records that hold its id keep it."""
    sandbox = sandbox_of(request)
    key = request.path_params["owner_id"]
    owners = list(sandbox.options.owners)
    for index, owner in enumerate(owners):
        if owner.id == key:
            owners[index] = owner.model_copy(
                update={"archived": True, "updated_ms": sandbox.clock.now_ms()}
            )
            _switch_owners(sandbox, owners)
            return reply(render_owner(owners[index]))
    raise not_found(f"Could not find owner with id {key}", ids=[key])


__all__ = ["ApiError", "seed_records"]
