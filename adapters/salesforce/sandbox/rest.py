"""The REST routes under `/services/data/vXX.X/`: query, sObject rows, Collections, limits.

Every route goes through `api()`, which does what Salesforce does to any call (salesforce.md
§4): injected latency and faults, the bearer session (401 `INVALID_SESSION_ID`), the daily
allocation (403 `REQUEST_LIMIT_EXCEEDED` once spent; a Collections call counts as one), and the
`Sforce-Limit-Info: api-usage=used/max` header on the answer. Errors are JSON arrays of
`{message, errorCode}`; Collections report per record with `statusCode`, in request order.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.salesforce.ids import is_record_id, to18

from .org import ApiFault, RecordFailure, WriteOutcome
from .query import attributes, render_value
from .schema import SObject
from .state import Sandbox

COLLECTION_MAX = 200
_VERSION = re.compile(r"^v(\d{2,3})\.0$")
#: The newest API version this sandbox speaks (the versions root lists it); a later one is 404,
#: as on an org that has not had that release yet.
LATEST_VERSION = 67
Handler = Callable[[Request, Sandbox, str], Awaitable[Response]]


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _error(fault: ApiFault) -> JSONResponse:
    return JSONResponse(fault.body(), status_code=fault.status)


def api(handler: Handler, *, min_version: int = 31) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sandbox = sandbox_of(request)
        if sandbox.latency:
            await asyncio.sleep(sandbox.latency)
        path = request.url.path
        entry = {"method": request.method, "path": path, "status": 0}
        sandbox.log.append(entry)
        response = await _answer(request, sandbox, handler, min_version)
        entry["status"] = response.status_code
        response.headers["Sforce-Limit-Info"] = f"api-usage={sandbox.api_used}/{sandbox.api_limit}"
        return response

    return endpoint


async def _answer(
    request: Request, sandbox: Sandbox, handler: Handler, min_version: int
) -> Response:
    version = request.path_params.get("version", "")
    match = _VERSION.match(version)
    if match is None or not min_version <= int(match.group(1)) <= LATEST_VERSION:
        return _error(ApiFault(404, "NOT_FOUND", "The requested resource does not exist"))
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    user = sandbox.issuer.check(token, sandbox.monotonic())
    if user is None:
        return _error(ApiFault(401, "INVALID_SESSION_ID", "Session expired or invalid"))
    if sandbox.api_used >= sandbox.api_limit:
        return _error(ApiFault(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
    sandbox.api_used += 1
    for fault in sandbox.faults:
        if fault.count > 0 and fault.path in request.url.path:
            fault.count -= 1
            return _error(ApiFault(fault.status, fault.error_code, fault.message))
    try:
        async with sandbox.lock:
            return await handler(request, sandbox, user)
    except ApiFault as fault:
        return _error(fault)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise ApiFault(400, "JSON_PARSER_ERROR", "Unexpected character in JSON body") from None


# -- query ------------------------------------------------------------------------------------


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    found = re.search(r"batchSize=(\d+)", options)
    return int(found.group(1)) if found else 2000


async def query(request: Request, sandbox: Sandbox, user: str) -> Response:
    text = request.query_params.get("q")
    if not text:
        raise ApiFault(400, "MALFORMED_QUERY", "A query string has to be specified")
    body = sandbox.queries.run(
        text,
        include_deleted=request.url.path.rstrip("/").endswith("queryAll"),
        version=request.path_params["version"],
        batch=_batch_size(request),
        owner=user,
        now=sandbox.monotonic(),
    )
    return JSONResponse(body)


async def query_more(request: Request, sandbox: Sandbox, user: str) -> Response:
    body = sandbox.queries.more(
        request.path_params["locator"], request.path_params["version"], sandbox.monotonic()
    )
    return JSONResponse(body)


async def limits(request: Request, sandbox: Sandbox, user: str) -> Response:
    remaining = max(0, sandbox.api_limit - sandbox.api_used)
    return JSONResponse(
        {
            "DailyApiRequests": {"Max": sandbox.api_limit, "Remaining": remaining},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        }
    )


# -- sObject rows -------------------------------------------------------------------------------


def _record_body(sandbox: Sandbox, sobject: SObject, row: dict[str, Any], version: str) -> Any:
    body: dict[str, Any] = {"attributes": attributes(version, sobject.name, row["Id"])}
    body.update({name: render_value(row.get(name)) for name in sobject.fields})
    return body


def _fail_single(failure: RecordFailure) -> JSONResponse:
    entry = {"message": failure.message, "errorCode": failure.code, "fields": failure.fields}
    status = 404 if failure.code == "INVALID_CROSS_REFERENCE_KEY" and not failure.fields else 400
    return JSONResponse([entry], status_code=status)


async def create_row(request: Request, sandbox: Sandbox, user: str) -> Response:
    sobject = sandbox.org.sobject(request.path_params["sobject"])
    values = await _json(request)
    try:
        outcome = sandbox.org.create(sobject, values, user)
    except RecordFailure as failure:
        return _fail_single(failure)
    return JSONResponse({"id": outcome.id, "success": True, "errors": []}, status_code=201)


async def row(request: Request, sandbox: Sandbox, user: str) -> Response:
    sobject = sandbox.org.sobject(request.path_params["sobject"])
    record_id = request.path_params["record_id"]
    if request.method == "GET":
        found = sandbox.org.get(sobject.name, record_id) if is_record_id(record_id) else None
        if found is None or found["IsDeleted"]:
            raise ApiFault(404, "NOT_FOUND", "The requested resource does not exist")
        return JSONResponse(_record_body(sandbox, sobject, found, request.path_params["version"]))
    try:
        if request.method == "DELETE":
            sandbox.org.delete(sobject.name, record_id)
        else:
            sandbox.org.update(sobject, record_id, await _json(request), user)
    except RecordFailure as failure:
        return _fail_single(failure)
    return Response(status_code=204)


async def upsert_row(request: Request, sandbox: Sandbox, user: str) -> Response:
    """PATCH /sobjects/{SObject}/{ExtField}/{value}: 201 created, 200 updated (v46+), 300 on
    several matches, 404 when the field is not an external id."""
    sobject = sandbox.org.sobject(request.path_params["sobject"])
    spec = _external_field(sobject, request.path_params["field"])
    values = dict(await _json(request))
    values[spec.name] = request.path_params["value"]
    matches = sandbox.org.find_by(sobject, spec.name, values[spec.name])
    if len(matches) > 1:
        urls = [
            attributes(request.path_params["version"], sobject.name, m["Id"])["url"]
            for m in matches
        ]
        return JSONResponse(urls, status_code=300)
    try:
        outcome = _upsert_one(sandbox, sobject, matches, values, user)
    except RecordFailure as failure:
        return _fail_single(failure)
    body = {"id": outcome.id, "success": True, "errors": [], "created": outcome.created}
    return JSONResponse(body, status_code=201 if outcome.created else 200)


def _external_field(sobject: SObject, name: str) -> Any:
    spec = sobject.field(name)
    if spec is None or not (spec.external_id or spec.name == "Id"):
        raise ApiFault(404, "NOT_FOUND", "The requested resource does not exist")
    return spec


def _upsert_one(
    sandbox: Sandbox,
    sobject: SObject,
    matches: list[dict[str, Any]],
    values: dict[str, Any],
    user: str,
) -> WriteOutcome:
    if matches:
        return sandbox.org.update(sobject, matches[0]["Id"], values, user)
    return sandbox.org.create(sobject, values, user)


# -- sObject Collections ------------------------------------------------------------------------


def _records(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiFault(400, "JSON_PARSER_ERROR", "records: expected an array")
    records = body["records"]
    if len(records) > COLLECTION_MAX:
        # The API's own wording (sorenkrabbe/Chrome-Salesforce-inspector#134).
        raise ApiFault(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    if not all(isinstance(r, dict) for r in records):
        raise ApiFault(400, "JSON_PARSER_ERROR", "records: expected objects")
    return records, bool(body.get("allOrNone", False))


def _result(outcome: WriteOutcome | RecordFailure, *, upsert: bool) -> dict[str, Any]:
    if isinstance(outcome, RecordFailure):
        result: dict[str, Any] = {"id": None, "success": False, "errors": [outcome.entry()]}
    else:
        result = {"id": outcome.id, "success": True, "errors": []}
        if upsert:
            result["created"] = outcome.created
    if upsert and "created" not in result:
        result["created"] = False
    return result


def _all_or_none(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rolled = {
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was "
        "using AllOrNone header",
        "fields": [],
    }
    return [
        result
        if not result["success"]
        else {**result, "id": None, "success": False, "errors": [rolled]}
        for result in results
    ]


async def _collection(
    sandbox: Sandbox,
    records: list[dict[str, Any]],
    all_or_none: bool,
    write: Callable[[dict[str, Any]], WriteOutcome],
    *,
    upsert: bool,
) -> Response:
    snapshot = _snapshot(sandbox) if all_or_none else None
    results = []
    for record in records:
        try:
            results.append(_result(write(record), upsert=upsert))
        except RecordFailure as failure:
            results.append(_result(failure, upsert=upsert))
    if snapshot is not None and not all(r["success"] for r in results):
        _restore(sandbox, snapshot)
        results = _all_or_none(results)
    return JSONResponse(results)


def _snapshot(sandbox: Sandbox) -> Any:
    org = sandbox.org
    rows = {name: {k: dict(v) for k, v in table.items()} for name, table in org.rows.items()}
    return rows, {k: dict(v) for k, v in org._unique.items()}


def _restore(sandbox: Sandbox, snapshot: Any) -> None:
    sandbox.org.rows, sandbox.org._unique = snapshot


def _type_of(sandbox: Sandbox, record: dict[str, Any]) -> SObject:
    kind = (record.get("attributes") or {}).get("type")
    if not kind:
        raise ApiFault(400, "INVALID_TYPE", "Must send a concrete entity type.")
    try:
        return sandbox.org.sobject(kind)
    except ApiFault:
        raise ApiFault(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.") from None


async def collection_create_update(request: Request, sandbox: Sandbox, user: str) -> Response:
    records, all_or_none = _records(await _json(request))
    for record in records:
        sandbox.org.check_fields(_type_of(sandbox, record), record)

    def write(record: dict[str, Any]) -> WriteOutcome:
        sobject = _type_of(sandbox, record)
        if request.method == "POST":
            return sandbox.org.create(sobject, record, user)
        record_id = record.get("id") or record.get("Id")
        if not record_id:
            raise RecordFailure("MISSING_ARGUMENT", "Id not specified in an update call", [])
        fields = {k: v for k, v in record.items() if k not in ("id", "Id")}
        return sandbox.org.update(sobject, str(record_id), fields, user)

    return await _collection(sandbox, records, all_or_none, write, upsert=False)


async def collection_upsert(request: Request, sandbox: Sandbox, user: str) -> Response:
    sobject = sandbox.org.sobject(request.path_params["sobject"])
    spec = _external_field(sobject, request.path_params["field"])
    records, all_or_none = _records(await _json(request))
    for record in records:
        if _type_of(sandbox, record).name != sobject.name:
            raise ApiFault(400, "INVALID_TYPE", "all records must be of the type in the URI")
        sandbox.org.check_fields(sobject, record)
    keys = [str(r.get(spec.name, "")).casefold() for r in records]
    repeated = {k for k in keys if k and keys.count(k) > 1}

    def write(record: dict[str, Any]) -> WriteOutcome:
        value = record.get(spec.name)
        if any(k.lower() == "id" for k in record):
            raise RecordFailure(
                "INVALID_FIELD", "Don't use record ids in an upsert by external id", ["Id"]
            )
        if value in (None, ""):
            raise RecordFailure("MISSING_ARGUMENT", f"{spec.name} not specified", [spec.name])
        if str(value).casefold() in repeated:
            raise RecordFailure(
                "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [spec.name]
            )
        matches = sandbox.org.find_by(sobject, spec.name, value)
        if len(matches) > 1:
            ids = ", ".join(m["Id"] for m in matches)
            raise RecordFailure(
                "DUPLICATE_EXTERNAL_ID",
                f"{spec.name}: more than one record found for external id field: [{ids}]",
                [spec.name],
            )
        return _upsert_one(sandbox, sobject, matches, record, user)

    return await _collection(sandbox, records, all_or_none, write, upsert=True)


async def collection_delete(request: Request, sandbox: Sandbox, user: str) -> Response:
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    if len(ids) > COLLECTION_MAX:
        raise ApiFault(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
    prefixes = {obj.prefix: obj.name for obj in sandbox.org.schema.values()}

    def write(record: dict[str, Any]) -> WriteOutcome:
        record_id = record["id"]
        if not is_record_id(record_id) or record_id[:3] not in prefixes:
            raise RecordFailure("MALFORMED_ID", f"malformed id {record_id}", [])
        return WriteOutcome(sandbox.org.delete(prefixes[record_id[:3]], record_id), False)

    return await _collection(sandbox, [{"id": i} for i in ids], all_or_none, write, upsert=False)


async def describe_global(request: Request, sandbox: Sandbox, user: str) -> Response:
    """GET /sobjects/: the objects this user can see, with what it may do with each. The
    integration user has the standard object permissions here, so every object is listed."""
    rows = [
        {
            "name": sobject.name,
            "label": sobject.name,
            "keyPrefix": sobject.prefix,
            "custom": sobject.name.endswith("__c"),
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "urls": {"sobject": f"{request.url.path.rstrip('/')}/{sobject.name}"},
        }
        for sobject in sandbox.org.schema.values()
    ]
    return JSONResponse({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": rows})


async def describe(request: Request, sandbox: Sandbox, user: str) -> Response:
    sobject = sandbox.org.sobject(request.path_params["sobject"])
    fields = [
        {
            "name": spec.name,
            "type": spec.type,
            "length": spec.length or 0,
            "nillable": not spec.required,
            "createable": spec.writable,
            "updateable": spec.writable,
            "externalId": spec.external_id,
            "unique": spec.unique,
            "restrictedPicklist": spec.restricted,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False}
                for v in spec.picklist
            ],
            "referenceTo": [spec.reference_to] if spec.reference_to else [],
            "relationshipName": spec.relationship,
        }
        for spec in sobject.fields.values()
    ]
    return JSONResponse({"name": sobject.name, "keyPrefix": sobject.prefix, "fields": fields})


def id18(value: str) -> str:
    return to18(value)
