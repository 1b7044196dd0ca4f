"""The kinds of record the product syncs (its own module: the CLI needs it at start-up,
before the canonical models are worth building)."""

from __future__ import annotations

from enum import StrEnum


class Entity(StrEnum):
    """The kinds of record the product syncs, in dependency order."""

    CUSTOMER = "customer"
    CONTACT = "contact"
    SALE = "sale"


#: Parents before children: a contact needs its customer, a sale its customer and contact.
ENTITY_ORDER: tuple[Entity, ...] = (Entity.CUSTOMER, Entity.CONTACT, Entity.SALE)
