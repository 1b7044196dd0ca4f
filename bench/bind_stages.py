"""The engine's two bind stages of a first sync alone, on real records: instructions a record.

`bench/engine.py` measures a whole run, where the ERP read, the mapping and the plan blur a
change to the binds. This script reads `--records N` customers from a sample ERP (`--erp FILE`,
made by `bench/engine.py`'s `sample_erp`), maps and plans them page by page as creates against
a fresh SQLite store, as a first sync does, and runs one stage of each page inside
`functools.reduce`, so that callgrind collects that stage alone:

* `source`: `Binder.record_source` (the source side bound before the write: learning the keys,
  encoding the 27-path snapshot, the transaction and its executemany);
* `results`: `Binder.record_results` given the target's answers (the check of the answered ids,
  the 17-path target snapshot, the transaction and its executemany).

The stage not measured runs too (outside the collection), so the store grows as in a first sync.
Run as

    PYTHONHASHSEED=0 valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect=functools_reduce .venv/bin/python bench/bind_stages.py \\
        --erp /tmp/erp3000.db --records 1000 --pages 3 --stage source

and divide the total by records times pages. Without valgrind it prints CPU µs a record.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine as bench  # bench/engine.py: its configuration and sink

from connector.adapter import WriteResult
from connector.config import load_config
from connector.engine.prepare import new_keys
from connector.engine.resolver import BindingResolver
from connector.engine.stages.bind import Binder
from connector.engine.stages.map import map_page
from connector.engine.stages.plan import Known, PlanRules, plan_page
from connector.model import Entity
from connector.runtime import Runtime

ENTITY = Entity.CUSTOMER


async def stages(erp: Path, records: int, pages: int, stage: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        shutil.copyfile(erp, directory / "erp.db")
        config = load_config(bench.write_config(directory, f"sqlite:///{directory / 'state.db'}"))
        async with Runtime.open(config, crm=bench.Sink("crm", "connector_key")) as runtime:
            await measure(runtime, records, pages, stage)


async def measure(runtime: Runtime, records: int, pages: int, stage: str) -> None:
    route = runtime.config.routes["erp-to-crm"]
    source_mapper = runtime.mappers.for_system(route.source, ENTITY)
    target_mapper = runtime.mappers.for_system(route.target, ENTITY)
    natives = await bench.read_customers(runtime, records * pages)
    store = runtime.store
    source_refs = BindingResolver(store, route.source)
    target_refs = BindingResolver(store, route.target)
    binder = Binder(
        store,
        route,
        source_refs,
        runtime.mappers.for_system,
        dry_run=False,
        source_is_a_target=True,  # as the shipped routes: the ERP is the other route's target
    )
    rules = PlanRules.of(route, ENTITY, frozenset({route.source, "erp_generic"}), False)
    ids = itertools.count(1)
    now = dt.datetime.now(dt.UTC)
    spent = 0.0

    def run(step: Callable[..., Any], measured: bool, *args: Any) -> None:
        nonlocal spent
        if not measured:
            step(*args)
            return
        started = time.process_time()
        functools.reduce(lambda _, __: step(*args), range(1), None)
        spent += time.process_time() - started

    for number in range(pages):
        page = natives[number * records : (number + 1) * records]
        mapped = map_page(page, source_mapper, source_refs)
        keyed = []
        for (native, record), key in zip(
            mapped.records, new_keys(len(mapped.records)), strict=True
        ):
            record.key = key
            keyed.append((native, record, key))
        planned = plan_page(
            keyed, Known(), rules, source_mapper, target_mapper, target_refs, mapped.flats
        )
        unbound = {key for _, _, key in keyed}
        run(binder.record_source, stage == "source", ENTITY, planned.outgoing, unbound)
        outcomes = [
            (item, WriteResult(item.key, str(next(ids)), created=True, updated_at=now))
            for item in planned.outgoing
            if item.write is not None
        ]
        run(binder.record_results, stage == "results", ENTITY, outcomes)
    print(
        f"{stage}: {records * pages} records, {store.count_bindings()} bindings, "
        f"{spent / (records * pages) * 1e6:.1f} CPU µs a record"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--erp", type=Path, required=True, help="a sample ERP (bench/engine.py)")
    parser.add_argument("--records", type=int, default=1000, help="records a page")
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--stage", choices=("source", "results"), required=True)
    args = parser.parse_args()
    asyncio.run(stages(args.erp, args.records, args.pages, args.stage))


if __name__ == "__main__":
    main()
