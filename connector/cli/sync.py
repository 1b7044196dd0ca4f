"""`connector sync` and `connector resync`: run routes now, or one record now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from connector.cli.common import (
    EXIT_USAGE,
    console,
    exit_code,
    fail,
    handle_errors,
    run_async,
    state,
    summary_table,
)
from connector.config import AppConfig, utc_from_cli
from connector.engine.route_run import RunOptions
from connector.engine.service import SyncService
from connector.engine.summary import EntityCounts, RunSummary
from connector.model import Entity
from connector.runtime import Runtime


async def _sync(
    config: AppConfig, routes: list[str], entities: list[Entity], options: RunOptions
) -> list[RunSummary]:
    summaries = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        tasks: dict[tuple[str, Entity], TaskID] = {}

        def reporter(route: str) -> Callable[[Entity, EntityCounts], None]:
            def show(entity: Entity, counts: EntityCounts) -> None:
                if (route, entity) not in tasks:
                    tasks[(route, entity)] = progress.add_task(f"{route} {entity.value}", counts="")
                text = (
                    f"{counts.created} created, {counts.updated} updated, "
                    f"{counts.unchanged} unchanged, {counts.failed} failed"
                )
                progress.update(tasks[(route, entity)], counts=text)

            return show

        async with Runtime.open(config) as runtime:
            service = SyncService(runtime)
            for route in routes:
                summaries.append(
                    await service.run_route(
                        route,
                        trigger="cli",
                        entities=entities,
                        options=options,
                        progress=reporter(route),
                    )
                )
    return summaries


@handle_errors
def sync(
    routes: Annotated[
        list[str] | None, typer.Argument(help="Routes to run (default: all).")
    ] = None,
    entity: Annotated[
        list[Entity] | None, typer.Option("--entity", "-e", help="Only these entities.")
    ] = None,
    full: Annotated[bool, typer.Option(help="Ignore the cursors: re-read everything.")] = False,
    since: Annotated[
        str | None, typer.Option(help="Re-read changes since this ISO time (cursor untouched).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nowhere.")
    ] = False,
) -> None:
    """Run routes once: pull changes since the last run and push them."""
    config = state.config()
    chosen = routes or list(config.routes)
    for route in chosen:
        config.route(route)
    try:
        since_time = utc_from_cli(since) if since else None
    except ValueError:
        fail(f"--since {since!r} is not an ISO-8601 time", EXIT_USAGE)
    options = RunOptions(dry_run=dry_run, full=full, since=since_time)
    summaries = run_async(_sync(config, chosen, entity or [], options))
    console.print(summary_table(summaries, dry_run=dry_run))
    if dry_run:
        for summary in summaries:
            for change in summary.planned[:50]:
                console.print(
                    f"  {change.action} {change.entity.value} {change.source_id}: "
                    f"{', '.join(change.paths)}",
                    highlight=False,
                )
            if len(summary.planned) > 50:
                console.print(f"  … and {len(summary.planned) - 50} more")
    failed = sum(summary.failed for summary in summaries)
    if failed:
        console.print(f"{failed} records failed: see `connector failures list`.")
    raise typer.Exit(exit_code(summaries))


@handle_errors
def resync(
    entity: Annotated[Entity, typer.Argument(help="customer, contact or sale")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The record's id at the source.")],
    route: Annotated[str, typer.Option("--route", "-r", help="The route to sync it through.")],
) -> None:
    """Sync one record now, whatever the cursors and hashes say."""
    config = state.config()
    config.route(route)

    async def go() -> RunSummary:
        async with Runtime.open(config) as runtime:
            return await SyncService(runtime).sync_ids(
                route, entity, [record_id], trigger="cli", force=True
            )

    summary = run_async(go())
    console.print(summary_table([summary]))
    raise typer.Exit(exit_code([summary]))
