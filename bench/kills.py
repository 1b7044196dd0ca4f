"""SIGKILL during a large push: nothing lost, nothing duplicated, no run left `running`.

Pushes N customers (default 15,000) from a memory CRM (a JSON file) into the sample ERP
(SQLite) with `connector sync` as a real process, killing it with SIGKILL K times (default 20)
at random moments, then runs it once more to the end. A trigger the benchmark puts on the ERP's
customers table logs every insert and update, so the extra writes caused by the kills are
counted against a clean run of the same data. Goal: no record lost or doubled, no `running`
row left, extra writes < 5 % over the clean run.

    .venv/bin/python bench/kills.py [--records 15000] [--kills 20] [--pg URL]

`--pg` puts the state store on PostgreSQL (a fresh schema on that server) instead of SQLite.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

from adapters.erp_generic.sample import (
    create_sample_erp,
    customer_writes,
    log_customer_writes,
    sample_config,
)
from connector.model import Entity
from connector.state.store import open_store
from connector.testing.memory import MemoryAdapter, MemorySettings

CONNECTOR = Path(sys.executable).parent / "connector"
GOAL_EXTRA = 0.05


def prepare(folder: Path, records: int, state_url: str) -> Path:
    folder.mkdir(parents=True)
    create_sample_erp(folder / "erp.db", customers=0, contacts=0, orders=0, products=1)
    log_customer_writes(folder / "erp.db")
    crm = MemoryAdapter("crm", MemorySettings())
    for n in range(records):
        crm.put(Entity.CUSTOMER, {"number": f"C{n:06d}", "name": f"Customer {n}"})
    (folder / "crm.json").write_text(crm.data.model_dump_json())
    config: dict[str, Any] = {
        "state": {"url": state_url},
        "systems": {
            "crm": {"adapter": "memory", "settings": {"path": str(folder / "crm.json")}},
            "erp": {
                "adapter": "erp_generic",
                "settings": sample_config(f"sqlite:///{folder / 'erp.db'}"),
            },
        },
        "routes": [
            {
                "name": "crm-to-erp",
                "from": "crm",
                "to": "erp",
                "entities": {"customer": {"match": ["number"]}},
            }
        ],
        "daemon": {"lease_seconds": 10},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def sync(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CONNECTOR), "--config", str(config), "sync"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=config.parent,
    )


def writes(folder: Path) -> tuple[int, int, int]:
    """(writes, rows, distinct customer numbers) in the ERP."""
    logged, _ = customer_writes(folder / "erp.db")
    with sqlite3.connect(folder / "erp.db") as conn:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT customer_no) FROM customers"
        ).fetchone()
    return int(logged), int(rows), int(distinct)


SCHEMAS: list[str] = []


def state_url_for(folder: Path, pg: str | None) -> str:
    if pg is None:
        return f"sqlite:///{folder / 'state.db'}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(pg)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    SCHEMAS.append(schema)
    joiner = "&" if "?" in pg else "?"
    return f"{pg}{joiner}options=-csearch_path%3D{schema}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=15_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--pg", default=None, help="PostgreSQL URL for the state store")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="bench-kills-"))

    clean = prepare(root / "clean", args.records, state_url_for(root / "clean", args.pg))
    started = time.monotonic()
    assert sync(clean).wait() == 0, "the clean run failed"
    clean_seconds = time.monotonic() - started
    clean_writes, _, _ = writes(root / "clean")

    killed = prepare(root / "killed", args.records, state_url_for(root / "killed", args.pg))
    kills = 0
    started = time.monotonic()
    while kills < args.kills:
        process = sync(killed)
        # Past start-up (about a second) and somewhere in the push.
        deadline = time.monotonic() + rng.uniform(1.0, 1.0 + clean_seconds / 10)
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        if process.poll() is not None:
            break  # it finished first: everything is synced
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    final = sync(killed).wait()
    killed_seconds = time.monotonic() - started
    total_writes, rows, distinct = writes(root / "killed")
    store = open_store(yaml.safe_load(killed.read_text())["state"]["url"], killed.parent)
    runs = store.last_runs(1000)
    store.close()
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    extra = (total_writes - clean_writes) / clean_writes

    print(f"records: {args.records}, store: {'PostgreSQL' if args.pg else 'SQLite'}")
    print(f"clean run: {clean_seconds:.1f} s, {clean_writes} writes")
    print(f"with {kills} SIGKILLs: {killed_seconds:.1f} s in all, final run exit {final}")
    lost, doubled = args.records - distinct, rows - distinct
    print(f"ERP rows: {rows} (distinct {distinct}); lost {lost}, doubled {doubled}")
    print(f"runs by status: {statuses}")
    print(
        f"writes: {total_writes}, extra over the clean run: {extra:.2%} "
        f"(goal < {GOAL_EXTRA:.0%}, ratio {extra / GOAL_EXTRA:.2f})"
    )
    ok = (
        final == 0
        and rows == distinct == args.records
        and statuses.get("running", 0) == 0
        and extra < GOAL_EXTRA
    )
    print("met" if ok else "NOT met")
    if args.pg:
        engine = create_engine(args.pg)
        with engine.begin() as conn:
            for schema in SCHEMAS:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
