"""Owners as the Owners API shows them, and as the options of `hubspot_owner_id`.

Facts from HubSpot's owners guide and reference
(https://developers.hubspot.com/docs/api-reference/crm-crm-owners-v3/guide):

* the list takes `email` (a filter), `after` (the cursor from `paging.next.after`), `limit`
  (default 100, at most 500) and `archived` ("whether to return only results that have been
  archived", default false);
* an owner is `id`, `email`, `type` (PERSON or QUEUE), `firstName`, `lastName`, `userId`,
  `userIdIncludingInactive`, `createdAt`, `updatedAt`, `archived` and `teams`; an archived
  owner keeps its `id` but its `userId` is null (the user id moves to `userIdIncludingInactive`);
* one owner is read by `id`, or by `userId` with `idProperty=userId`;
* the owner `id` (not `userId`) is what `hubspot_owner_id` takes: the active owners are that
  property's options (`owner_options`), enforced by `properties.coerce_input`.

The routes are in `owner_routes.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .clock import iso_from_ms
from .errors import JsonDict
from .settings import SandboxOwner


def render_owner(owner: SandboxOwner) -> JsonDict:
    """`PublicOwner`."""
    return {
        "id": owner.id,
        "email": owner.email,
        "type": owner.type,
        "firstName": owner.first_name,
        "lastName": owner.last_name,
        "userId": None if owner.archived else owner.user_id,
        "userIdIncludingInactive": owner.user_id,
        "createdAt": iso_from_ms(owner.created_ms),
        "updatedAt": iso_from_ms(owner.updated_ms or owner.created_ms),
        "archived": owner.archived,
        "teams": [],
    }


def owner_label(owner: SandboxOwner) -> str:
    return " ".join(p for p in (owner.first_name, owner.last_name) if p) or owner.email or owner.id


def owner_options(owners: Sequence[SandboxOwner]) -> list[JsonDict]:
    """The options of `hubspot_owner_id`: the active owners, by id (what a write must send)."""
    active = sorted((o for o in owners if not o.archived), key=lambda o: int(o.id))
    return [
        {"value": owner.id, "label": owner_label(owner), "displayOrder": order, "hidden": False}
        for order, owner in enumerate(active)
    ]
