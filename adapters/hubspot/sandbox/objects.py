"""Single-record object routes: list, read, create, update, archive, and search."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .associations import TYPES, resolve_type_id, type_name
from .errors import ApiError, JsonDict, validation
from .objecttypes import ObjectType, resolve_type
from .search import run_search
from .state import Sandbox
from .store import Record, require
from .web import bool_param, csv_param, json_object, no_content, reply, sandbox_of

LIST_MAX = 100


def encode_after(record_id: int) -> str:
    return base64.urlsafe_b64encode(str(record_id).encode()).decode()


def decode_after(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error):
        raise validation(f"Invalid paging cursor: {token}") from None


def render_with_associations(
    sandbox: Sandbox, record: Record, properties: list[str] | None, wanted: list[str] | None
) -> JsonDict:
    body = sandbox.store.render(record, properties)
    if wanted:
        found: JsonDict = {}
        for name in wanted:
            other = resolve_type(name)
            links = sandbox.associations.targets(record.object_type.name, record.id, other.name)
            results = [
                {"id": str(to_id), "type": type_name(TYPES[type_id])}
                for to_id, type_ids in links
                for type_id in type_ids
            ]
            if results:
                found[other.name] = {"results": results}
        if found:
            body["associations"] = found
    return body


async def list_objects(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    limit = min(max(int(request.query_params.get("limit", "10")), 1), LIST_MAX)
    after = request.query_params.get("after")
    archived = bool_param(request, "archived")
    start = decode_after(after) if after else 0
    records = sorted(
        (r for r in sandbox.store.records[object_type.name].values() if r.archived == archived),
        key=lambda r: r.id,
    )
    page = [r for r in records if r.id >= start][: limit + 1]
    properties = csv_param(request, "properties")
    wanted = csv_param(request, "associations")
    body: JsonDict = {
        "results": [render_with_associations(sandbox, r, properties, wanted) for r in page[:limit]]
    }
    if len(page) > limit:
        token = encode_after(page[limit].id)
        body["paging"] = {"next": {"after": token, "link": f"?after={token}"}}
    return reply(body)


def _lookup(request: Request, object_type: ObjectType, *, archived: bool = False) -> Record:
    sandbox = sandbox_of(request)
    key = request.path_params["object_id"]
    id_property = request.query_params.get("idProperty")
    record = sandbox.store.find(object_type, key, id_property, archived=archived)
    return require(record, object_type, key)


async def get_object(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    record = _lookup(request, object_type, archived=bool_param(request, "archived"))
    properties = csv_param(request, "properties")
    wanted = csv_param(request, "associations")
    return reply(render_with_associations(sandbox, record, properties, wanted))


def properties_of(body: JsonDict) -> dict[str, Any]:
    properties = body.get("properties", {})
    if not isinstance(properties, dict):
        raise validation("Invalid input JSON: `properties` must be an object")
    return properties


def check_associations(
    sandbox: Sandbox, object_type: ObjectType, specs: Any
) -> list[tuple[str, int, int]]:
    """Inline `associations` of a create, validated: (to type, to id, type id) triples."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise validation("Invalid input JSON: `associations` must be a list")
    links: list[tuple[str, int, int]] = []
    for spec in specs:
        to_id = str((spec.get("to") or {}).get("id", ""))
        for kind in spec.get("types") or []:
            type_id = int(kind.get("associationTypeId", -1))
            known = TYPES.get(type_id)
            if known is None or known.from_type != object_type.name:
                raise validation(
                    f"{type_id} is not a valid association type id from {object_type.name}",
                    code="INVALID_ASSOCIATION_TYPE",
                )
            resolve_type_id(type_id, object_type.name, known.to_type)
            target = sandbox.store.find(resolve_type(known.to_type), to_id)
            if target is None:
                raise ApiError(
                    400,
                    "VALIDATION_ERROR",
                    f"No {known.to_type} with id {to_id} exists to associate with",
                    sub_category="crm.associations.INVALID_OBJECT_IDS",
                    context={"ids": [to_id]},
                )
            links.append((known.to_type, target.id, type_id))
    return links


def create_one(
    sandbox: Sandbox,
    object_type: ObjectType,
    body: JsonDict,
    claimed: dict[tuple[str, str], int] | None = None,
) -> tuple[dict[str, str], list[tuple[str, int, int]]]:
    """Validate one create input completely, before anything is written."""
    values = sandbox.store.coerce(object_type, properties_of(body))
    sandbox.store.check_required(object_type, values)
    sandbox.store.check_unique(object_type, values, None, claimed)
    links = check_associations(sandbox, object_type, body.get("associations"))
    return values, links


def commit_create(
    sandbox: Sandbox,
    object_type: ObjectType,
    values: dict[str, str],
    links: list[tuple[str, int, int]],
    source: str,
) -> Record:
    record = sandbox.store.insert(object_type, values, source=source)
    for to_type, to_id, type_id in links:
        sandbox.associations.add(object_type.name, record.id, to_type, to_id, type_id)
    return record


def written_view(object_type: ObjectType, values: dict[str, str]) -> list[str]:
    """What a write answers with: the properties written plus the system ones."""
    return [*values, "hs_object_id", "createdate", object_type.modified_property]


async def create_object(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    body = await json_object(request)
    values, links = create_one(sandbox, object_type, body)
    source = sandbox.options.webhooks.api_change_source
    record = commit_create(sandbox, object_type, values, links, source)
    return reply(sandbox.store.render(record, written_view(object_type, values)), 201)


async def update_object(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    record = _lookup(request, object_type)
    values = sandbox.store.coerce(object_type, properties_of(await json_object(request)))
    sandbox.store.check_unique(object_type, values, record.id)
    sandbox.store.apply(record, values, source=sandbox.options.webhooks.api_change_source)
    return reply(sandbox.store.render(record, written_view(object_type, values)))


async def archive_object(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    key = request.path_params["object_id"]
    record = sandbox.store.find(object_type, key, request.query_params.get("idProperty"))
    if record is not None:  # archiving a missing record is still a 204
        sandbox.store.archive(record, source=sandbox.options.webhooks.api_change_source)
    return no_content()


async def search_objects(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    raw = await request.body()
    body = await json_object(request)
    visible_before = sandbox.clock.now_ms() - sandbox.options.search_index_delay_ms
    records = [r for r in sandbox.store.active(object_type) if r.updated_ms <= visible_before]
    registry = sandbox.registry

    def associated(record: Record, other: str, other_id: str) -> bool:
        if not other_id.isdigit():
            return False
        other_type = resolve_type(other).name
        return sandbox.associations.linked(
            record.object_type.name, record.id, other_type, int(other_id)
        )

    page = run_search(
        records,
        body,
        len(raw),
        lambda name: registry.get(object_type.name, name),
        associated,
    )
    properties = body.get("properties") or None
    result: JsonDict = {
        "total": page.total,
        "results": [sandbox.store.render(r, properties) for r in page.results],
    }
    if page.next_after is not None:
        result["paging"] = {"next": {"after": page.next_after}}
    return reply(result)
