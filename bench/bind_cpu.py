"""An update's (or a create's) plan and bind work alone, through the engine's own functions.

`bench/stage_cpu.py` times map, decode, plan and encode, its encode a copy of what the bind
stage does. This script reads `--records N` customers from a store prepared by
`bench/engine_incremental.py --prepare DIR`, maps and keys them once (`--case update`: each
renamed, planned against the bindings the store holds; `--case first`: planned as creates, no
bindings), then runs each of these `--reps K` times on the planned writes:

* `plan`: `plan_page` alone (no map);
* `source`: `Binder.source_encoding` of each (flat's encoding forgotten first);
* `target`: `Binder._taken` of each, the target's snapshot and its encoding, with a result
  that took every planned path;
* `bind` (`--case update` only): `Binder.record_results` of the page into the store's copy
  (the target's and the source's bindings written, the transaction committed).

It prints CPU µs a record of each; under callgrind with `CALLGRIND=1`, each step's
instructions in a dump of its own named after it, the set-up neither instrumented nor
collected:

    CALLGRIND=1 PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        --collect-atstart=no --toggle-collect=functools_reduce .venv/bin/python \\
        bench/bind_cpu.py --prepare DIR --records 200 --reps 5

(a dump's total over records times reps is a record's).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import callgrind  # bench/callgrind.py
import engine as bench  # bench/engine.py: its sample ERP, configuration and sink

from connector.adapter import WriteResult
from connector.config import load_config
from connector.engine.resolver import BindingResolver
from connector.engine.stages.bind import Binder
from connector.engine.stages.map import map_page
from connector.engine.stages.plan import Known, PlanRules, plan_page
from connector.model import Entity
from connector.runtime import Runtime

ENTITY = Entity.CUSTOMER


async def main(folder: Path, count: int, case: str, reps: int) -> None:
    # (ignore_cleanup_errors: SQLite may put its -wal/-shm files back while the folder goes, as
    # in stage_cpu.py; what is left behind is removed again below.)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:
        directory = Path(scratch)
        for name in ("erp.db", "state.db"):
            shutil.copyfile(folder / name, directory / name)
        config = load_config(bench.write_config(directory, f"sqlite:///{directory / 'state.db'}"))
        async with Runtime.open(config, crm=bench.Sink("crm", "connector_key")) as runtime:
            await measure(runtime, count, case, reps)
    shutil.rmtree(scratch, ignore_errors=True)


async def measure(runtime: Runtime, count: int, case: str, reps: int) -> None:
    route = runtime.config.routes["erp-to-crm"]
    source_mapper = runtime.mappers.for_system(route.source, ENTITY)
    target_mapper = runtime.mappers.for_system(route.target, ENTITY)
    natives = await bench.read_customers(runtime, count)
    store = runtime.store
    refs = BindingResolver(store, route.source)
    keys = store.keys_for(ENTITY, route.source, [native.id for native in natives])
    bound = store.bindings_for(ENTITY, route.source, keys.values())
    if case == "update":
        for native in natives:
            native.fields["name"] = f"{native.fields['name']} (renamed)"
        known = Known(
            store.bindings_for(ENTITY, route.target, keys.values()),
            bound,
        )
    else:
        known = Known({}, {})
    rules = PlanRules.of(route, ENTITY, frozenset({route.source, "erp_generic"}), False)
    done = map_page(natives, source_mapper, refs)
    keyed = []
    for native, record in done.records:
        record.key = keys[native.id]
        keyed.append((native, record, record.key))
    target_refs = BindingResolver(store, route.target)

    def plan() -> Any:
        return plan_page(keyed, known, rules, source_mapper, target_mapper, target_refs, done.flats)

    items = [item for item in plan().outgoing if item.write is not None]
    binder = Binder(
        store, route, refs, runtime.mappers.for_system, dry_run=False, source_is_a_target=True
    )
    taken = [WriteResult(item.key, item.target_id or f"crm-{item.key}") for item in items]

    def source() -> None:
        for item in items:
            item._flat_encoding = None
            Binder.source_encoding(item)

    def target() -> None:
        for item, result in zip(items, taken, strict=True):
            binder._taken(ENTITY, item, result)

    def bind() -> None:
        for item in items:
            item._flat_encoding = None
            item.source_after = True
        binder.record_results(ENTITY, list(zip(items, taken, strict=True)))

    steps: dict[str, Callable[[], Any]] = {"plan": plan, "source": source, "target": target}
    if case == "update":
        bind()  # (the first time writes what the repetitions then write again)
        steps["bind"] = bind
    print(f"{case}: {len(items)} writes of {len(natives)} records")
    callgrind.each_step(steps, reps, len(items))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare", type=Path, required=True, help="engine_incremental's DIR")
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--case", choices=("update", "first"), default="update")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.prepare, args.records, args.case, args.reps))
