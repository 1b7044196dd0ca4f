"""Associations between records: HubSpot-defined type ids by direction, and their storage.

Type ids are directional (hubspot.md §3.2): contact→company 279 unlabeled / 1 primary, its
inverse 280 / 2; deal→company 341 / 5 (inverse 342 / 6); deal→contact 3 (inverse 4); line
item→deal 20 (inverse 19). Creating one direction stores the inverse too, and a primary
association also creates the unlabeled one, as the docs say.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError

CATEGORY = "HUBSPOT_DEFINED"


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_type: str
    to_type: str
    inverse_id: int
    label: str | None  # "Primary" for primary types, None for unlabeled
    unlabeled_id: int | None = None  # for a primary type: its unlabeled twin


_PAIRS: tuple[tuple[int, str, str, int, str | None, int | None], ...] = (
    (279, "contacts", "companies", 280, None, None),
    (1, "contacts", "companies", 2, "Primary", 279),
    (341, "deals", "companies", 342, None, None),
    (5, "deals", "companies", 6, "Primary", 341),
    (3, "deals", "contacts", 4, None, None),
    (20, "line_items", "deals", 19, None, None),
    (450, "companies", "companies", 450, None, None),
    (451, "deals", "deals", 451, None, None),
)

TYPES: dict[int, AssociationType] = {}
for _id, _from, _to, _inverse, _label, _unlabeled in _PAIRS:
    TYPES[_id] = AssociationType(_id, _from, _to, _inverse, _label, _unlabeled)
    if _inverse != _id:
        _twin = None if _unlabeled is None else TYPES[_unlabeled].inverse_id
        TYPES[_inverse] = AssociationType(_inverse, _to, _from, _id, _label, _twin)

DEFAULT_TYPE: dict[tuple[str, str], int] = {
    (t.from_type, t.to_type): t.type_id for t in TYPES.values() if t.label is None
}


def resolve_type_id(type_id: int, from_type: str, to_type: str) -> AssociationType:
    """The association type, checked against the direction in the request (else 400)."""
    found = TYPES.get(type_id)
    if found is None or (found.from_type, found.to_type) != (from_type, to_type):
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{type_id} is not a valid association type id from {from_type} to {to_type}",
            sub_category="crm.associations.INVALID_OBJECT_IDS",
        )
    return found


def default_type_id(from_type: str, to_type: str) -> int:
    found = DEFAULT_TYPE.get((from_type, to_type))
    if found is None:
        raise ApiError(
            400, "VALIDATION_ERROR", f"No association is defined from {from_type} to {to_type}"
        )
    return found


def type_name(kind: AssociationType) -> str:
    """v3-style association type name shown in `associations=` reads."""
    from_single = {"contacts": "contact", "companies": "company", "deals": "deal",
                   "line_items": "line_item"}.get(kind.from_type, kind.from_type)  # fmt: skip
    to_single = {"contacts": "contact", "companies": "company", "deals": "deal",
                 "line_items": "line_item"}.get(kind.to_type, kind.to_type)  # fmt: skip
    base = f"{from_single}_to_{to_single}"
    return base if kind.label else f"{base}_unlabeled"


class AssociationStore:
    """Edges with their type ids, stored in both directions, indexed by the "from" side."""

    def __init__(self) -> None:
        # (from type, from id, to type) -> {to id: type ids}
        self._out: dict[tuple[str, int, str], dict[int, set[int]]] = {}

    def _types(self, from_type: str, from_id: int, to_type: str, to_id: int) -> set[int]:
        return self._out.setdefault((from_type, from_id, to_type), {}).setdefault(to_id, set())

    def add(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        kind = resolve_type_id(type_id, from_type, to_type)
        ids = [kind.type_id] + ([kind.unlabeled_id] if kind.unlabeled_id else [])
        for one in ids:
            self._types(from_type, from_id, to_type, to_id).add(one)
            self._types(to_type, to_id, from_type, from_id).add(TYPES[one].inverse_id)

    def remove(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int | None = None
    ) -> None:
        """Remove one label (and its inverse), or every association between the two records."""
        forward = self._out.get((from_type, from_id, to_type), {})
        backward = self._out.get((to_type, to_id, from_type), {})
        kind = TYPES.get(type_id) if type_id is not None else None
        if kind is None or kind.label is None:
            # Deleting the unlabeled type removes all labels between the two records.
            forward.pop(to_id, None)
            backward.pop(from_id, None)
            return
        forward.get(to_id, set()).discard(kind.type_id)
        backward.get(from_id, set()).discard(kind.inverse_id)

    def targets(self, from_type: str, from_id: int, to_type: str) -> list[tuple[int, list[int]]]:
        edges = self._out.get((from_type, from_id, to_type), {})
        return sorted((to_id, sorted(types)) for to_id, types in edges.items() if types)

    def linked(self, from_type: str, from_id: int, to_type: str, to_id: int) -> bool:
        return bool(self._out.get((from_type, from_id, to_type), {}).get(to_id))

    def drop_record(self, object_type: str, record_id: int) -> None:
        for key in [k for k in self._out if (k[0], k[1]) == (object_type, record_id)]:
            for to_id in self._out[key]:
                self._out.get((key[2], to_id, object_type), {}).pop(record_id, None)
            del self._out[key]

    def clear(self) -> None:
        self._out.clear()
