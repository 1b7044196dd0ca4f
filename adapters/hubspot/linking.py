"""Associations and line items around a batch of written records (the I/O half).

Batch upsert does not take inline associations (only create does, hubspot.md §3.3), so after
the objects are written their associations go through the v4 batch endpoints, with the type id
for each direction from `associations.TYPE_IDS`. A deal's line items are records of their own:
matched to the wanted lines by the line key, updated where they differ, created where new,
archived where gone (`sync_line_items`); ids of unchanged and changed lines survive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from connector.adapter import NativeRecord
from connector.batching import chunked
from connector.errors import RecordError, TransientError
from connector.http.paging import dig

from . import associations as assoc
from .client import NEXT_PAGE, HubSpotClient
from .errors import batch_item_error
from .objects import LINE_ITEMS
from .settings import ASSOCIATIONS_CLASS
from .writes import plan_line_items


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
            # Each input has its own cursor: a work queue, not one paged stream.
            after = dig(result, NEXT_PAGE.cursor_path)
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
    for batch in chunked(unique, assoc.BATCH_CREATE_LIMIT):
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
    for batch in chunked(inputs, assoc.BATCH_ARCHIVE_LIMIT):
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


ReadLines = Callable[[Sequence[str]], Awaitable[list[NativeRecord]]]


async def sync_line_items(
    client: HubSpotClient,
    lines_by_deal: Mapping[str, Sequence[Mapping[str, str]]],
    batch_size: int,
    *,
    read_lines: ReadLines,
    key_property: str,
) -> dict[str, RecordError]:
    """Brings each deal's line items to the wanted lines; returns errors by deal id.

    Line items are matched to the wanted lines by `key_property` (`writes.plan_line_items`):
    changed ones are updated in place (their ids survive), new ones created with the deal
    association inline (type 20, line item → deal), vanished ones archived. Reading what is
    attached first makes a replay after a crash find the lines it created and create nothing
    twice. A deal any of whose line writes failed gets a retryable error, so it is not recorded
    as synced and the next run completes it.
    """
    if not lines_by_deal:
        return {}
    deal_ids = list(lines_by_deal)
    try:
        attached = await read_associations(client, "deals", LINE_ITEMS, deal_ids)
        ids = [t for deal_id in deal_ids for t, _ in attached.get(deal_id, [])]
        current = {record.id: record.fields for record in await read_lines(ids)}
    except (RecordError, TransientError) as exc:
        return dict.fromkeys(deal_ids, _line_error("its line items were not read", exc))
    updates: list[dict[str, Any]] = []
    creates: list[dict[str, Any]] = []
    archives: list[dict[str, Any]] = []
    for deal_id, lines in lines_by_deal.items():
        have = [(t, current[t]) for t, _ in attached.get(deal_id, []) if t in current]
        plan = plan_line_items(lines, have, key_property)
        for line_id, changed in plan.updates:
            trace = f"{deal_id}:{line_id}"
            updates.append({"id": line_id, "properties": changed, "objectWriteTraceId": trace})
        for index, line in plan.creates:
            creates.append(
                {
                    "properties": line,
                    "associations": [assoc.inline_association(LINE_ITEMS, "deals", deal_id)],
                    "objectWriteTraceId": f"{deal_id}:new{index}",
                }
            )
        archives.extend({"id": line_id, "deal": deal_id} for line_id in plan.archives)
    errors: dict[str, RecordError] = {}
    await _line_batches(client, "update", updates, batch_size, errors)
    await _line_batches(client, "create", creates, batch_size, errors)
    await _line_batches(client, "archive", archives, batch_size, errors)
    return errors


async def _line_batches(
    client: HubSpotClient,
    operation: str,
    inputs: Sequence[dict[str, Any]],
    batch_size: int,
    errors: dict[str, RecordError],
) -> None:
    """One kind of line-item write in batches; failures land on their deals in `errors`.

    Every call goes through the client's retry policy like any other write; a create is safe to
    retry because the next write of the deal matches line items by key and archives a double.
    """
    path = client.paths.batch(LINE_ITEMS, operation)
    for batch in chunked(list(inputs), batch_size):
        if operation == "archive":
            deals = {str(i["deal"]) for i in batch}
            body_inputs = [{"id": i["id"]} for i in batch]
        else:
            deals = {str(i["objectWriteTraceId"]).rsplit(":", 1)[0] for i in batch}
            body_inputs = list(batch)
        try:
            _, body = await client.call("POST", path, json={"inputs": body_inputs}, idempotent=True)
        except (RecordError, TransientError) as exc:
            if operation == "archive" and getattr(exc, "status", None) == 404:
                continue  # already gone: archiving is what was asked
            for deal_id in deals:
                errors.setdefault(deal_id, _line_error(f"a line item {operation} failed", exc))
            continue
        for entry in (body or {}).get("errors") or []:
            traces = (entry.get("context") or {}).get("objectWriteTraceId") or []
            # An error that names no input cannot be placed: it fails every deal of the batch.
            failed_deals = {str(t).rsplit(":", 1)[0] for t in traces} or deals
            for deal_id in failed_deals:
                error = batch_item_error(entry)
                errors.setdefault(
                    deal_id,
                    RecordError(
                        f"deal saved, but a line item {operation} failed: {error}",
                        code=error.code or "LINE_ITEMS_FAILED",
                        retryable=True,
                    ),
                )
        if operation == "create":
            answered = len((body or {}).get("results") or [])
            if answered + len((body or {}).get("errors") or []) < len(batch):
                for deal_id in deals:
                    errors.setdefault(
                        deal_id,
                        RecordError(
                            "HubSpot did not confirm every new line item",
                            code="NO_RESULT",
                            retryable=True,
                        ),
                    )


def _line_error(what: str, exc: Exception) -> RecordError:
    code = getattr(exc, "code", None)
    return RecordError(
        f"deal saved, but {what}: {exc}",
        code=code if isinstance(code, str) else "LINE_ITEMS_FAILED",
        retryable=True,
    )
