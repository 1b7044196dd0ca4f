"""What a run did, counted per entity: what the CLI's table and the `runs` row show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.model import Entity


@dataclass
class EntityCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    #: Not created in the target: the route's `create` rule (never, or its `when`) did not allow it.
    skipped: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return (
            self.created + self.updated + self.unchanged + self.deleted + self.skipped + self.failed
        )


@dataclass
class PlannedChange:
    """In a dry run: one write that would have happened."""

    entity: Entity
    source_id: str
    action: str
    paths: list[str]


@dataclass
class RunSummary:
    route: str
    counts: dict[Entity, EntityCounts] = field(default_factory=dict)
    planned: list[PlannedChange] = field(default_factory=list)
    run_id: int | None = None
    status: str = "running"
    error: str | None = None

    def entity(self, entity: Entity) -> EntityCounts:
        return self.counts.setdefault(entity, EntityCounts())

    @property
    def failed(self) -> int:
        return sum(counts.failed for counts in self.counts.values())

    @property
    def writes(self) -> int:
        return sum(c.created + c.updated + c.deleted for c in self.counts.values())

    def as_json(self) -> dict[str, Any]:
        # `vars`, not `dataclasses.asdict`: the counts are flat ints, nothing to copy deeply.
        return {entity.value: dict(vars(counts)) for entity, counts in self.counts.items()}
