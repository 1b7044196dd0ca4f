"""The Owners API routes (read-only): `GET /crm/v3/owners` and `GET /crm/v3/owners/{ownerId}`.

Documented (owners guide and reference,
https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide): the list's `email`
filter, `after` cursor, `limit` (default 100, at most 500: more is a 400 "Must be less than or
equal to 500") and `archived` ("whether to return only results that have been archived");
reading one owner by `id`, or by `userId` with `idProperty=userId`. Guesses, as for every
undocumented detail: the cursor's format, the order (by id), the other 400 bodies, and that the
e-mail filter is an exact, case-sensitive match.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .errors import JsonDict, not_found, validation
from .objects import decode_after, encode_after
from .owners import render_owner
from .web import bool_param, reply, sandbox_of

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise validation(f"Invalid limit value: {raw}", limit=["Must be an integer"]) from None
    if limit > MAX_LIMIT:
        too_many = f"Must be less than or equal to {MAX_LIMIT}"
        raise validation("Invalid limit value.", limit=[too_many])
    if limit < 1:
        raise validation("Invalid limit value.", limit=["Must be greater than or equal to 1"])
    return limit


async def list_owners(request: Request) -> Response:
    sandbox = sandbox_of(request)
    limit = _limit(request)
    archived = bool_param(request, "archived")
    email = request.query_params.get("email")
    after = request.query_params.get("after")
    start = decode_after(after) if after else 0
    matching = sorted(
        (
            o
            for o in sandbox.options.owners
            if o.archived == archived and (email is None or o.email == email)
        ),
        key=lambda o: int(o.id),
    )
    page = [o for o in matching if int(o.id) >= start][: limit + 1]
    body: JsonDict = {"results": [render_owner(o) for o in page[:limit]]}
    if len(page) > limit:
        token = encode_after(int(page[limit].id))
        body["paging"] = {"next": {"after": token, "link": f"?after={token}"}}
    return reply(body)


async def get_owner(request: Request) -> Response:
    sandbox = sandbox_of(request)
    key = request.path_params["owner_id"]
    id_property = request.query_params.get("idProperty", "id")
    if id_property not in ("id", "userId"):
        raise validation(f"Invalid idProperty: {id_property}", idProperty=["id", "userId"])
    archived = bool_param(request, "archived")
    for owner in sandbox.options.owners:
        value = owner.id if id_property == "id" else str(owner.user_id)
        if value == key and owner.archived == archived:
            return reply(render_owner(owner))
    raise not_found(f"Could not find owner with {id_property} {key}", ids=[key])
