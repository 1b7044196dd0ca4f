"""`connector status` reads a current SQLite store with sqlite3 and gets what the store would say.

`connector.cli.storepeek` repeats five of the store's queries without SQLAlchemy (for start-up
time). These tests fill a store through `StateStore` with every kind of row status shows —
cursors set and cleared, pending failures retried automatically or left for a person (due now,
scheduled, out of attempts), resolved ones, finished, failed and abandoned runs, inbox events in
every state — and require the peek and the store to answer the same, query by query and as the
whole `status` document; and that anything the peek cannot read goes to the real store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.cli.status import status_document
from connector.cli.storepeek import (
    ABANDONED,
    INBOX_WAITING,
    PENDING,
    StorePeek,
    peek_store,
    sqlite_path,
)
from connector.config import load_config
from connector.engine.blame import RunFailure
from connector.errors import RecordError
from connector.state.failures import FailureStatus
from connector.state.migrate import MIGRATIONS
from connector.state.runs import RunStatus
from connector.state.store import StateStore, open_store

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 5, 21, 30, 15, 250000, tzinfo=dt.UTC)
MAX_ATTEMPTS = 3


class Clock:
    """The store's clock, moved by hand so rows get distinct, known times."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=7, microseconds=1)
        return self.now


def fail(
    store: StateStore,
    route: str,
    entity: str,
    external_id: str,
    *,
    retryable: bool,
    at: dt.datetime | None = None,
    times: int = 1,
) -> None:
    for _ in range(times):
        with store.transaction() as tx:
            tx.record_failure(
                route,
                entity,
                external_id,
                key=None,
                stage="push",
                error=RecordError("refused", code="VALIDATION"),
                payload={"id": external_id},
                retryable=retryable,
                next_retry_at=at,
            )


def fill(store: StateStore) -> None:
    """Every kind of row `status` reads."""
    later = NOW + dt.timedelta(hours=2)
    with store.transaction() as tx:
        tx.set_cursor("erp-to-crm", "customer", NOW - dt.timedelta(days=1, microseconds=3))
        tx.set_cursor("erp-to-crm", "contact", None)
        tx.set_cursor("crm-to-erp", "sale", NOW.astimezone(dt.timezone(dt.timedelta(hours=5))))
    fail(store, "erp-to-crm", "customer", "1", retryable=True, at=later)
    fail(store, "erp-to-crm", "customer", "2", retryable=True, at=later - dt.timedelta(minutes=9))
    fail(store, "erp-to-crm", "contact", "3", retryable=False)
    fail(store, "erp-to-crm", "contact", "4", retryable=True, times=MAX_ATTEMPTS)  # used up
    fail(store, "crm-to-erp", "sale", "5", retryable=True)  # due at the daemon's next look
    fail(store, "crm-to-erp", "sale", "6", retryable=True, at=later)
    fail(store, "crm-to-erp", "customer", "7", retryable=False)
    with store.transaction() as tx:
        tx.resolve_failure("crm-to-erp", "customer", "7")  # resolved: not counted
    done = store.start_run("erp-to-crm", "manual")
    store.finish_run(done, RunStatus.SUCCEEDED, {"customer": {"created": 3, "updated": 1}})
    failed = store.start_run("crm-to-erp", "schedule")
    reason = RunFailure("the token was refused", system="crm", step="read sale changes")
    store.finish_run(failed, RunStatus.FAILED, {}, error=reason.to_text())
    store.start_run("erp-to-crm", "schedule", holder="host:41:abc")
    store.abandon_runs("erp-to-crm")
    store.start_run("crm-to-erp", "webhook")  # still running: no end, no counts
    store.enqueue_events(
        [
            {"source": "crm", "event_id": f"e{n}", "entity": "customer", "external_id": str(n)}
            for n in range(5)
        ]
    )
    claimed = store.claim_events(limit=2)  # two processing, three pending
    store.complete_events([claimed[0].id])  # one done: not waiting


@pytest.fixture
def filled(tmp_path: Path) -> tuple[StateStore, StorePeek]:
    url = "sqlite:///state.db"
    store = open_store(url, tmp_path, clock=Clock())
    fill(store)
    peek = peek_store(url, tmp_path, busy_seconds=5)
    assert peek is not None
    yield store, peek
    peek.close()
    store.close()


def test_the_status_strings_are_the_stores():
    assert PENDING == FailureStatus.PENDING
    assert ABANDONED == RunStatus.ABANDONED
    assert set(INBOX_WAITING) == {"pending", "processing"}


def test_each_query_answers_as_the_store(filled: tuple[StateStore, StorePeek]):
    store, peek = filled
    assert peek.cursors() == store.cursors()
    assert peek.cursors()[("erp-to-crm", "customer")].tzinfo == dt.UTC
    assert peek.count_failures_by_entity() == store.count_failures_by_entity()
    assert peek.inbox_depth() == store.inbox_depth() == 4
    runs = store.last_runs(10)
    assert [r.status for r in runs] == ["running", ABANDONED, "failed", "succeeded"]
    assert [dataclasses.asdict(r) for r in peek.last_runs(10)] == [
        dataclasses.asdict(r) for r in runs
    ]
    assert len(peek.last_runs(2)) == 2
    expected = {r: dataclasses.asdict(e) for r, e in store.retry_outlook(MAX_ATTEMPTS).items()}
    outlook = {r: dataclasses.asdict(e) for r, e in peek.retry_outlook(MAX_ATTEMPTS).items()}
    assert outlook == expected
    # The fill covers both branches: one route waits for a retry time, the other is due now.
    assert expected["erp-to-crm"]["next_retry_at"] is not None
    assert expected["crm-to-erp"]["next_retry_at"] is None
    assert expected["erp-to-crm"]["for_a_person"] == 2


def test_the_status_document_is_the_same(filled: tuple[StateStore, StorePeek], tmp_path: Path):
    store, peek = filled
    config_file = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.yaml", config_file)
    config = load_config(config_file, systems=False)
    from_store = status_document(config, store, 3)
    assert json.dumps(status_document(config, peek, 3), default=str) == json.dumps(
        from_store, default=str
    )
    assert from_store["runs"][1]["last_seen_at"] is not None  # the abandoned run


def test_what_the_peek_leaves_to_the_store(tmp_path: Path):
    assert sqlite_path(None, tmp_path) == tmp_path / "connector-state.db"
    assert sqlite_path("sqlite:////srv/state.db", tmp_path) == Path("/srv/state.db")
    assert sqlite_path("sqlite:///demo/state.db", tmp_path) == tmp_path / "demo" / "state.db"
    for other in (
        "postgresql://u@h/db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///state.db?timeout=5",
        "sqlite:///my%20state.db",
    ):
        assert sqlite_path(other, tmp_path) is None, other
    assert peek_store("sqlite:///missing.db", tmp_path, 5) is None
    (tmp_path / "empty.db").write_bytes(b"")
    assert peek_store("sqlite:///empty.db", tmp_path, 5) is None  # no alembic_version
    store = open_store("sqlite:///old.db", tmp_path)
    downgrade_one(store)
    store.close()
    assert peek_store("sqlite:///old.db", tmp_path, 5) is None  # migrations pending


def downgrade_one(store: StateStore) -> None:
    """Undo the newest migration, as a store last opened by the previous release would be."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "-1")


def test_status_migrates_a_store_the_peek_cannot_read(tmp_path: Path):
    """A store with a migration pending: `status` takes the real store, which migrates it."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "demo").mkdir()
    store = open_store("sqlite:///demo/state.db", tmp_path)
    run = store.start_run("erp-to-crm", "manual")
    store.finish_run(run, RunStatus.SUCCEEDED, {})
    downgrade_one(store)
    store.close()
    assert peek_store("sqlite:///demo/state.db", tmp_path, 5) is None
    done = subprocess.run(
        [sys.executable, "-m", "connector", "status", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs"][0]["status"] == "succeeded"
    assert peek_store("sqlite:///demo/state.db", tmp_path, 5) is not None  # current again
