"""`connector check`, `connector status` and `connector db upgrade`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from connector.adapter import Adapter
from connector.cli.common import EXIT_USAGE, console, errors, handle_errors, run_async, state
from connector.config import AppConfig
from connector.engine.unknown_values import unknown_values
from connector.errors import ConnectorError, InvalidConfiguration, Problem
from connector.model import Entity
from connector.runtime import Runtime, build_adapter, own_mappers
from connector.state.migrate import head_revision
from connector.state.store import RunStatus, StateStore, open_store

db_app = typer.Typer(help="The sync-state store.", no_args_is_help=True)


def built_adapters(config: AppConfig) -> dict[str, Adapter]:
    """Every configured system's adapter, built but not opened (for checks)."""
    return {name: build_adapter(config, system) for name, system in config.systems.items()}


def mapping_problems(config: AppConfig, adapters: dict[str, Adapter]) -> list[Problem]:
    """Problems in the mapping files of every (system, entity) a route uses."""
    from connector.mapping.catalog import MappingCatalog

    pairs: list[tuple[str, str]] = []
    for route in config.routes.values():
        for system in (route.source, route.target):
            if own_mappers(adapters[system]) is not None:
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

    return MappingCatalog(config.mappings_dir).check(pairs, declared)


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


@handle_errors
def check(
    connect: Annotated[
        bool, typer.Option(help="Also connect to each system and check its schema.")
    ] = True,
) -> None:
    """Check config.yaml, the mapping files and (by default) each system; report every problem."""
    config = state.config()
    adapters = built_adapters(config)
    problems = _capability_problems(config, adapters) + mapping_problems(config, adapters)
    warnings: list[str] = []
    if connect and not problems:

        async def connect_all() -> None:
            async with Runtime.open(config) as runtime:
                warnings.extend(await unknown_values(runtime))

        try:
            run_async(connect_all())
        except InvalidConfiguration as error:
            problems += error.problems
        except ConnectorError as error:
            problems.append(Problem(str(config.path), str(error)))
    for warning in warnings:
        errors.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if problems:
        for problem in problems:
            errors.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE)
    console.print(f"{config.path}: OK ({len(config.systems)} systems, {len(config.routes)} routes)")


@handle_errors
def status() -> None:
    """Routes, their cursors, the last runs and the pending failures."""
    config = state.config()
    store = open_store(config.state.url, config.base_dir, timeouts=config.state.timeouts())
    cursors = store.cursors()
    pending = store.count_failures()
    routes = Table(title="Routes")
    for column in ("route", "from → to", "entity", "cursor", "schedule", "failures"):
        routes.add_column(column)
    for route in config.routes.values():
        schedule = route.schedule
        when = (
            "manual"
            if schedule is None
            else (
                f"every {schedule.every_seconds:g}s"
                if schedule.every_seconds
                else f"cron {schedule.cron}"
            )
        )
        for entity in route.ordered_entities():
            watermark = cursors.get((route.name, entity.value))
            routes.add_row(
                route.name,
                f"{route.source} → {route.target}",
                entity.value,
                watermark.isoformat(timespec="seconds") if watermark else "never",
                when,
                str(pending.get(route.name, 0)),
            )
    console.print(routes)
    _print_failure_outlook(config, store)
    runs = Table(title="Last runs")
    for column in ("id", "route", "trigger", "status", "started", "duration", "counts"):
        runs.add_column(column)
    for run in store.last_runs(10):
        # An abandoned run ended when its process was last seen, not when it was found dead.
        ended = run.heartbeat_at if run.status == RunStatus.ABANDONED else run.finished_at
        duration = (ended - run.started_at).total_seconds() if ended else None
        status = run.status
        if run.status == RunStatus.ABANDONED and run.heartbeat_at:
            status += f" (last seen {run.heartbeat_at.isoformat(timespec='seconds')})"
        totals: dict[str, int] = {}
        for counts in (run.counts or {}).values():
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        runs.add_row(
            str(run.id),
            run.route,
            run.trigger,
            status,
            run.started_at.isoformat(timespec="seconds"),
            f"{duration:.1f}s" if duration is not None else "running",
            ", ".join(f"{k} {v}" for k, v in totals.items() if v) or "-",
        )
    console.print(runs)
    console.print(f"Inbox: {store.inbox_depth()} events waiting.")


def _print_failure_outlook(config: AppConfig, store: StateStore) -> None:
    """Which pending failures the daemon retries on its own, and which wait for a person."""
    attempts = config.daemon.failure_retry_attempts
    automatic = config.daemon.failure_retry_seconds > 0
    for route, outlook in sorted(store.retry_outlook(attempts).items()):
        parts = []
        if outlook.retrying:
            if automatic:
                when = (
                    outlook.next_retry_at.isoformat(timespec="seconds")
                    if outlook.next_retry_at
                    else "at its next look"
                )
                parts.append(f"{outlook.retrying} retried by the daemon with backoff (next {when})")
            else:
                parts.append(f"{outlook.retrying} retryable (automatic retries are off)")
        if outlook.for_a_person:
            parts.append(
                f"{outlook.for_a_person} need a person: not retryable or {attempts} attempts "
                "used (`connector failures list`)"
            )
        console.print(f"Failures of {route}: " + "; ".join(parts) + ".", highlight=False)


@db_app.command("upgrade")
@handle_errors
def upgrade() -> None:
    """Apply the store's pending migrations (also done automatically on first use)."""
    config = state.config()
    store = open_store(config.state.url, config.base_dir, timeouts=config.state.timeouts())
    console.print(f"State store at revision {head_revision()}: up to date.")
    store.close()
