"""Issue 13: a real `connector sync crm-to-erp`, SIGKILLed right after the foreign ERP committed
an insert (before the binding reached the store), then run again — on a schema with no
`sync_key` column, found again by its `reference:` column or by its `required:` natural key.
HubSpot companies (the sandbox over loopback) land in the ERP exactly once, with no failure."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.hubspot.sandbox import create_app
from tests.e2e.conftest import TOKEN, run_cli, serve
from tests.erp_generic.erp_writable import ENTITIES, MAPPINGS, create_foreign_erp

COMPANIES = 60
KILLS = 3
#: Only against a hang: on a loaded machine a run may take minutes; nothing here is timed.
HANG_SECONDS = 600
REPO = Path(__file__).resolve().parents[2]


def lookup(mode: str) -> dict[str, Any]:
    """The customer entity with no sync_key: its CRM id in `crm_ref`, or found by its name."""
    customer = {k: v for k, v in ENTITIES["customer"].items() if k != "reference"}
    if mode == "reference":
        return {**customer, "reference": ENTITIES["customer"]["reference"]}
    return {**customer, "required": ["name1"]}


def write_config(directory: Path, erp_url: str, sandbox_url: str, mode: str) -> Path:
    # Not "mappings": a process started in `directory` would import it as the shipped package.
    folder = directory / "erp-mappings" / "erp_generic"
    folder.mkdir(parents=True)
    (folder / "customer.yaml").write_text(yaml.safe_dump(MAPPINGS["customer"], sort_keys=False))
    config = {
        "version": 1,
        "state": {"url": f"sqlite:///{directory / 'state.db'}"},
        "mappings": "erp-mappings",
        "systems": {
            "erp": {
                "adapter": "erp_generic",
                # Small transactions: many commits per run, so many places to die after one.
                "settings": {
                    "url": erp_url,
                    "batch_size": 3,
                    "entities": {"customer": lookup(mode)},
                },
            },
            "crm": {
                "adapter": "hubspot",
                "settings": {
                    "base_url": sandbox_url,
                    "auth": {"kind": "token", "token": TOKEN},
                    # Pages of six at HubSpot's 5 searches/s: a run lasts seconds, not
                    # milliseconds, so a kill can land in its middle.
                    "search_page_size": 6,
                },
            },
        },
        "routes": [{"name": "crm-to-erp", "from": "crm", "to": "erp", "entities": ["customer"]}],
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def kunden(erp_db: Path) -> list[tuple[str, str | None]]:
    """The ERP's customers created from the CRM: (name, crm_ref)."""
    with sqlite3.connect(erp_db) as db:
        found = db.execute("SELECT name1, crm_ref FROM kunde WHERE kd_id > 1 ORDER BY kd_id")
        return [(str(name), ref) for name, ref in found]


def bound(state_db: Path) -> dict[str, str]:
    """Canonical key → the ERP id it is bound to."""
    with sqlite3.connect(state_db) as db:
        try:
            rows = db.execute(
                "SELECT key, external_id FROM bindings WHERE entity = 'customer' AND system = 'erp'"
            ).fetchall()
        except sqlite3.OperationalError:
            return {}  # not created yet: the first process died before its migrations
    return dict(rows)


def sync(config: Path, *, stop_after_commit: int | None = None) -> subprocess.Popen[bytes]:
    """`connector sync crm-to-erp`; with `stop_after_commit`, one that freezes itself right
    after that many ERP transactions have committed (`stop_after_commit.py`)."""
    command = ["-m", "connector"]
    if stop_after_commit is not None:
        command = ["-m", "tests.erp_generic.stop_after_commit", str(stop_after_commit)]
    return subprocess.Popen(
        [sys.executable, *command, "--config", str(config), "sync", "crm-to-erp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def kill_after_an_erp_commit(config: Path, erp_db: Path, state_db: Path, commits: int) -> int:
    """Run a sync, freeze it the moment its `commits`-th ERP transaction has committed (before
    that batch's bindings reach the store) and SIGKILL it there; returns how many ERP rows were
    left without a binding."""
    process = sync(config, stop_after_commit=commits)
    deadline = time.monotonic() + HANG_SECONDS
    while not (waited := os.waitpid(process.pid, os.WUNTRACED | os.WNOHANG))[0]:
        assert time.monotonic() < deadline, "the run neither committed nor ended"
        time.sleep(0.01)
    if not os.WIFSTOPPED(waited[1]):
        output = process.stdout.read().decode() if process.stdout else ""
        raise AssertionError(f"the run ended before its ERP commit {commits}:\n{output}")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    rows = len(kunden(erp_db))
    assert rows < COMPANIES, "the kill should land mid-run"
    return rows - len(bound(state_db))


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["reference", "natural_key"])
def test_sigkill_between_erp_insert_and_binding_never_duplicates(tmp_path: Path, mode: str):
    erp_db = tmp_path / "erp.db"
    erp_url = f"sqlite:///{erp_db}"
    create_foreign_erp(erp_url)
    state_db = tmp_path / "state.db"
    with contextmanager(serve)(create_app()) as sandbox:
        with sandbox.client() as client:
            names = [f"Firma {n:02d} GmbH" for n in range(COMPANIES)]
            created = client.post(
                "/crm/v3/objects/companies/batch/create",
                json={"inputs": [{"properties": {"name": name}} for name in names]},
            )
            assert created.status_code == 201, created.text
            company_ids = {r["properties"]["name"]: r["id"] for r in created.json()["results"]}
        config = write_config(tmp_path, erp_url, sandbox.url, mode)
        run_cli(config, "hubspot", "setup")

        # Killed right after an ERP commit, before its bindings, in each of KILLS runs: after
        # the first run's first commit, the second's second, …; each run after the first also
        # finds again the rows the one before left unbound.
        for commits in range(1, KILLS + 1):
            unbound = kill_after_an_erp_commit(config, erp_db, state_db, commits)
            assert unbound > 0, f"kill {commits} did not land between an ERP commit and its binding"

        final = sync(config)
        output = final.communicate(timeout=HANG_SECONDS)[0].decode()
        assert final.returncode == 0, output
        again = sync(config)
        output = again.communicate(timeout=HANG_SECONDS)[0].decode()
        assert again.returncode == 0, output

    rows = kunden(erp_db)
    assert sorted(name for name, _ in rows) == sorted(names), "lost or duplicated customers"
    if mode == "reference":
        assert {ref: name for name, ref in rows} == {i: n for n, i in company_ids.items()}
    with sqlite3.connect(state_db) as db:
        failures = db.execute("SELECT external_id, code, message FROM failures").fetchall()
        crm = dict(
            db.execute(
                "SELECT key, external_id FROM bindings WHERE entity = 'customer' AND system = 'crm'"
            ).fetchall()
        )
    assert failures == [], "no failure, permanent or pending"
    # Every CRM company bound to exactly one ERP row, and every ERP row bound once.
    with sqlite3.connect(erp_db) as db:
        ids = {str(kd_id) for (kd_id,) in db.execute("SELECT kd_id FROM kunde WHERE kd_id > 1")}
    erp = bound(state_db)
    assert sorted(crm.values()) == sorted(company_ids.values())
    assert set(erp) == set(crm) and sorted(erp.values()) == sorted(ids)
