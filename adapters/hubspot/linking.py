"""Associations and line items around a batch of written records (the I/O half).

Batch upsert does not take inline associations (only create does, hubspot.md §3.3), so after
the objects are written their associations go through the v4 batch endpoints, with the type id
for each direction from `associations.TYPE_IDS`. A deal's line items are replaced as a whole:
new line items are created with the deal association inline (type 20, line item → deal), and
only once all of a deal's new lines exist are its previous ones archived. A deal whose new lines
failed keeps its old lines and loses the partial new ones, so a deal never shows half a change;
a replay re-reads what is attached and replaces it again, which also sweeps up strays left by a
create that timed out after HubSpot had acted on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.errors import RecordError, TransientError

from . import associations as assoc
from .client import HubSpotClient
from .errors import batch_item_error
from .objects import LINE_ITEMS
from .settings import ASSOCIATIONS_CLASS
from .writes import chunks


async def read_associations(
    client: HubSpotClient, from_type: str, to_type: str, ids: Sequence[str]
) -> dict[str, list[tuple[str, frozenset[int]]]]:
    """`from id → [(to id, type ids)]`, following per-input paging."""
    found: dict[str, list[tuple[str, frozenset[int]]]] = {}
    path = client.paths.association_batch(from_type, to_type, "read")
    pending: list[dict[str, str]] = [{"id": i} for i in dict.fromkeys(ids)]
    while pending:
        batch, pending = pending[: assoc.BATCH_READ_LIMIT], pending[assoc.BATCH_READ_LIMIT :]
        _, body = await client.call(
            "POST",
            path,
            json={"inputs": batch},
            endpoint_class=ASSOCIATIONS_CLASS,
            idempotent=True,
        )
        body = body or {}
        for from_id, targets in assoc.parse_batch_read(body).items():
            found.setdefault(from_id, []).extend(targets)
        for result in body.get("results") or []:
            after = ((result.get("paging") or {}).get("next") or {}).get("after")
            if after:
                pending.append({"id": str((result.get("from") or {}).get("id")), "after": after})
    return found


async def create_associations(
    client: HubSpotClient, from_type: str, to_type: str, links: Sequence[assoc.Link]
) -> dict[str, RecordError]:
    """Creates links (idempotent in HubSpot); returns errors by `from` id."""
    errors: dict[str, RecordError] = {}
    path = client.paths.association_batch(from_type, to_type, "create")
    unique = list(dict.fromkeys(links))
    for batch in chunks(unique, assoc.BATCH_CREATE_LIMIT):
        _, body = await client.call(
            "POST",
            path,
            json=assoc.batch_create_body(from_type, to_type, batch),
            endpoint_class=ASSOCIATIONS_CLASS,
            idempotent=True,
        )
        for entry in (body or {}).get("errors") or []:
            error = batch_item_error(entry)
            ids = (entry.get("context") or {}).get("fromObjectId") or []
            targets = [str(i) for i in ids] or [link.from_id for link in batch]
            for from_id in targets:
                errors.setdefault(from_id, error)
    return errors


async def remove_associations(
    client: HubSpotClient, from_type: str, to_type: str, removals: Mapping[str, Iterable[str]]
) -> None:
    path = client.paths.association_batch(from_type, to_type, "archive")
    inputs = [
        {"from": {"id": from_id}, "to": [{"id": to_id} for to_id in to_ids]}
        for from_id, to_ids in removals.items()
        if to_ids
    ]
    for batch in chunks(inputs, assoc.BATCH_ARCHIVE_LIMIT):
        await client.call(
            "POST",
            path,
            json={"inputs": list(batch)},
            endpoint_class=ASSOCIATIONS_CLASS,
            idempotent=True,
        )


async def set_associations(
    client: HubSpotClient,
    from_type: str,
    wanted: Mapping[str, Mapping[str, str | None]],
    *,
    replace: set[str],
) -> dict[str, RecordError]:
    """Makes each record's association of each carried type point at the wanted id.

    `wanted`: record id → {"company": id or None}. For records in `replace` (updates), other
    associations of that type are removed, so moving a contact to another company does not
    leave it linked to both.
    """
    errors: dict[str, RecordError] = {}
    for pseudo, to_type in assoc.PSEUDO_TO_OBJECT.items():
        if to_type not in assoc.CARRIED.get(from_type, ()):
            continue
        targets = {rid: pairs[pseudo] for rid, pairs in wanted.items() if pseudo in pairs}
        if not targets:
            continue
        try:
            links = [assoc.Link(rid, to_id) for rid, to_id in targets.items() if to_id]
            errors.update(await create_associations(client, from_type, to_type, links))
            stale_ids = [rid for rid in targets if rid in replace and rid not in errors]
            if stale_ids:
                existing = await read_associations(client, from_type, to_type, stale_ids)
                removals = {
                    rid: [t for t, _ in existing.get(rid, []) if t != targets[rid]]
                    for rid in stale_ids
                }
                await remove_associations(client, from_type, to_type, removals)
        except (RecordError, TransientError) as exc:
            error = RecordError(
                f"record saved, but its {pseudo} association failed: {exc}",
                code=getattr(exc, "code", None) or "ASSOCIATION_FAILED",
                retryable=True,
            )
            for rid in targets:
                errors.setdefault(rid, error)
    return errors


async def replace_line_items(
    client: HubSpotClient,
    lines_by_deal: Mapping[str, Sequence[Mapping[str, str]]],
    batch_size: int,
) -> dict[str, RecordError]:
    """Replaces each deal's line items with the given ones; returns errors by deal id."""
    if not lines_by_deal:
        return {}
    errors: dict[str, RecordError] = {}
    deal_ids = list(lines_by_deal)
    try:
        existing = await read_associations(client, "deals", LINE_ITEMS, deal_ids)
    except (RecordError, TransientError) as exc:
        error = _line_error("its line items were not replaced", exc)
        return dict.fromkeys(deal_ids, error)
    inputs: list[dict[str, Any]] = []
    for deal_id, lines in lines_by_deal.items():
        for index, line in enumerate(lines):
            inputs.append(
                {
                    "properties": dict(line),
                    "associations": [assoc.inline_association(LINE_ITEMS, "deals", deal_id)],
                    "objectWriteTraceId": f"{deal_id}:{index}",
                }
            )
    path = client.paths.batch(LINE_ITEMS, "create")
    for batch in chunks(inputs, batch_size):
        batch_deals = {str(i["objectWriteTraceId"]).rsplit(":", 1)[0] for i in batch}
        try:
            _, body = await client.call("POST", path, json={"inputs": list(batch)})
        except (RecordError, TransientError) as exc:
            error = _line_error("its line items were not replaced", exc)
            for deal_id in batch_deals:
                errors.setdefault(deal_id, error)
            continue
        for entry in (body or {}).get("errors") or []:
            traces = (entry.get("context") or {}).get("objectWriteTraceId") or []
            # An error that names no input cannot be placed: it fails every deal of the batch.
            failed_deals = {str(t).rsplit(":", 1)[0] for t in traces} or batch_deals
            for deal_id in failed_deals:
                errors.setdefault(deal_id, batch_item_error(entry))
    # Which line items are new is read back from the deals' associations rather than from the
    # create results, whose `objectWriteTraceId` echo is not something to depend on.
    try:
        now_attached = await read_associations(client, "deals", LINE_ITEMS, deal_ids)
    except (RecordError, TransientError) as exc:
        error = _line_error("its new line items could not be confirmed", exc)
        return {deal_id: errors.get(deal_id, error) for deal_id in deal_ids}
    created: dict[str, list[str]] = {}
    for deal_id in deal_ids:
        before = {t for t, _ in existing.get(deal_id, [])}
        created[deal_id] = [t for t, _ in now_attached.get(deal_id, []) if t not in before]
        if deal_id not in errors and len(created[deal_id]) != len(lines_by_deal[deal_id]):
            errors[deal_id] = RecordError(
                "HubSpot did not confirm every new line item", code="NO_RESULT", retryable=True
            )
    # Failed deals keep their old lines and drop the new partial ones; the rest drop the old.
    to_archive: list[str] = []
    for deal_id in deal_ids:
        new_ids = set(created[deal_id])
        if deal_id in errors:
            to_archive.extend(new_ids)
        else:
            to_archive.extend(t for t, _ in existing.get(deal_id, []) if t not in new_ids)
    archive_path = client.paths.batch(LINE_ITEMS, "archive")
    try:
        for batch_ids in chunks(list(dict.fromkeys(to_archive)), batch_size):
            await client.call(
                "POST",
                archive_path,
                json={"inputs": [{"id": i} for i in batch_ids]},
                idempotent=True,
            )
    except (RecordError, TransientError) as exc:
        error = _line_error("its old line items were not removed", exc)
        for deal_id in deal_ids:
            errors.setdefault(deal_id, error)
    return errors


def _line_error(what: str, exc: Exception) -> RecordError:
    code = getattr(exc, "code", None)
    return RecordError(
        f"deal saved, but {what}: {exc}",
        code=code if isinstance(code, str) else "LINE_ITEMS_FAILED",
        retryable=True,
    )
