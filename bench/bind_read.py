"""A page of updates' binding reads alone: the source's by external id, the target's by key.

`bench/engine_incremental.py` measures the whole run, where the reads are ~10 % of an update.
This script opens a copy of a store prepared by `bench/engine_incremental.py --prepare DIR`,
picks `--records N` of its ERP customers (a fixed draw), and reads their bindings `--reps K`
times as a page of updates does: `BindingResolver.bound_bindings` on a fresh resolver (the
source's bindings by external id, with the keys) and `load_known` (the target's by key), their
snapshots decoded into `Binding`s. It prints the CPU µs a record; under callgrind with
`CALLGRIND=1`, the instructions of the reads alone (`callgrind.control`):

    CALLGRIND=1 PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        --collect-atstart=no --toggle-collect=functools_reduce .venv/bin/python \\
        bench/bind_read.py --prepare DIR --records 909 --reps 5

The dump's total over records times reps is a record's (both of its bindings).
"""

from __future__ import annotations

import argparse
import inspect
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import callgrind  # bench/callgrind.py

from connector import gctune
from connector.config import RouteConfig, load_config
from connector.engine.resolver import BindingResolver
from connector.engine.stages.plan import load_known
from connector.model import Entity
from connector.state.store import StateStore, open_store

ENTITY = Entity.CUSTOMER


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare", type=Path, required=True, help="engine_incremental's DIR")
    parser.add_argument("--records", type=int, default=909)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        shutil.copyfile(args.prepare / "state.db", directory / "state.db")
        config = load_config(args.prepare / "config.yaml")
        route = config.routes["erp-to-crm"]
        store = open_store(f"sqlite:///{directory / 'state.db'}")
        try:
            with gctune.fewer_collections():  # (as a run: `SyncService.run_route`)
                measure(store, route, args.records, args.reps)
        finally:
            store.engine.dispose()


def measure(store: StateStore, route: RouteConfig, count: int, reps: int) -> None:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT external_id FROM bindings WHERE system = ? ORDER BY id", (route.source,)
        )
        ids = [external_id for (external_id,) in rows]
    page = random.Random(16).sample(ids, count)

    # (a tree before bindread reads the target's bindings by key in `load_known`)
    paired = "other" in inspect.signature(BindingResolver.bound_bindings).parameters
    with_target: Any = (route.target,) if paired else ()

    def read() -> int:
        refs = BindingResolver(store, route.source)
        keys, source = refs.bound_bindings(ENTITY, page, *with_target)
        known = load_known(store, ENTITY, route, keys.values(), source=True, source_read=source)
        return len(known.target) + len(known.source)

    read()  # warm: the pages in SQLite's cache, as a run's earlier pages leave them
    print(f"{read()} bindings read for {len(page)} records")
    callgrind.each_step({"read": read}, reps, count)


if __name__ == "__main__":
    main()
