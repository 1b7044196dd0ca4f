"""Associations v4 routes: single-record PUT/DELETE/GET and the batch endpoints (§3.1).

Batch limits: read 1,000 inputs, create 2,000; archive 100 "from" inputs (a secondary note,
unverified, so the sandbox holds clients to the stricter figure).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .associations import CATEGORY, TYPES, default_type_id, resolve_type_id
from .errors import ApiError, JsonDict, validation
from .objecttypes import ObjectType, resolve_type
from .state import Sandbox
from .store import Record
from .web import batch_reply, inputs_of, json_body, json_object, no_content, reply, sandbox_of

READ_LIMIT = 1_000
CREATE_LIMIT = 2_000
ARCHIVE_LIMIT = 100
LIST_LIMIT = 500


def _types(request: Request) -> tuple[ObjectType, ObjectType]:
    params = request.path_params
    return resolve_type(params["from_type"]), resolve_type(params["to_type"])


def _record(sandbox: Sandbox, object_type: ObjectType, key: Any) -> Record:
    record = sandbox.store.find(object_type, str(key))
    if record is None:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"No {object_type.singular} with id {key} exists",
            sub_category="crm.associations.INVALID_OBJECT_IDS",
            context={"ids": [str(key)]},
        )
    return record


def _type_ids(specs: Any, from_type: ObjectType, to_type: ObjectType) -> list[int]:
    if not isinstance(specs, list) or not specs:
        raise validation("Association types must be a non-empty list")
    type_ids = []
    for spec in specs:
        if not isinstance(spec, dict):
            raise validation("Each association type must be an object")
        category = spec.get("associationCategory", CATEGORY)
        if category != CATEGORY:
            raise validation(f"Unknown association category {category} in the sandbox")
        kind = resolve_type_id(int(spec.get("associationTypeId", -1)), from_type.name, to_type.name)
        type_ids.append(kind.type_id)
    return type_ids


def _labeled_result(
    from_type: ObjectType, source: Record, to_type: ObjectType, target: Record, type_ids: list[int]
) -> JsonDict:
    labels = [label for t in type_ids if (label := TYPES[t].label)]
    return {
        "fromObjectTypeId": from_type.type_id,
        "fromObjectId": source.id,
        "toObjectTypeId": to_type.type_id,
        "toObjectId": target.id,
        "labels": labels,
    }


async def put_default(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    from_type, to_type = _types(request)
    source = _record(sandbox, from_type, request.path_params["from_id"])
    target = _record(sandbox, to_type, request.path_params["to_id"])
    type_id = default_type_id(from_type.name, to_type.name)
    sandbox.associations.add(from_type.name, source.id, to_type.name, target.id, type_id)
    result = {
        "from": {"id": str(source.id)},
        "to": {"id": str(target.id)},
        "associationSpec": {"associationCategory": CATEGORY, "associationTypeId": type_id},
    }
    return batch_reply(sandbox, [result], [], started)


async def put_labeled(request: Request) -> Response:
    sandbox = sandbox_of(request)
    from_type, to_type = _types(request)
    source = _record(sandbox, from_type, request.path_params["from_id"])
    target = _record(sandbox, to_type, request.path_params["to_id"])
    type_ids = _type_ids(await json_body(request), from_type, to_type)
    for type_id in type_ids:
        sandbox.associations.add(from_type.name, source.id, to_type.name, target.id, type_id)
    return reply(_labeled_result(from_type, source, to_type, target, type_ids), 201)


async def delete_pair(request: Request) -> Response:
    sandbox = sandbox_of(request)
    from_type, to_type = _types(request)
    source = sandbox.store.find(from_type, request.path_params["from_id"])
    target = sandbox.store.find(to_type, request.path_params["to_id"])
    if source is not None and target is not None:
        sandbox.associations.remove(from_type.name, source.id, to_type.name, target.id)
    return no_content()


def _to_entries(links: list[tuple[int, list[int]]]) -> list[JsonDict]:
    return [
        {
            "toObjectId": to_id,
            "associationTypes": [
                {"category": CATEGORY, "typeId": t, "label": TYPES[t].label} for t in type_ids
            ],
        }
        for to_id, type_ids in links
    ]


async def list_pair(request: Request) -> Response:
    sandbox = sandbox_of(request)
    from_type, to_type = _types(request)
    source = sandbox.store.find(from_type, request.path_params["from_id"])
    if source is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
    limit = min(int(request.query_params.get("limit", str(LIST_LIMIT))), LIST_LIMIT)
    start = int(request.query_params.get("after", "0") or 0)
    links = sandbox.associations.targets(from_type.name, source.id, to_type.name)
    body: JsonDict = {"results": _to_entries(links[start : start + limit])}
    if start + limit < len(links):
        body["paging"] = {"next": {"after": str(start + limit)}}
    return reply(body)


async def batch_create(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    from_type, to_type = _types(request)
    inputs = inputs_of(await json_object(request), CREATE_LIMIT)
    results: list[JsonDict] = []
    errors: list[JsonDict] = []
    for item in inputs:
        try:
            source = _record(sandbox, from_type, (item.get("from") or {}).get("id"))
            target = _record(sandbox, to_type, (item.get("to") or {}).get("id"))
            type_ids = _type_ids(item.get("types"), from_type, to_type)
        except ApiError as failed:
            errors.append(failed.batch_entry(None))
            continue
        for type_id in type_ids:
            sandbox.associations.add(from_type.name, source.id, to_type.name, target.id, type_id)
        results.append(_labeled_result(from_type, source, to_type, target, type_ids))
    return batch_reply(sandbox, results, errors, started, ok_status=201)


async def batch_default(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    from_type, to_type = _types(request)
    inputs = inputs_of(await json_object(request), CREATE_LIMIT)
    type_id = default_type_id(from_type.name, to_type.name)
    results: list[JsonDict] = []
    errors: list[JsonDict] = []
    for item in inputs:
        try:
            source = _record(sandbox, from_type, (item.get("from") or {}).get("id"))
            target = _record(sandbox, to_type, (item.get("to") or {}).get("id"))
        except ApiError as failed:
            errors.append(failed.batch_entry(None))
            continue
        sandbox.associations.add(from_type.name, source.id, to_type.name, target.id, type_id)
        spec = {"associationCategory": CATEGORY, "associationTypeId": type_id}
        results.append(
            {"from": {"id": str(source.id)}, "to": {"id": str(target.id)}, "associationSpec": spec}
        )
    return batch_reply(sandbox, results, errors, started)


async def batch_read(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    from_type, to_type = _types(request)
    inputs = inputs_of(await json_object(request), READ_LIMIT)
    results: list[JsonDict] = []
    errors: list[JsonDict] = []
    for item in inputs:
        key = str(item.get("id", ""))
        source = sandbox.store.find(from_type, key)
        links = (
            sandbox.associations.targets(from_type.name, source.id, to_type.name) if source else []
        )
        if not links:
            missing = ApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"No {to_type.name} is associated with {from_type.singular} {key}.",
                sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                context={"fromObjectId": [key]},
            )
            errors.append(missing.batch_entry(None))
            continue
        results.append({"from": {"id": key}, "to": _to_entries(links)})
    return batch_reply(sandbox, results, errors, started)


async def batch_archive(request: Request) -> Response:
    sandbox = sandbox_of(request)
    from_type, to_type = _types(request)
    inputs = inputs_of(await json_object(request), ARCHIVE_LIMIT)
    for item in inputs:
        source = sandbox.store.find(from_type, str((item.get("from") or {}).get("id", "")))
        if source is None:
            continue
        for target_ref in item.get("to") or []:
            target = sandbox.store.find(to_type, str(target_ref.get("id", "")))
            if target is not None:
                sandbox.associations.remove(from_type.name, source.id, to_type.name, target.id)
    return no_content()


async def batch_archive_labels(request: Request) -> Response:
    sandbox = sandbox_of(request)
    from_type, to_type = _types(request)
    inputs = inputs_of(await json_object(request), CREATE_LIMIT)
    for item in inputs:
        source = sandbox.store.find(from_type, str((item.get("from") or {}).get("id", "")))
        target = sandbox.store.find(to_type, str((item.get("to") or {}).get("id", "")))
        if source is None or target is None:
            continue
        for type_id in _type_ids(item.get("types"), from_type, to_type):
            sandbox.associations.remove(from_type.name, source.id, to_type.name, target.id, type_id)
    return no_content()
