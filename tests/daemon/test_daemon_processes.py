"""`connector daemon` as real processes: SIGTERM, SIGKILL mid-drain, two daemons on one store.

The source is an in-memory CRM kept in a JSON file (seeded before the daemons start, then only
read); the target is the sample ERP, a SQLite database, so several processes write one system
and duplicates would show as extra rows.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.state import schema
from connector.state.store import open_store

from .processes import HANG_SECONDS, erp_numbers, setup, start, stop, wait

pytestmark = pytest.mark.e2e


def test_sigkill_while_draining_the_inbox_loses_and_doubles_nothing(tmp_path: Path) -> None:
    total = 1200
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    # A short lease: the killed daemon's hold on the inbox must run out for the second one.
    config = setup(tmp_path, state_url, total, schedule=None, daemon={"lease_seconds": 3})
    store = open_store(state_url, tmp_path)
    crm_ids = [f"cu-{n}" for n in range(1, total + 1)]  # the memory adapter's own ids
    store.enqueue_events(
        [
            {"source": "crm", "event_id": f"evt-{i}", "entity": "customer", "external_id": i}
            for i in crm_ids
        ]
    )
    daemon = start(config, tmp_path / "first.log")
    try:
        wait(lambda: len(erp_numbers(tmp_path)) > 0, HANG_SECONDS, "the first synced", [daemon])
        daemon.kill()
        daemon.wait(HANG_SECONDS)
        synced_before = len(erp_numbers(tmp_path))
        assert 0 < synced_before < total, "the kill must land mid-drain"
        daemon = start(config, tmp_path / "second.log")
        wait(lambda: store.inbox_depth() == 0, HANG_SECONDS, "an empty inbox", [daemon])
        assert stop(daemon) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    with store.engine.connect() as conn:
        statuses = {row[0] for row in conn.execute(select(schema.inbox.c.status))}
    assert statuses == {"done"}
    assert store.failures() == []
    store.close()


def test_two_daemons_on_one_server_store(tmp_path: Path, server_url: str) -> None:
    total = 400
    # Both daemons run this config, each on a port of its own (port 0). Nobody is killed here,
    # so no lease needs to run out: the long default keeps a holder the machine's load starves
    # for a few seconds from losing the route mid-run, which would make two runs overlap.
    config = setup(tmp_path, server_url, total, schedule="every 1s")
    # Each daemon's first ERP write waits for its gate: whichever takes the route first holds
    # it, its lease renewed, for as long as the test likes, so the other's scheduled runs (one
    # a second) must find the route taken. Without the gates two fast runs may never collide.
    gates = [tmp_path / "gate-a", tmp_path / "gate-b"]
    daemons = [
        start(config, tmp_path / "a.log", held=("hold", str(gates[0]))),
        start(config, tmp_path / "b.log", held=("hold", str(gates[1]))),
    ]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    store = open_store(server_url, tmp_path)
    try:
        held = [gate.with_name(f"{gate.name}.held") for gate in gates]
        wait(lambda: any(path.exists() for path in held), HANG_SECONDS, "a run held", daemons)
        other = logs[1] if held[0].exists() else logs[0]
        wait(
            lambda: '"event":"run.skipped"' in other.read_text(),
            HANG_SECONDS,
            "the other daemon's run skipped while the route is held",
            daemons,
        )
        for gate in gates:
            gate.touch()
        wait(lambda: len(erp_numbers(tmp_path)) == total, HANG_SECONDS, "every record", daemons)
        # Let both keep competing for the route for a few more scheduled runs.
        wait(lambda: len(store.last_runs(50)) >= 4, HANG_SECONDS, "more scheduled runs", daemons)
        assert [stop(daemon) for daemon in daemons] == [0, 0]
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.kill()
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    runs = sorted(store.last_runs(500), key=lambda run: run.started_at)
    store.close()
    assert all(run.finished_at is not None for run in runs)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at <= later.started_at, "two runs of the route overlapped"
    texts = [log.read_text() for log in logs]
    assert all('"event":"daemon.stop"' in text for text in texts)
    assert any('"event":"run.skipped"' in text for text in texts)
