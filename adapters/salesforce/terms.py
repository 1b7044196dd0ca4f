"""How Salesforce stores what it is sent, as pure functions: for the mapping convergence check
(`connector mappings check --convergence`) and the adapter alike.

* An empty string is stored as null; `AnnualRevenue` (currency 18,0) keeps no decimals.
* `StageOutcome` is the adapter's reading of the read-only `IsWon`/`IsClosed`, which follow the
  stage. Stages are the org's own; the check assumes the default sales process ("Closed Won"
  won, "Closed Lost" lost, every other stage open).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connector.model import Entity

from .lines import DISCOUNT_AMOUNT
from .objects import LINE_FIELDS, STAGE_OUTCOME, stage_outcome

DEFAULT_STAGES = {"Closed Won": (True, True), "Closed Lost": (True, False)}
_WHOLE_UNITS = frozenset({"AnnualRevenue"})


def normalize_native(entity: Entity, field: str, value: Any, *, line: bool) -> Any:
    if value == "":
        return None
    if not line and field in _WHOLE_UNITS and value is not None:
        try:
            return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        except InvalidOperation:
            return value
    return value


def computed_native(entity: Entity, fields: Mapping[str, Any], *, line: bool) -> dict[str, Any]:
    if line or entity is not Entity.SALE or "StageName" not in fields:
        return {}
    closed, won = DEFAULT_STAGES.get(str(fields.get("StageName") or ""), (False, False))
    return {STAGE_OUTCOME: stage_outcome(won, closed)}


def native_line_fields(entity: Entity) -> frozenset[str] | None:
    return frozenset([*LINE_FIELDS, DISCOUNT_AMOUNT]) if entity is Entity.SALE else None
