"""Batch object routes: create, read, update, upsert, archive (hubspot.md §1.2-1.3).

Partial success (207) on create needs an `objectWriteTraceId` on every failing input; without
one, a single bad input fails the whole batch with the first offender's error and nothing is
written. Update and upsert report per input. Two inputs naming the same record reject the
batch, as integrators report. Failed inputs echo their trace id in `context`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, JsonDict, not_found, validation
from .objects import commit_create, create_one, properties_of, written_view
from .objecttypes import ObjectType, resolve_type
from .state import Sandbox
from .store import Record
from .web import (
    batch_reply,
    bool_param,
    error_reply,
    inputs_of,
    json_object,
    no_content,
    sandbox_of,
)

Failure = tuple[str | None, ApiError]


def _trace(item: JsonDict) -> str | None:
    trace = item.get("objectWriteTraceId")
    return None if trace is None else str(trace)


def _claim(
    sandbox: Sandbox,
    object_type: ObjectType,
    values: dict[str, str],
    claimed: dict[tuple[str, str], int],
    owner: int,
) -> None:
    for claim in sandbox.store.claims(object_type, values):
        claimed[claim] = owner


async def batch_create(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    object_type = resolve_type(request.path_params["object_type"])
    inputs = inputs_of(await json_object(request))
    claimed: dict[tuple[str, str], int] = {}
    prepared: list[tuple[dict[str, str], list[tuple[str, int, int]]]] = []
    failures: list[Failure] = []
    for number, item in enumerate(inputs):
        try:
            values, links = create_one(sandbox, object_type, item, claimed)
        except ApiError as failed:
            failures.append((_trace(item), failed))
            continue
        _claim(sandbox, object_type, values, claimed, -(number + 1))
        prepared.append((values, links))
    untraced = [error for trace, error in failures if trace is None]
    if untraced:
        return error_reply(untraced[0])
    source = sandbox.options.webhooks.api_change_source
    results = [
        sandbox.store.render(
            commit_create(sandbox, object_type, values, links, source),
            written_view(object_type, values),
        )
        for values, links in prepared
    ]
    errors = [error.batch_entry(trace) for trace, error in failures]
    return batch_reply(sandbox, results, errors, started, ok_status=201)


def _check_read_body(sandbox: Sandbox, body: JsonDict) -> None:
    """`BatchReadInputSimplePublicObjectId` requires `inputs`, `properties` and
    `propertiesWithHistory` (spec `crm-objects-*-v3.json`; generated clients make only
    `idProperty` optional). An empty list is fine: the adapter sends `[]` for no history."""
    if not sandbox.options.require_properties_with_history:
        return
    for name in ("properties", "propertiesWithHistory"):
        if not isinstance(body.get(name), list):
            raise validation(
                f"Invalid input JSON: `{name}` is required (a list of property names)",
                code="INVALID_INPUT",
                **{name: ["required"]},
            )


async def batch_read(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    object_type = resolve_type(request.path_params["object_type"])
    body = await json_object(request)
    inputs = inputs_of(body)
    _check_read_body(sandbox, body)
    id_property = body.get("idProperty")
    archived = bool_param(request, "archived")
    properties = body.get("properties") or None
    results: list[JsonDict] = []
    missing: list[str] = []
    for item in inputs:
        key = str(item.get("id", ""))
        record = sandbox.store.find(object_type, key, id_property, archived=archived)
        if record is None:
            missing.append(key)
        else:
            results.append(sandbox.store.render(record, properties))
    errors: list[JsonDict] = []
    if missing:
        message = (
            f"Could not get some {object_type.singular.upper()} objects, they may be deleted "
            "or not exist. Check that ids are valid."
        )
        errors.append(not_found(message, ids=missing).batch_entry(None))
    return batch_reply(sandbox, results, errors, started)


def _reject_duplicates(
    sandbox: Sandbox, object_type: ObjectType, inputs: list[JsonDict], default_property: Any
) -> None:
    keys = []
    for item in inputs:
        id_property = item.get("idProperty", default_property)
        key = str(item.get("id", ""))
        record = sandbox.store.find(object_type, key, id_property)
        keys.append(("record", record.id) if record else (id_property, key.lower()))
    repeated = [key for key, count in Counter(keys).items() if count > 1]
    if repeated:
        raise validation(
            f"Duplicate IDs found in batch input: {[str(k[1]) for k in repeated]}. "
            "IDs must be unique",
            code="DUPLICATE_IDS",
        )


async def batch_update(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    object_type = resolve_type(request.path_params["object_type"])
    body = await json_object(request)
    inputs = inputs_of(body)
    _reject_duplicates(sandbox, object_type, inputs, None)
    claimed: dict[tuple[str, str], int] = {}
    planned: list[tuple[Record, dict[str, str]]] = []
    failures: list[Failure] = []
    for item in inputs:
        try:
            key = str(item.get("id", ""))
            record = sandbox.store.find(object_type, key, item.get("idProperty"))
            if record is None:
                raise not_found(f"Could not find {object_type.singular} with id {key}", ids=[key])
            values = sandbox.store.coerce(object_type, properties_of(item))
            sandbox.store.check_unique(object_type, values, record.id, claimed)
        except ApiError as failed:
            failures.append((_trace(item), failed))
            continue
        _claim(sandbox, object_type, values, claimed, record.id)
        planned.append((record, values))
    source = sandbox.options.webhooks.api_change_source
    results = []
    for record, values in planned:
        sandbox.store.apply(record, values, source=source)
        results.append(sandbox.store.render(record, written_view(object_type, values)))
    errors = [error.batch_entry(trace) for trace, error in failures]
    return batch_reply(sandbox, results, errors, started)


async def batch_upsert(request: Request) -> Response:
    sandbox = sandbox_of(request)
    started = sandbox.clock.now_ms()
    object_type = resolve_type(request.path_params["object_type"])
    inputs = inputs_of(await json_object(request))
    for item in inputs:
        id_property = item.get("idProperty")
        if id_property:
            sandbox.store.require_unique_property(object_type, str(id_property))
    _reject_duplicates(sandbox, object_type, inputs, None)
    claimed: dict[tuple[str, str], int] = {}
    planned: list[tuple[Record | None, dict[str, str]]] = []
    failures: list[Failure] = []
    for number, item in enumerate(inputs):
        try:
            record, values = _plan_upsert(sandbox, object_type, item, claimed)
        except ApiError as failed:
            failures.append((_trace(item), failed))
            continue
        _claim(sandbox, object_type, values, claimed, record.id if record else -(number + 1))
        planned.append((record, values))
    if failures and any(item.get("idProperty") == "email" for item in inputs):
        # "Partial upserts are not supported when using email as the idProperty" (§1.3).
        return error_reply(failures[0][1])
    source = sandbox.options.webhooks.api_change_source
    results = []
    for record, values in planned:
        if record is None:
            created = sandbox.store.insert(object_type, values, source=source)
            view = sandbox.store.render(created, written_view(object_type, values))
            results.append({**view, "new": True})
        else:
            sandbox.store.apply(record, values, source=source)
            view = sandbox.store.render(record, written_view(object_type, values))
            results.append({**view, "new": False})
    errors = [error.batch_entry(trace) for trace, error in failures]
    return batch_reply(sandbox, results, errors, started)


def _plan_upsert(
    sandbox: Sandbox,
    object_type: ObjectType,
    item: JsonDict,
    claimed: dict[tuple[str, str], int],
) -> tuple[Record | None, dict[str, str]]:
    key = str(item.get("id", ""))
    id_property = item.get("idProperty") or None
    record = sandbox.store.find(object_type, key, id_property)
    values = sandbox.store.coerce(object_type, properties_of(item))
    if record is None and id_property is None:
        raise not_found(f"Could not find {object_type.singular} with id {key}", ids=[key])
    if record is None:
        assert id_property is not None
        values[str(id_property)] = key
        sandbox.store.check_required(object_type, values)
        sandbox.store.check_unique(object_type, values, None, claimed)
        return None, values
    sandbox.store.check_unique(object_type, values, record.id, claimed)
    return record, values


async def batch_archive(request: Request) -> Response:
    sandbox = sandbox_of(request)
    object_type = resolve_type(request.path_params["object_type"])
    inputs = inputs_of(await json_object(request))
    source = sandbox.options.webhooks.api_change_source
    for item in inputs:
        record = sandbox.store.find(object_type, str(item.get("id", "")))
        if record is not None:
            sandbox.store.archive(record, source=source)
    return no_content()
