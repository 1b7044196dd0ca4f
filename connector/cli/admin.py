"""`connector check` and `connector db upgrade`.

`check` goes as far as it can and reports every problem at once: the configuration, the mapping
files (including their types, `connector.mapping.typecheck`), then, unless `--offline`, each
system live: the adapter opens (the ERP's tables and columns are reflected) and its `probe`
makes one cheap authenticated call per thing it needs (token, scopes, base URL, readable tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from connector.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    JsonFlag,
    console,
    emit_json,
    errors,
    handle_errors,
    quiet_http_log,
    report,
    run_async,
    state,
)

if TYPE_CHECKING:
    from connector.adapter import Adapter
    from connector.config import AppConfig
    from connector.errors import Problem
    from connector.mapping.live_check import Findings
    from connector.model import Entity

db_app = typer.Typer(help="The sync-state store.", no_args_is_help=True)


def built_adapters(config: AppConfig) -> dict[str, Adapter]:
    """Every configured system's adapter, built but not opened (for checks)."""
    from connector.runtime import build_adapter

    return {name: build_adapter(config, system) for name, system in config.systems.items()}


def mapping_problems(
    config: AppConfig, adapters: dict[str, Adapter], *, live: bool = True
) -> list[Problem]:
    """Problems in the mapping files of every (system, entity) a route uses, types included.

    `live=False` (`check --offline`) asks the adapters nothing: their native fields and types
    may need a connection (the ERP reflects its tables), so only the files and the canonical
    model are checked then.
    """
    from connector.mapping.catalog import MappingCatalog
    from connector.mapping.typecheck import type_problems

    pairs: list[tuple[str, str]] = []
    for route in config.routes.values():
        for system in (route.source, route.target):
            if adapters[system].mapper_source() is not None:
                continue  # the adapter brings its own mapping
            kind = config.systems[system].kind
            pairs += [
                (kind, entity.value)
                for entity in route.entities
                if (kind, entity.value) not in pairs
            ]
    by_kind = {config.systems[name].kind: adapter for name, adapter in adapters.items()}

    def declared(kind: str, entity: Entity) -> frozenset[str] | None:
        return by_kind[kind].native_fields(entity)

    def native_types(kind: str, entity: Entity) -> Mapping[str, type | None] | None:
        hook = getattr(by_kind[kind], "native_types", None)  # optional (typecheck.py)
        return hook(entity) if hook is not None else None

    catalog = MappingCatalog(config.mappings_dir)
    problems = catalog.check(pairs, declared if live else None)
    if problems:
        return problems
    return type_problems(catalog, pairs, native_types if live else None)


def _capability_problems(config: AppConfig, adapters: dict[str, Adapter]) -> list[Problem]:
    problems = []
    for index, route in enumerate(config.routes.values()):
        for side, name in (("from", route.source), ("to", route.target)):
            adapter = adapters[name]
            for entity in route.entities:
                if entity not in adapter.capabilities.entities:
                    problems.append(
                        config.locations.problem(
                            ("routes", index, "entities", entity.value),
                            f"system {name!r} ({side}) does not offer {entity.value}",
                        )
                    )
    return problems


async def system_problems(
    config: AppConfig, warnings: list[Problem] | None = None
) -> dict[str, list[Problem]]:
    """Open each system on its own, probe it and hold the mapping files against what it
    describes (`connector.mapping.live_check`); what is wrong, per system. Findings that only
    warn are appended to `warnings`."""
    from connector.adapter import probe_adapter
    from connector.errors import ConnectorError, InvalidConfiguration
    from connector.errors import Problem as Found
    from connector.runtime import build_adapter

    entities = config.entities_by_system()
    found: dict[str, list[Problem]] = {}
    for name, system in config.systems.items():
        adapter = build_adapter(config, system)
        problems: list[Problem] = []
        try:
            opened = await adapter.open()
            if opened:
                problems += opened
            else:
                problems += await probe_adapter(adapter, entities[name])
            if not problems:
                live = await _live_mapping_findings(config, name, adapter, entities[name])
                problems += live.problems
                if warnings is not None:
                    warnings += live.warnings
        except InvalidConfiguration as error:
            problems += error.problems
        except ConnectorError as error:
            problems.append(Found(f"systems.{name}", str(error)))
        finally:
            await adapter.close()
        found[name] = problems
    return found


async def _live_mapping_findings(
    config: AppConfig, name: str, adapter: Adapter, entities: frozenset[Entity]
) -> Findings:
    """The mapping files of `name` held against the fields its system describes."""
    from connector.errors import Problem
    from connector.mapping.catalog import MappingCatalog
    from connector.mapping.live_check import Findings, check_against_schema
    from connector.native_schema import describe_adapter

    found = Findings()
    if adapter.mapper_source() is not None:
        return found  # the adapter brings its own mapping
    kind = config.systems[name].kind
    catalog = MappingCatalog(config.mappings_dir)
    targets = [route for route in config.routes.values() if route.target == name]
    written = {entity for route in targets for entity in route.entities}
    for entity in sorted(entities):
        schema = await describe_adapter(adapter, entity)
        source = catalog.source(kind, entity)
        if schema is None or source is None:
            continue
        for message in schema.problems:
            problem = Problem(f"systems.{name}", message)
            if problem not in found.problems:
                found.problems.append(problem)
        text, shown = source
        result = check_against_schema(
            text,
            shown,
            entity,
            schema,
            written=entity in written,
            compiled=catalog.mapper(kind, entity).fields,
        )
        found.problems += result.problems
        found.warnings += result.warnings
    return found


async def _unknown_values(config: AppConfig) -> list[str]:
    """Values a source holds that its target's closed fields do not know (warnings)."""
    from connector.engine.unknown_values import unknown_values
    from connector.runtime import Runtime

    async with Runtime.open(config) as runtime:
        return await unknown_values(runtime)


@handle_errors
def check(
    offline: Annotated[
        bool, typer.Option("--offline", help="Check files only; contact no system.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check config.yaml, the mapping files and (unless --offline) each system, live."""
    state.json_output = as_json
    config = state.config()
    adapters = built_adapters(config)
    problems = _capability_problems(config, adapters)
    problems += mapping_problems(config, adapters, live=not offline)
    systems: dict[str, list[Problem]] = {}
    warnings: list[str] = []
    live_warnings: list[Problem] = []
    if not offline and not problems:
        from connector.state.store import open_store

        open_store(config.state.url, config.base_dir, timeouts=config.state.timeouts()).close()
        with quiet_http_log():
            systems = run_async(system_problems(config, live_warnings))
        if not any(systems.values()):
            warnings = run_async(_unknown_values(config))
        warnings = [str(w) for w in live_warnings] + warnings
    every = problems + [problem for found in systems.values() for problem in found]
    if as_json:
        emit_json({**_check_document(config, problems, systems, offline), "warnings": warnings})
    for warning in warnings:
        errors.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    for problem in every:
        report(problem)
    if every:
        raise typer.Exit(EXIT_USAGE)
    if not as_json:
        contacted = " (offline: no system contacted)" if offline else "; every system answered"
        console.print(
            f"{config.path}: OK ({len(config.systems)} systems, {len(config.routes)} routes)"
            f"{contacted}",
            highlight=False,
        )
    raise typer.Exit(EXIT_OK)


def _check_document(
    config: AppConfig,
    problems: list[Problem],
    systems: dict[str, list[Problem]],
    offline: bool,
) -> dict[str, Any]:
    def rows(found: list[Problem]) -> list[dict[str, str]]:
        return [{"location": p.location, "message": p.message} for p in found]

    ok = not problems and not any(systems.values())
    return {
        "ok": ok,
        "exit_code": EXIT_OK if ok else EXIT_USAGE,
        "config": str(config.path),
        "offline": offline,
        "problems": rows(problems),
        "systems": {
            name: {
                "checked": name in systems,
                "ok": name in systems and not systems[name],
                "problems": rows(systems.get(name, [])),
            }
            for name in config.systems
        },
    }


@db_app.command("upgrade")
@handle_errors
def upgrade() -> None:
    """Apply the store's pending migrations (also done automatically on first use)."""
    from connector.state.migrate import head_revision
    from connector.state.store import open_store

    config = state.config()
    store = open_store(config.state.url, config.base_dir, timeouts=config.state.timeouts())
    console.print(f"State store at revision {head_revision()}: up to date.")
    store.close()
