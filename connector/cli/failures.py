"""`connector failures list|show|retry|discard`: inspect and repair records that failed."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli.common import (
    EXIT_USAGE,
    JsonFlag,
    console,
    emit_json,
    exit_code,
    fail,
    handle_errors,
    run_async,
    state,
    summary_table,
)

if TYPE_CHECKING:
    from connector.config import AppConfig
    from connector.engine.summary import RunSummary
    from connector.state.store import Failure, StateStore


app = typer.Typer(
    help="Records that could not be synced, and what to do with them.", no_args_is_help=True
)


def _store(*, systems: bool = False) -> tuple[AppConfig, StateStore]:
    from connector.state.store import open_store

    config = state.config(systems=systems)
    return config, open_store(config.state.url, config.base_dir, timeouts=config.state.timeouts())


@app.command("list")
@handle_errors
def list_failures(
    route: Annotated[str | None, typer.Option(help="Only this route.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also resolved and discarded ones.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List failed records, newest problem last; `retry?` says what the daemon does with each."""
    from rich.table import Table

    from connector.state.store import FailureStatus

    state.json_output = as_json
    config, store = _store()
    rows = store.failures(route=route, status=None if all_ else FailureStatus.PENDING, limit=limit)
    if as_json:
        attempts = config.daemon.failure_retry_attempts
        emit_json(
            {
                "failures": [
                    {
                        **_failure_json(failure, payload=False),
                        "retry": _retry_note(failure, attempts),
                    }
                    for failure in rows
                ]
            }
        )
        return
    if not rows:
        console.print("No failures.")
        return
    table = Table(title="Failures")
    for column in (
        "id",
        "route",
        "entity",
        "record",
        "stage",
        "error",
        "attempts",
        "retry?",
        "status",
    ):
        # Folded, never cut: a long reason (a JSON body, a URL) is what a person needs whole.
        table.add_column(column, overflow="fold")
    for failure in rows:
        table.add_row(
            str(failure.id),
            failure.route,
            failure.entity,
            failure.external_id,
            failure.stage,
            f"{failure.code or failure.error_class}: {failure.message}",
            str(failure.attempts),
            _retry_note(failure, config.daemon.failure_retry_attempts),
            failure.status,
        )
    console.print(table)


def _retry_note(failure: Failure, max_attempts: int) -> str:
    """Whether the daemon retries this failure by itself, and when."""
    from connector.state.store import FailureStatus

    if failure.status != FailureStatus.PENDING:
        return "-"
    if not failure.retryable:
        return "no: fix the data"
    if failure.attempts >= max_attempts:
        return f"no: {failure.attempts} attempts used"
    if failure.next_retry_at is None:
        return "yes, due"
    return f"yes, at {failure.next_retry_at.isoformat(timespec='seconds')}"


def _failure_json(failure: Failure, *, payload: bool) -> dict[str, Any]:
    data = dataclasses.asdict(failure)
    if not payload:
        data.pop("payload", None)
    for name in ("created_at", "updated_at", "next_retry_at"):
        value = data.get(name)
        data[name] = value.isoformat() if value is not None else None
    return data


def _pick(store: StateStore, ids: list[int], everything: bool) -> list[Failure]:
    if not ids and not everything:
        fail("name failure ids, or pass --all", EXIT_USAGE)
    chosen: list[Failure] = store.failures(ids=None if everything else ids)
    if ids and len(chosen) != len(set(ids)):
        missing = sorted(set(ids) - {failure.id for failure in chosen})
        fail(
            f"no pending failure with id {', '.join(map(str, missing))} "
            "(see `connector failures list`)",
            EXIT_USAGE,
        )
    return chosen


@app.command("show")
@handle_errors
def show(
    failure_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """Everything known about one failure, with the record as the source sent it."""
    state.json_output = as_json
    _, store = _store()
    rows = store.failures(ids=[failure_id], status=None)
    if not rows:
        fail(f"no failure with id {failure_id} (see `connector failures list --all`)", EXIT_USAGE)
    failure = rows[0]
    if as_json:
        emit_json(_failure_json(failure, payload=True))
        return
    for name in (
        "id",
        "route",
        "entity",
        "external_id",
        "key",
        "stage",
        "error_class",
        "code",
        "message",
        "retryable",
        "attempts",
        "status",
        "created_at",
        "updated_at",
    ):
        console.print(f"[bold]{name}[/bold]: {getattr(failure, name)}", highlight=False)
    console.print("[bold]payload[/bold]:")
    console.print_json(json.dumps(failure.payload, default=str))


@app.command("retry")
@handle_errors
def retry(
    ids: Annotated[list[int] | None, typer.Argument(metavar="[ID]...")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every pending failure.")] = False,
) -> None:
    """Re-read the failed records from their source and sync them again."""
    from connector.engine.service import SyncService
    from connector.runtime import Runtime

    config, store = _store(systems=True)
    chosen = _pick(store, ids or [], all_)
    if not chosen:
        console.print("No failures to retry.")
        return

    async def go() -> list[RunSummary]:
        async with Runtime.open(config, store=store) as runtime:
            return await SyncService(runtime).retry_failures(chosen)

    summaries = run_async(go())
    console.print(summary_table(summaries))
    left = store.failures(ids=[failure.id for failure in chosen])
    console.print(f"{len(chosen) - len(left)} of {len(chosen)} resolved.")
    raise typer.Exit(exit_code(summaries))


@app.command("discard")
@handle_errors
def discard(
    ids: Annotated[list[int] | None, typer.Argument(metavar="[ID]...")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Discard every pending failure.")] = False,
) -> None:
    """Give up on failed records (they stay listed with --all, as discarded)."""
    _, store = _store()
    chosen = _pick(store, ids or [], all_)
    count = store.discard_failures([failure.id for failure in chosen])
    console.print(f"Discarded {count} failures.")
