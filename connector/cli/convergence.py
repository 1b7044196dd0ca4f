"""`connector mappings check --convergence`: the configured mapping pairs, synced in simulation.

Each route's two systems and entities make a pair; the check (`connector.mapping.convergence`)
runs generated records through both mapping files, with each system's declared native fields and
its own normalisation (the adapters' `native_fields`, `native_line_fields` and
`normalize_native`), and reports what would not settle, at `file:line:column`.
"""

from __future__ import annotations

from connector.adapter import Adapter
from connector.config import AppConfig
from connector.errors import Problem
from connector.mapping.catalog import MappingCatalog
from connector.mapping.convergence import check_pair
from connector.mapping.simulation import Side, mapping_entries, terms_of
from connector.model import Entity


def convergence_problems(
    config: AppConfig, adapters: dict[str, Adapter], *, examples: int, seed: int = 0
) -> list[Problem]:
    """Every finding for every (system, system, entity) the routes sync, each pair once."""
    catalog = MappingCatalog(config.mappings_dir)
    seen: set[tuple[frozenset[str], Entity]] = set()
    problems: list[Problem] = []
    for route in config.routes.values():
        names = (route.source, route.target)
        if any(adapters[n].mapper_source() is not None for n in names):
            continue  # an adapter with its own mapping has no file to check
        for entity in route.entities:
            key = (frozenset(names), entity)
            if key in seen:
                continue
            seen.add(key)
            sides = [_side(config, catalog, adapters, name, entity) for name in names]
            for problem in check_pair(sides[0], sides[1], examples=examples, seed=seed):
                if problem not in problems:
                    problems.append(problem)
    return problems


def _side(
    config: AppConfig,
    catalog: MappingCatalog,
    adapters: dict[str, Adapter],
    name: str,
    entity: Entity,
) -> Side:
    kind = config.systems[name].kind
    mapper = catalog.mapper(kind, entity)
    found = catalog.locate(kind, entity)
    assert found is not None  # the mapper compiled, so its file exists
    entries = mapping_entries(found.read_text(encoding="utf-8"), mapper.source)
    label = f"{name} ({kind})"
    return Side(label, kind, mapper, terms_of(adapters[name]), entries, name=name)
