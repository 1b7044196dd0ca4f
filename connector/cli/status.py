"""`connector status`: routes with their cursors and failures, the last runs and why they failed.

`--json` prints one document with the keys described in docs/operations.md ("Scripting").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from connector.cli.common import JsonFlag, console, emit_json, handle_errors, state

if TYPE_CHECKING:
    from connector.config import AppConfig


class RunRecord(Protocol):
    """What status reads of a run (`connector.state.runs.Run`)."""

    @property
    def id(self) -> int: ...
    @property
    def route(self) -> str: ...
    @property
    def trigger(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def finished_at(self) -> dt.datetime | None: ...
    @property
    def heartbeat_at(self) -> dt.datetime | None: ...
    @property
    def counts(self) -> Mapping[str, Any] | None: ...
    @property
    def error(self) -> str | None: ...


class OutlookRecord(Protocol):
    """Pending failures of one route (`connector.state.failures.RetryOutlook`)."""

    retrying: int
    next_retry_at: dt.datetime | None
    for_a_person: int


class StatusSource(Protocol):
    """The store's reads status needs: a `StateStore`, or a `StorePeek` on SQLite."""

    def cursors(self) -> Mapping[tuple[str, str], dt.datetime | None]: ...
    def count_failures_by_entity(self) -> Mapping[tuple[str, str], int]: ...
    def last_runs(self, limit: int) -> Sequence[RunRecord]: ...
    def retry_outlook(self, max_attempts: int) -> Mapping[str, OutlookRecord]: ...
    def inbox_depth(self) -> int: ...
    def close(self) -> None: ...


def status_document(config: AppConfig, store: StatusSource, runs: int) -> dict[str, Any]:
    """What `status` shows, as plain data."""
    from connector.cli.storepeek import ABANDONED
    from connector.engine.blame import RunFailure

    cursors = store.cursors()
    pending = store.count_failures_by_entity()
    routes = []
    for route in config.routes.values():
        entities = []
        for entity in route.ordered_entities():
            watermark = cursors.get((route.name, entity.value))
            entities.append(
                {
                    "entity": entity.value,
                    "cursor": watermark.isoformat(timespec="seconds") if watermark else None,
                    "failures": pending.get((route.name, entity.value), 0),
                }
            )
        routes.append(
            {
                "route": route.name,
                "from": route.source,
                "to": route.target,
                "schedule": route.schedule.describe() if route.schedule else None,
                "entities": entities,
            }
        )
    last = []
    for run in store.last_runs(runs):
        # An abandoned run ended when its process was last seen, not when it was found dead.
        abandoned = run.status == ABANDONED
        ended = run.heartbeat_at if abandoned else run.finished_at
        duration = (ended - run.started_at).total_seconds() if ended else None
        failure = RunFailure.from_text(run.error)
        last.append(
            {
                "id": run.id,
                "route": run.route,
                "trigger": run.trigger,
                "status": run.status,
                "started_at": run.started_at.isoformat(timespec="seconds"),
                "duration_seconds": round(duration, 3) if duration is not None else None,
                "last_seen_at": run.heartbeat_at.isoformat(timespec="seconds")
                if abandoned and run.heartbeat_at
                else None,
                "counts": dict(run.counts or {}),
                "error": None
                if failure is None
                else {
                    "message": failure.message,
                    "system": failure.system,
                    "step": failure.step,
                    "error_class": failure.error_class,
                },
            }
        )
    attempts = config.daemon.failure_retry_attempts
    outlook = {
        route: {
            "retrying": entry.retrying,
            "next_retry_at": entry.next_retry_at.isoformat(timespec="seconds")
            if entry.next_retry_at
            else None,
            "for_a_person": entry.for_a_person,
        }
        for route, entry in sorted(store.retry_outlook(attempts).items())
    }
    return {
        "routes": routes,
        "failure_outlook": outlook,
        "automatic_retries": config.daemon.failure_retry_seconds > 0,
        "failure_retry_attempts": attempts,
        "runs": last,
        "inbox_waiting": store.inbox_depth(),
    }


@handle_errors
def status(
    as_json: JsonFlag = False,
    runs: Annotated[int, typer.Option(min=1, help="How many of the last runs to show.")] = 10,
) -> None:
    """Routes, their cursors, the last runs (with why a run failed) and pending failures."""
    state.json_output = as_json
    config = state.config(systems=False)
    document = _peeked_document(config, runs)
    if document is None:
        from connector.state.store import open_store

        store = open_store(config.state.url, config.base_dir, timeouts=config.state.timeouts())
        try:
            document = status_document(config, store, runs)
        finally:
            store.close()
    if as_json:
        emit_json(document)
        return
    _print(document)


def _peeked_document(config: AppConfig, runs: int) -> dict[str, Any] | None:
    """The document read straight from a current SQLite store, or None to open the real one.

    The real store (SQLAlchemy) costs a third of status's start-up; it is needed only on
    PostgreSQL, for a store to create or migrate, or when the quick read fails for any reason
    (the real store then says why, as every command does).
    """
    import sqlite3

    from connector.cli.storepeek import peek_store

    peek = peek_store(config.state.url, config.base_dir, config.state.statement_timeout_seconds)
    if peek is None:
        return None
    try:
        return status_document(config, peek, runs)
    except sqlite3.Error:
        return None
    finally:
        peek.close()


def _print(document: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    routes = Table(title="Routes")
    for column in ("route", "from → to", "entity", "cursor", "schedule", "failures"):
        routes.add_column(column)
    for route in document["routes"]:
        for entity in route["entities"]:
            routes.add_row(
                route["route"],
                f"{route['from']} → {route['to']}",
                entity["entity"],
                entity["cursor"] or "never",
                route["schedule"] or "manual",
                str(entity["failures"]),
            )
    console.print(routes)
    _print_failure_outlook(document)
    runs = Table(title="Last runs")
    for column in ("id", "route", "trigger", "status", "started", "duration", "counts"):
        runs.add_column(column)
    for run in document["runs"]:
        totals: dict[str, int] = {}
        for counts in run["counts"].values():
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        duration = run["duration_seconds"]
        status = run["status"]
        if run["last_seen_at"]:
            status += f" (last seen {run['last_seen_at']})"
        runs.add_row(
            str(run["id"]),
            run["route"],
            run["trigger"],
            status,
            run["started_at"],
            f"{duration:.1f}s" if duration is not None else "running",
            ", ".join(f"{k} {v}" for k, v in totals.items() if v) or "-",
        )
    console.print(runs)
    for run in document["runs"]:
        error = run["error"]
        if error is None:
            continue
        where = ", ".join(part for part in (error["system"], error["step"]) if part)
        console.print(
            f"Run {run['id']} ({run['route']}) {run['status']}"
            f"{f' in {escape(where)}' if where else ''}: {escape(error['message'])}",
            highlight=False,
        )
    console.print(f"Inbox: {document['inbox_waiting']} events waiting.")


def _print_failure_outlook(document: dict[str, Any]) -> None:
    """Which pending failures the daemon retries on its own, and which wait for a person."""
    attempts = document["failure_retry_attempts"]
    for route, outlook in document["failure_outlook"].items():
        parts = []
        if outlook["retrying"]:
            if document["automatic_retries"]:
                when = outlook["next_retry_at"] or "at its next look"
                parts.append(
                    f"{outlook['retrying']} retried by the daemon with backoff (next {when})"
                )
            else:
                parts.append(f"{outlook['retrying']} retryable (automatic retries are off)")
        if outlook["for_a_person"]:
            parts.append(
                f"{outlook['for_a_person']} need a person: not retryable or {attempts} attempts "
                "used (`connector failures list`)"
            )
        console.print(f"Failures of {route}: " + "; ".join(parts) + ".", highlight=False)
