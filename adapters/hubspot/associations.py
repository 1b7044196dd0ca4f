"""Association type ids and the v4 association request bodies.

HubSpot association types are directional: the id must match the direction of the request path,
and a wrong-direction id fails with `VALIDATION_ERROR`/`INVALID_OBJECT_IDS`
(HubSpot/hubspot-api-nodejs#646). The ids below are the `HUBSPOT_DEFINED` table of hubspot.md
§3.2 (v4 associations guide): "primary" ids also create the unlabeled association.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HUBSPOT_DEFINED = "HUBSPOT_DEFINED"

#: (from object, to object) → (unlabeled type id, primary type id or None).
TYPE_IDS: Mapping[tuple[str, str], tuple[int, int | None]] = {
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
    ("deals", "contacts"): (3, None),
    ("contacts", "deals"): (4, None),
    ("line_items", "deals"): (20, None),
    ("deals", "line_items"): (19, None),
}

#: The pseudo-field key in native records (`associations: {"company": id}`) → object type.
PSEUDO_TO_OBJECT: Mapping[str, str] = {"company": "companies", "contact": "contacts"}
OBJECT_TO_PSEUDO: Mapping[str, str] = {v: k for k, v in PSEUDO_TO_OBJECT.items()}

#: Per object, the associations the native shape carries (docs/native-shapes.md).
CARRIED: Mapping[str, tuple[str, ...]] = {
    "companies": (),
    "contacts": ("companies",),
    "deals": ("companies", "contacts"),
}

#: v4 batch limits (hubspot.md §3.1): read 1,000 inputs, create 2,000.
BATCH_READ_LIMIT = 1000
BATCH_CREATE_LIMIT = 2000
BATCH_ARCHIVE_LIMIT = 100


def type_id(from_type: str, to_type: str, *, primary: bool = False) -> int:
    """The HubSpot-defined type id for this direction; primary where one exists."""
    try:
        unlabeled, primary_id = TYPE_IDS[(from_type, to_type)]
    except KeyError:
        raise ValueError(f"no HubSpot-defined association {from_type} → {to_type}") from None
    return primary_id if primary and primary_id is not None else unlabeled


def primary_type_ids() -> frozenset[int]:
    return frozenset(p for _, p in TYPE_IDS.values() if p is not None)


def association_spec(from_type: str, to_type: str, *, primary: bool = True) -> dict[str, Any]:
    return {
        "associationCategory": HUBSPOT_DEFINED,
        "associationTypeId": type_id(from_type, to_type, primary=primary),
    }


def inline_association(from_type: str, to_type: str, to_id: str) -> dict[str, Any]:
    """An `associations` entry of a create input (`PublicAssociationsForObject`)."""
    return {"to": {"id": str(to_id)}, "types": [association_spec(from_type, to_type)]}


@dataclass(frozen=True)
class Link:
    from_id: str
    to_id: str


def batch_create_body(from_type: str, to_type: str, links: Iterable[Link]) -> dict[str, Any]:
    """Body of `POST .../associations/{from}/{to}/batch/create` (labeled, primary if any)."""
    spec = association_spec(from_type, to_type)
    unique = list(dict.fromkeys(links))
    if len(unique) > BATCH_CREATE_LIMIT:
        raise ValueError(f"at most {BATCH_CREATE_LIMIT} associations per batch")
    return {
        "inputs": [
            {"from": {"id": link.from_id}, "to": {"id": link.to_id}, "types": [spec]}
            for link in unique
        ]
    }


def batch_read_body(ids: Sequence[str]) -> dict[str, Any]:
    if len(ids) > BATCH_READ_LIMIT:
        raise ValueError(f"at most {BATCH_READ_LIMIT} ids per association read")
    return {"inputs": [{"id": str(i)} for i in dict.fromkeys(ids)]}


def parse_batch_read(body: Mapping[str, Any]) -> dict[str, list[tuple[str, frozenset[int]]]]:
    """`from id → [(to id, type ids)]` from a v4 batch read response."""
    found: dict[str, list[tuple[str, frozenset[int]]]] = {}
    for result in body.get("results") or []:
        from_id = str((result.get("from") or {}).get("id"))
        targets = found.setdefault(from_id, [])
        for target in result.get("to") or []:
            types = frozenset(
                int(t["typeId"]) for t in target.get("associationTypes") or [] if "typeId" in t
            )
            targets.append((str(target.get("toObjectId")), types))
    return found


def pick_primary(
    targets: Sequence[tuple[str, frozenset[int]]], from_type: str, to_type: str
) -> str | None:
    """The associated id the native shape reports: the primary one if marked, else the first."""
    if not targets:
        return None
    pair = TYPE_IDS.get((from_type, to_type))
    primary = pair[1] if pair else None
    if primary is not None:
        for to_id, types in targets:
            if primary in types:
                return to_id
    return targets[0][0]
