"""`connector sync` and `connector resync`: run routes now, or one record now.

On a terminal a live progress display shows each route and entity; off a terminal (cron, CI,
a pipe) a plain progress line goes to stderr every `CONNECTOR_PROGRESS_SECONDS` (default 5), so
a long sync is never silent. Log lines print above the live display instead of tearing it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    JsonFlag,
    console,
    emit_json,
    exit_code,
    fail,
    handle_errors,
    quiet_http_log,
    run_async,
    state,
    summary_json,
    summary_table,
)
from connector.entity import Entity

if TYPE_CHECKING:
    from connector.config import AppConfig
    from connector.engine.route_run import RunOptions
    from connector.engine.summary import EntityCounts, RunSummary
    from connector.runtime import Runtime

PROGRESS_ENV = "CONNECTOR_PROGRESS_SECONDS"


def _counts_text(counts: EntityCounts) -> str:
    return (
        f"{counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.failed} failed"
    )


class PlainProgress:
    """Off a terminal: one line per route and entity at most every few seconds, on stderr."""

    def __init__(self) -> None:
        self.every = float(os.environ.get(PROGRESS_ENV, "5"))
        self.last: dict[tuple[str, Entity], float] = {}

    def show(
        self, route: str, entity: Entity, counts: EntityCounts, *, final: bool = False
    ) -> None:
        now = time.monotonic()
        last = self.last.get((route, entity))
        if not final and last is not None and now - last < self.every:
            return
        if last is None and not final:
            # The first line waits one interval too: a quick sync prints only its summary.
            self.last[(route, entity)] = now
            if self.every > 0:
                return
        self.last[(route, entity)] = now
        sys.stderr.write(f"progress: {route} {entity.value}: {_counts_text(counts)}\n")
        sys.stderr.flush()


async def refuse_unhealthy(runtime: Runtime, routes: list[str]) -> None:
    """Probe each system the routes use before running them: a rejected token must not pass
    as "nothing changed" when a run happens to have nothing to write (`Probing`)."""
    from connector.adapter import probe_adapter
    from connector.errors import InvalidConfiguration

    problems = []
    with quiet_http_log():
        for system, entities in runtime.config.entities_by_system(routes).items():
            if entities:
                problems += await probe_adapter(runtime.adapters[system], entities)
    if problems:
        raise InvalidConfiguration(problems)


async def _sync(
    config: AppConfig, routes: list[str], entities: list[Entity], options: RunOptions
) -> list[RunSummary]:
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    from connector.engine.service import SyncService
    from connector.runtime import Runtime

    summaries = []
    live = console.is_terminal and not state.json_output
    plain = PlainProgress()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not live,
        redirect_stderr=True,
    ) as progress:
        tasks: dict[tuple[str, Entity], TaskID] = {}

        def reporter(route: str) -> Callable[[Entity, EntityCounts], None]:
            def show(entity: Entity, counts: EntityCounts) -> None:
                if not live:
                    plain.show(route, entity, counts)
                    return
                if (route, entity) not in tasks:
                    tasks[(route, entity)] = progress.add_task(f"{route} {entity.value}", counts="")
                progress.update(tasks[(route, entity)], counts=_counts_text(counts))

            return show

        async with Runtime.open(config) as runtime:
            await refuse_unhealthy(runtime, routes)
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
    as_json: JsonFlag = False,
) -> None:
    """Run routes once: pull changes since the last run and push them."""
    from connector.config import utc_from_cli
    from connector.engine.route_run import RunOptions

    state.json_output = as_json
    config = state.config()
    chosen = routes or list(config.routes)
    for route in chosen:
        config.route(route)
    try:
        since_time = utc_from_cli(since) if since else None
    except ValueError:
        fail(f"--since {since!r} is not an ISO-8601 time (e.g. 2026-01-31T08:00:00Z)", EXIT_USAGE)
    options = RunOptions(dry_run=dry_run, full=full, since=since_time)
    summaries = run_async(_sync(config, chosen, entity or [], options))
    code = exit_code(summaries)
    if as_json:
        emit_json(
            {
                "ok": code == 0,
                "exit_code": code,
                "dry_run": dry_run,
                "runs": [summary_json(summary) for summary in summaries],
                "planned": [
                    {
                        "route": summary.route,
                        "action": change.action,
                        "entity": change.entity.value,
                        "source_id": change.source_id,
                        "paths": change.paths,
                    }
                    for summary in summaries
                    for change in summary.planned
                ],
            }
        )
        raise typer.Exit(code)
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
    raise typer.Exit(code)


@handle_errors
def resync(
    entity: Annotated[Entity, typer.Argument(help="customer, contact or sale")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="The record's id at the source.")],
    route: Annotated[str, typer.Option("--route", "-r", help="The route to sync it through.")],
    as_json: JsonFlag = False,
) -> None:
    """Sync one record now, whatever the cursors and hashes say."""
    from connector.engine.service import SyncService
    from connector.runtime import Runtime

    state.json_output = as_json
    config = state.config()
    chosen = config.route(route)
    if entity not in chosen.entities:
        fail(f"route {route!r} does not carry {entity.value}", EXIT_USAGE)

    async def go() -> RunSummary | None:
        async with Runtime.open(config) as runtime:
            await refuse_unhealthy(runtime, [route])
            found = await runtime.adapters[chosen.source].read(entity, [record_id])
            known = runtime.store.keys_for(entity.value, chosen.source, [record_id])
            if not found and not known:
                return None  # neither there nor ever synced: nothing to do, and say so
            return await SyncService(runtime).sync_ids(
                route, entity, [record_id], trigger="cli", force=True
            )

    summary = run_async(go())
    if summary is None:
        fail(
            f"{chosen.source} has no {entity.value} with id {record_id!r} and none was ever "
            f"synced; check the id (route {route!r} reads from {chosen.source})",
            EXIT_FAILED,
        )
    code = exit_code([summary])
    if as_json:
        emit_json({"ok": code == 0, "exit_code": code, "runs": [summary_json(summary)]})
    else:
        console.print(summary_table([summary]))
    raise typer.Exit(code)
