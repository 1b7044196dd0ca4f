"""`POST /composite`: a series of REST subrequests in one API call (salesforce.md §2.4).

The body is `{"allOrNone", "collateSubrequests", "compositeRequest": [{method, url,
referenceId, body?, httpHeaders?}]}`; the answer is always 200 with
`{"compositeResponse": [{body, httpHeaders, httpStatusCode, referenceId}]}`, one entry per
subrequest in request order, each carrying what the resource would have answered alone. The
whole series counts as one call against the daily allocation.

* At most 25 subrequests, of which at most 5 are query or sObject Collections operations (the
  5 is documented only by a secondary source, §2.4; the sandbox enforces it so that an adapter
  relying on more fails here first). Either limit refuses the whole request with a 400 (the
  exact errorCode Salesforce uses is unverified; the sandbox answers `INVALID_INPUT`).
* `@{referenceId.path}` in a later subrequest's url or body is replaced by a value of an earlier
  answer (`path` dotted, with `[n]` for array items); a reference to a failed subrequest or to a
  missing value fails the dependent subrequest with `PROCESSING_HALTED`.
* `allOrNone: false` (the adapter's choice): a failed subrequest fails alone. `allOrNone: true`:
  the first failure rolls back every write of the series, and every other subrequest answers
  400 `PROCESSING_HALTED`.
* Subrequests may not set `Authorization`, `Accept` or `Content-Type` (400).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from . import rest
from .org import ApiFault
from .state import Sandbox

MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTIONS = 5
_FORBIDDEN_HEADERS = frozenset({"authorization", "accept", "content-type"})
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_DATA = "/services/data/{version}"

#: What a subrequest may call: the REST routes the adapter uses, without the per-call wrapper
#: (the composite call as a whole was counted, authenticated and faulted once).
_ROUTES = [
    Route(_DATA + "/query", rest.query, methods=["GET"]),
    Route(_DATA + "/queryAll", rest.query, methods=["GET"]),
    Route(_DATA + "/query/{locator}", rest.query_more, methods=["GET"]),
    Route(_DATA + "/sobjects/{sobject}", rest.create_row, methods=["POST"]),
    Route(_DATA + "/sobjects/{sobject}/{record_id}", rest.row, methods=["GET", "PATCH", "DELETE"]),
    Route(_DATA + "/sobjects/{sobject}/{field}/{value}", rest.upsert_row, methods=["PATCH"]),
    Route(_DATA + "/composite/sobjects", rest.collection_create_update, methods=["POST", "PATCH"]),
    Route(_DATA + "/composite/sobjects", rest.collection_delete, methods=["DELETE"]),
    Route(
        _DATA + "/composite/sobjects/{sobject}/{field}", rest.collection_upsert, methods=["PATCH"]
    ),
]


class _Halted(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _is_bulk_kind(url: str) -> bool:
    """Query and sObject Collections subrequests (the ones limited to 5)."""
    path = urlsplit(url).path
    return bool(re.search(r"/(query|queryAll)(/|$)|/composite/sobjects(/|$)", path))


def _dig(value: Any, path: str) -> Any:
    for part in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = part
        if name:
            if not isinstance(value, dict) or name not in value:
                raise KeyError(name)
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(index)
            value = value[int(index)]
    return value


def _resolve(text: str, answers: dict[str, tuple[int, Any]]) -> str:
    def replace(found: re.Match[str]) -> str:
        reference, path = found.group(1), found.group(2)
        answer = answers.get(reference)
        if answer is None or answer[0] >= 400:
            raise _Halted(f"Invalid reference specified. No value for {reference}{path} found")
        try:
            value = _dig(answer[1], path)
        except KeyError:
            raise _Halted(
                f"Invalid reference specified. No value for {reference}{path} found"
            ) from None
        return value if isinstance(value, str) else json.dumps(value)

    return _REFERENCE.sub(replace, text)


async def _call(
    outer: Request, sandbox: Sandbox, user: str, method: str, url: str, body: Any
) -> tuple[int, Any]:
    parts = urlsplit(url)
    payload = b"" if body is None else json.dumps(body).encode()
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "headers": [(b"content-type", b"application/json")],
        "scheme": outer.url.scheme,
        "server": (outer.url.hostname or "localhost", outer.url.port or 443),
        "app": outer.scope["app"],
    }
    for route in _ROUTES:
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope.update(child)
            break
    else:
        raise ApiFault(404, "NOT_FOUND", "The requested resource does not exist")
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    request = Request(scope, receive)
    response: Response = await route.endpoint(request, sandbox, user)
    content = bytes(response.body) if response.body else b""
    return response.status_code, json.loads(content) if content else None


def _halted(reference: str, message: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": reference,
    }


def _check(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise ApiFault(400, "JSON_PARSER_ERROR", "compositeRequest: expected an array")
    items = body["compositeRequest"]
    if not items or not all(isinstance(i, dict) for i in items):
        raise ApiFault(400, "JSON_PARSER_ERROR", "compositeRequest: expected subrequest objects")
    if len(items) > MAX_SUBREQUESTS:
        raise ApiFault(
            400,
            "INVALID_INPUT",
            f"Composite requests cannot have more than {MAX_SUBREQUESTS} subrequests",
        )
    if sum(_is_bulk_kind(str(i.get("url", ""))) for i in items) > MAX_QUERY_OR_COLLECTIONS:
        raise ApiFault(
            400,
            "INVALID_INPUT",
            f"Composite requests cannot have more than {MAX_QUERY_OR_COLLECTIONS} query or "
            "sObject Collections subrequests",
        )
    references = [i.get("referenceId") for i in items]
    if any(not isinstance(r, str) or not r for r in references):
        raise ApiFault(400, "INVALID_INPUT", "every subrequest needs a referenceId")
    if len(set(references)) != len(references):
        raise ApiFault(400, "INVALID_INPUT", "referenceId values must be unique")
    for item in items:
        headers = {str(k).lower() for k in (item.get("httpHeaders") or {})}
        if headers & _FORBIDDEN_HEADERS:
            raise ApiFault(
                400, "INVALID_INPUT", "Authorization, Accept and Content-Type are not allowed"
            )
        if not str(item.get("url", "")).startswith("/services/data/"):
            raise ApiFault(400, "INVALID_INPUT", "a subrequest url starts with /services/data/")
    return items, bool(body.get("allOrNone", False))


async def composite(request: Request, sandbox: Sandbox, user: str) -> Response:
    items, all_or_none = _check(await rest._json(request))
    snapshot = rest._snapshot(sandbox) if all_or_none else None
    answers: dict[str, tuple[int, Any]] = {}
    results: list[dict[str, Any]] = []
    failed_at: int | None = None
    for index, item in enumerate(items):
        reference = item["referenceId"]
        try:
            url = _resolve(str(item["url"]), answers)
            body = item.get("body")
            if body is not None:
                body = json.loads(_resolve(json.dumps(body), answers))
            status, answer = await _call(
                request, sandbox, user, str(item.get("method", "GET")), url, body
            )
        except _Halted as halted:
            results.append(_halted(reference, halted.message))
            answers[reference] = (400, None)
        except ApiFault as fault:
            results.append(
                {
                    "body": fault.body(),
                    "httpHeaders": {},
                    "httpStatusCode": fault.status,
                    "referenceId": reference,
                }
            )
            answers[reference] = (fault.status, None)
        else:
            results.append(
                {
                    "body": answer,
                    "httpHeaders": {},
                    "httpStatusCode": status,
                    "referenceId": reference,
                }
            )
            answers[reference] = (status, answer)
        if all_or_none and results[-1]["httpStatusCode"] >= 400:
            failed_at = index
            break
    if snapshot is not None and failed_at is not None:
        rest._restore(sandbox, snapshot)
        message = (
            "The transaction was rolled back since another operation in the same transaction "
            "failed."
        )
        results = [
            result if i == failed_at else _halted(result["referenceId"], message)
            for i, result in enumerate(results)
        ]
        results += [_halted(item["referenceId"], message) for item in items[failed_at + 1 :]]
    return JSONResponse({"compositeResponse": results})
