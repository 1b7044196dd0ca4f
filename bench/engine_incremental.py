"""Incremental runs alone, on a store prepared once: for profilers and instruction counts.

`bench/engine.py` runs a first sync before every incremental run it measures, so a profile of
it (py-spy, callgrind) is mostly the first sync. This script keeps what that first sync made:
`--prepare DIR` runs it once into DIR (the sample ERP and the SQLite store, with the bench's
own configuration and sink); every later call copies DIR's two files to a temporary folder and
runs `--runs K` incremental runs there, each after changing `--changed SHARE` of the customers,
as `bench/engine.py` does. `--reread` adds, after each of them, a run with nothing changed:
the overlap window then reads the same records again, unchanged (a daemon's next minute).

`--pg URL` (at `--prepare` time) keeps the store in a fresh schema of that PostgreSQL server
instead (its URL written to DIR/state.url); later calls then run in place on that schema and on
DIR's ERP, with no copy, so each run starts from where the last one left the store.

`--one-runtime` keeps one `Runtime` open for all the runs, as the daemon does (bench/engine.py,
like `connector sync`, opens one per run): the store's pool, its statements and its SQLite page
cache outlive a run. The runs are otherwise the same.

It prints the CPU µs per record of each run (`time.process_time` around `run_route`, as the
bench). The figure of record stays `bench/engine.py`'s; this one is for looking inside it:

    .venv/bin/python bench/engine_incremental.py --prepare /tmp/p100k --customers 100000
    .venv/bin/py-spy record -o incr.svg -- .venv/bin/python bench/engine_incremental.py \\
        --prepare /tmp/p100k --changed 0.05 --runs 5
    valgrind --tool=callgrind .venv/bin/python bench/engine_incremental.py --prepare /tmp/p100k \\
        --runs 3   # minus the same with --runs 1, over 2: one incremental run's instructions
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine as bench  # bench/engine.py: its sample ERP, configuration, sink and run

from connector.config import load_config
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime


def prepare(folder: Path, customers: int, pg: str | None) -> None:
    """The sample ERP and a store after the first sync of all its customers, in `folder` (the
    store in a fresh schema of the PostgreSQL server `pg` if given)."""
    folder.mkdir(parents=True, exist_ok=True)
    bench.sample_erp(folder / "erp.db", customers)
    state = f"sqlite:///{folder / 'state.db'}"
    if pg is not None:
        state, admin, _schema = bench.fresh_pg_schema(pg)
        admin.dispose()
        (folder / "state.url").write_text(state)
    config = bench.write_config(folder, state)
    handled, cpu, said = asyncio.run(bench.run(config, bench.Sink("crm", "connector_key")))
    print(f"first sync: {said}; {cpu:.2f} CPU s, {cpu / handled * 1e6:.0f} µs/record")


def incremental(folder: Path, share: float, runs: int, reread: bool, keep: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        if (folder / "state.url").exists():  # PostgreSQL: in place
            directory = folder
            state = (folder / "state.url").read_text()
        else:
            for name in ("erp.db", "state.db"):
                shutil.copyfile(folder / name, directory / name)
            state = f"sqlite:///{directory / 'state.db'}"
        config = bench.write_config(directory, state)
        if keep:
            asyncio.run(one_runtime(config, directory / "erp.db", share, runs))
            return
        sink = bench.Sink("crm", "connector_key")
        for attempt in range(runs):
            changed = bench.change_some(directory / "erp.db", share)
            handled, cpu, said = asyncio.run(bench.run(config, sink))
            print(
                f"run {attempt} ({changed} changed): {said}; {cpu * 1e3:.1f} ms CPU, "
                f"{cpu / handled * 1e6:.0f} µs/record"
            )
            if reread:
                handled, cpu, said = asyncio.run(bench.run(config, sink))
                print(
                    f"  read again: {said}; {cpu * 1e3:.1f} ms CPU, "
                    f"{cpu / handled * 1e6:.0f} µs/record"
                )


async def one_runtime(config: Path, erp: Path, share: float, runs: int) -> None:
    """`runs` runs on one runtime, each after changing `share` of the customers; the clock is
    `bench.run`'s (the route's run only)."""
    sink = bench.Sink("crm", "connector_key")
    async with Runtime.open(load_config(config), crm=sink) as runtime:
        for system in ("erp", "crm"):
            runtime.mappers.for_system(system, Entity.CUSTOMER)
        service = SyncService(runtime)
        for attempt in range(runs):
            changed = bench.change_some(erp, share)
            cpu = time.process_time()
            summary = await service.run_route("erp-to-crm", trigger="bench")
            cpu = time.process_time() - cpu
            counts = summary.counts[Entity.CUSTOMER]
            print(
                f"run {attempt} ({changed} changed, one runtime): updated {counts.updated}, "
                f"failed {counts.failed}; {cpu * 1e3:.1f} ms CPU, "
                f"{cpu / max(1, counts.total) * 1e6:.0f} µs/record"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare", type=Path, required=True, metavar="DIR")
    parser.add_argument("--customers", type=int, default=100_000, help="when preparing DIR")
    parser.add_argument("--changed", type=float, default=bench.CHANGED_SHARE)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--reread", action="store_true", help="then a run with no change")
    parser.add_argument("--pg", metavar="URL", help="when preparing: the store on PostgreSQL")
    parser.add_argument("--one-runtime", action="store_true", help="keep one runtime, as a daemon")
    args = parser.parse_args()
    if not (args.prepare / "config.yaml").exists():
        prepare(args.prepare, args.customers, args.pg)
    else:
        incremental(args.prepare, args.changed, max(1, args.runs), args.reread, args.one_runtime)


if __name__ == "__main__":
    main()
