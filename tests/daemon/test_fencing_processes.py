"""Leases, fencing and store outages with real processes and faults injected from outside.

* Two daemons on one PostgreSQL (or MariaDB) store; the one running the route freezes itself
  (SIGSTOP) mid-run, right after an ERP commit it has not bound yet, and stays frozen past its
  lease; the other takes the route over; when the first wakes (SIGCONT) while the second's run
  is still going, it writes nothing more and its run ends `lease lost`.
* The PostgreSQL (or MariaDB) store goes silent behind a proxy the test owns (no RST, no
  FIN): `/readyz` says 503 on its own deadline (1.5 s, not the store's timeouts), `connector
  sync` waits it out for `state.outage_seconds` and exits 3, and everything works again once
  the store answers.
* The store's server refuses connections mid-run (a role made NOLOGIN, a password rotated, a
  database dropped): the daemon and `connector sync` stop with exit 2 and the server's reason.
* `connector sync` killed (SIGKILL) mid-push: the next run marks the dead run `abandoned`
  with when it was last seen, and no run stays `running`.

Timeouts and the outage budget are a few seconds here so each test takes seconds; leases are
as short only where one must run out (`processes.setup`).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from adapters.erp_generic.sample import customer_writes, log_customer_writes
from connector.state.store import Run, open_store
from tests.refusing import CASES, refusable_store

from .blackhole import BlackholeProxy
from .processes import (
    CONNECTOR,
    HANG_SECONDS,
    erp_numbers,
    serving_port,
    setup,
    start,
    stop,
    wait,
    wait_stopped,
)

pytestmark = pytest.mark.e2e

SLOW_SOURCE = {"read_delay_seconds": 0.1}  # 50 records per page: 500 records a second


def runs_of(runs: list[Run], pid: int) -> list[Run]:
    prefix = f"{socket.gethostname()}:{pid}:"
    return [run for run in runs if (run.holder or "").startswith(prefix)]


def test_a_frozen_lease_holder_writes_nothing_after_it_wakes(
    tmp_path: Path, server_url: str
) -> None:
    total = 1500
    config = setup(
        tmp_path,
        server_url,
        total,
        schedule="every 1s",
        daemon={"lease_seconds": 1.5},
        crm=SLOW_SOURCE,
    )
    log_customer_writes(tmp_path / "erp.db")
    store = open_store(server_url, tmp_path)
    gate = tmp_path / "gate"
    # The first daemon freezes itself right after its third ERP commit (150 of 1500 records),
    # before it binds them: mid-run, with its lease, whatever the load. The second takes the
    # route over and is held before its first ERP write, its run (and lease) live, until the
    # first has woken and ended: the two runs overlap whatever the load.
    first = start(config, tmp_path / "first.log", held=("stop", "3"))
    second = None
    try:
        wait_stopped(first, "the first daemon's third ERP commit", HANG_SECONDS)
        frozen_at = len(erp_numbers(tmp_path))
        assert 0 < frozen_at < total, "the first run must still be going"
        second = start(config, tmp_path / "second.log", held=("hold", str(gate)))
        try:
            wait(
                lambda: runs_of(store.last_runs(20), second.pid),
                HANG_SECONDS,
                "the second daemon taking the route over",
                [second],
            )
            wait(lambda: gate.with_name("gate.held").exists(), HANG_SECONDS, "2nd run", [second])
        except AssertionError as error:
            log = (tmp_path / "second.log").read_text()[-3000:]
            raise AssertionError(f"{error}; the second daemon's log ends:\n{log}") from None
        first.send_signal(signal.SIGCONT)

        def first_run_ended() -> bool:
            return any(run.finished_at for run in runs_of(store.last_runs(50), first.pid))

        wait(first_run_ended, HANG_SECONDS, "the frozen run's outcome", [first, second])
        assert len(erp_numbers(tmp_path)) < total, "the takeover must overlap the frozen run"
        gate.touch()
        wait(lambda: len(erp_numbers(tmp_path)) == total, HANG_SECONDS, "every record", [second])
        assert stop(first) == 0 and stop(second) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
    runs = store.last_runs(200)
    store.close()
    frozen = runs_of(runs, first.pid)
    taken_over = [run for run in frozen if run.status == "lease lost"]
    assert taken_over, [(run.status, run.error) for run in frozen]
    assert "lease" in (taken_over[0].error or "")
    assert all(run.status != "running" for run in runs)
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    # Only what was in flight at the freeze (at most the two pages of the pipeline) can have
    # been written by both; a frozen holder that kept going would rewrite page after page.
    assert customer_writes(tmp_path / "erp.db")[1] <= 100


def probe_ready(port: int) -> tuple[int, str]:
    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=HANG_SECONDS)
    return response.status_code, str(response.json()["detail"])


def test_a_silent_store_is_an_outage_with_its_own_exit_code(
    tmp_path: Path, server_url: str
) -> None:
    real = make_url(server_url)
    default_port = 5432 if real.get_backend_name() == "postgresql" else 3306
    proxy = BlackholeProxy(real.host or "127.0.0.1", real.port or default_port)
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    total = 1500
    config = setup(
        tmp_path,
        proxied,
        total,
        schedule=None,
        state={"connect_timeout_seconds": 2, "statement_timeout_seconds": 1, "outage_seconds": 4},
        crm=SLOW_SOURCE,
    )
    daemon = start(config, tmp_path / "daemon.log")
    sync = None
    try:
        port = serving_port(tmp_path / "daemon.log", daemon)
        wait(lambda: _ready(port) == 200, HANG_SECONDS, "/readyz 200", [daemon])
        sync = start(config, tmp_path / "sync.log", "sync")
        wait(lambda: len(erp_numbers(tmp_path)) >= 100, HANG_SECONDS, "the sync under way", [sync])
        proxy.silent.set()
        silenced = time.monotonic()
        for _ in range(2):
            # 503 on the probe's own deadline (its detail says so), not after the store's
            # timeouts: a wall-clock bound would measure the machine's load as well.
            status, detail = probe_ready(port)
            assert status == 503 and detail == "store did not answer within 1.5 s", detail
        code = sync.wait(HANG_SECONDS)
        gave_up_after = time.monotonic() - silenced
        stderr = (tmp_path / "sync.log").read_text()
        assert code == 3, stderr
        assert "state store" in stderr and "waiting to resume" in stderr
        assert gave_up_after >= 4, gave_up_after  # it waited the outage budget out first
        assert len(erp_numbers(tmp_path)) < total

        proxy.silent.clear()
        wait(lambda: _ready(port) == 200, HANG_SECONDS, "/readyz 200 after it", [daemon])
        again = subprocess.run(
            [str(CONNECTOR), "--config", str(config), "sync"],
            capture_output=True,
            timeout=HANG_SECONDS,
        )
        assert again.returncode == 0, again.stderr.decode()
        assert stop(daemon) == 0
    finally:
        proxy.close()
        for process in (daemon, sync):
            if process is not None and process.poll() is None:
                process.kill()
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    store = open_store(server_url, tmp_path)
    runs = store.last_runs(10)
    store.close()
    assert [run.status for run in runs] == ["succeeded", "abandoned"] or [
        run.status for run in runs
    ] == ["succeeded", "store unavailable"], [(run.status, run.error) for run in runs]


@pytest.mark.parametrize(
    ("command", "server", "case"),
    [
        ("daemon", "postgresql", "nologin"),
        ("daemon", "mariadb", "password"),
        ("sync", "postgresql", "dropped"),
        ("sync", "mariadb", "dropped"),
    ],
)
def test_a_store_refused_mid_run_stops_the_process_with_exit_2(
    tmp_path: Path, request: pytest.FixtureRequest, command: str, server: str, case: str
) -> None:
    """The store worked; mid-sync its server starts refusing connections (an account that may
    no longer log in, a rotated password, a dropped database). The daemon and `connector sync`
    stop with exit 2 and the server's reason, not as an outage they would wait out (exit 3 or
    never), and never show the store's password."""
    request.getfixturevalue("pg_url" if server == "postgresql" else "mysql_database_url")
    refusable = next(store := refusable_store(server, case))
    try:
        config = setup(tmp_path, refusable.url, 1500, schedule="every 1s", crm=SLOW_SOURCE)
        log = tmp_path / f"{command}.log"
        process = start(config, log, *(() if command == "daemon" else ("sync",)))
        try:
            wait(lambda: len(erp_numbers(tmp_path)) >= 100, HANG_SECONDS, "a sync", [process])
            refusable.refuse()
            code = process.wait(HANG_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
        output = log.read_text()
        assert code == 2, output[-3000:]
        assert re.search("refused the connection|tables are gone", output)
        assert re.search(CASES[(server, case)], output)
        # Ending the sessions may first look like an outage (a lost connection), waited out
        # until the reconnection is refused; an outage alone would end in exit 3, or never.
        assert refusable.secret not in output
        if command == "daemon":
            assert "daemon.store_refused" in output
    finally:
        store.close()


def _ready(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code
    except httpx.HTTPError:
        return 0


def test_a_killed_sync_is_marked_abandoned_by_the_next_run(tmp_path: Path) -> None:
    total = 800
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    config = setup(tmp_path, state_url, total, schedule=None, crm=SLOW_SOURCE)
    sync = start(config, tmp_path / "killed.log", "sync")
    try:
        wait(lambda: len(erp_numbers(tmp_path)) >= 100, HANG_SECONDS, "the sync under way", [sync])
        sync.kill()
        sync.wait(HANG_SECONDS)
    finally:
        if sync.poll() is None:
            sync.kill()
    store = open_store(state_url, tmp_path)
    killed = store.last_runs(1)[0]
    assert killed.status == "running" and killed.heartbeat_at is not None
    again = subprocess.run(
        [str(CONNECTOR), "--config", str(config), "sync"],
        capture_output=True,
        timeout=HANG_SECONDS,
    )
    assert again.returncode == 0, again.stderr.decode()
    runs = store.last_runs(10)
    store.close()
    assert [run.status for run in runs] == ["succeeded", "abandoned"]
    abandoned = runs[1]
    assert abandoned.id == killed.id
    assert f"last seen {killed.heartbeat_at.isoformat(timespec='seconds')}" in (
        abandoned.error or ""
    )
    numbers = erp_numbers(tmp_path)
    assert len(numbers) == total and len(set(numbers)) == total
    status = subprocess.run(
        [str(CONNECTOR), "--config", str(config), "status"],
        capture_output=True,
        timeout=HANG_SECONDS,
    )
    assert "abandoned (last seen" in status.stdout.decode()
