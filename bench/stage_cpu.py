"""The engine's pure-Python stages alone, on real records: map, plan, snapshot encode/decode.

`bench/engine.py` measures a whole run, where the database's work and the run's fixed cost
blur a change to one stage. This script reads `--records N` customers from a store prepared by
`bench/engine_incremental.py --prepare DIR` (its sample ERP, and its SQLite store after the
first sync) once, then runs the stages `--reps K` times on them, in memory:

* `update`: each record renamed (as `change_some` does), mapped, planned against its bindings
  (the target's and the source's, decoded from the stored text as `load_known` does), and its
  two new snapshots merged and encoded as the bind stage does;
* `first`: the same records as if never synced (no bindings: creates), mapped, planned and
  encoded.

`--stage` picks one of map, plan, encode, decode (default all). It prints CPU µs a record of
each stage; under callgrind with `CALLGRIND=1`, each stage's instructions in a dump of its
own, named after it, the set-up neither instrumented nor collected (`callgrind.each_step`):

    CALLGRIND=1 PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        --collect-atstart=no --toggle-collect=functools_reduce .venv/bin/python \\
        bench/stage_cpu.py --prepare DIR --records 100 --reps 5

A dump's total over records times reps is a record's.
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

from connector.config import load_config
from connector.engine.decide import merged_snapshot
from connector.engine.resolver import BindingResolver
from connector.engine.stages.bind import Binder
from connector.engine.stages.map import map_page
from connector.engine.stages.plan import Known, PlanRules, plan_page
from connector.model import Entity
from connector.runtime import Runtime
from connector.state.bindings import Binding
from connector.state.snapshots import decode_snapshot_text

ENTITY = Entity.CUSTOMER


async def stages(folder: Path, count: int, case: str, reps: int, only: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for name in ("erp.db", "state.db"):
            shutil.copyfile(folder / name, directory / name)
        config = load_config(bench.write_config(directory, f"sqlite:///{directory / 'state.db'}"))
        async with Runtime.open(config, crm=bench.Sink("crm", "connector_key")) as runtime:
            await measure(runtime, count, case, reps, only)


async def measure(runtime: Runtime, count: int, case: str, reps: int, only: str | None) -> None:
    route = runtime.config.routes["erp-to-crm"]
    source_mapper = runtime.mappers.for_system(route.source, ENTITY)
    target_mapper = runtime.mappers.for_system(route.target, ENTITY)
    natives = await bench.read_customers(runtime, count)
    if case == "update":
        for native in natives:
            native.fields["name"] = f"{native.fields['name']} (renamed)"
    store = runtime.store
    refs = BindingResolver(store, route.source)
    target_refs = BindingResolver(store, route.target)
    texts: dict[tuple[str, str], tuple[str, str | None]] = {}  # (system, key) → (text, hash)
    source_ids: dict[str, str] = {}
    if case == "update":
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT system, key, external_id, snapshot, hash FROM bindings WHERE entity = ?",
                (ENTITY.value,),
            )
            for system, key, external_id, text, hash_ in rows:
                texts[(system, key)] = (text, hash_)
                if system == route.source:
                    source_ids[external_id] = key
    ids = [native.id for native in natives]
    keys = {native_id: source_ids.get(native_id, f"k{native_id}") for native_id in ids}

    def decode() -> dict[str, dict[str, Binding]]:
        known: dict[str, dict[str, Binding]] = {route.source: {}, route.target: {}}
        for system, found in known.items():
            external = {key: native_id for native_id, key in keys.items()}
            for key in keys.values():
                stored = texts.get((system, key))
                if stored is None:
                    continue
                text, hash_ = stored
                found[key] = Binding(
                    ENTITY.value,
                    key,
                    system,
                    external[key],
                    decode_snapshot_text(text),
                    hash_,
                    None,
                )
        return known

    rules = PlanRules.of(route, ENTITY, frozenset({route.source, "erp_generic"}), False)

    def mapped() -> Any:
        return map_page(natives, source_mapper, refs)

    def planned(done: Any, known: dict[str, dict[str, Binding]]) -> Any:
        keyed = []
        for native, record in done.records:
            record.key = keys[native.id]
            keyed.append((native, record, record.key))
        both = Known(known[route.target], known[route.source])
        return plan_page(keyed, both, rules, source_mapper, target_mapper, target_refs, done.flats)

    def encoded(plan: Any) -> int:
        made = 0
        for item in plan.outgoing:
            if item.write is None:
                continue
            Binder.source_encoding(item)
            previous = None if item.plan.create else item.snapshot
            item.encoded(merged_snapshot(previous, item.flat, item.plan.paths, ()))
            made += 1
        return made

    known = decode()
    done = mapped()
    plan = planned(done, known)
    writes = encoded(plan)
    print(
        f"{case}: {len(natives)} records, {len(done.failed)} failed to map, "
        f"{writes} writes, {len(plan.outgoing) - writes} unchanged, {len(plan.failed)} failed"
    )
    steps: dict[str, Callable[[], Any]] = {
        "map": mapped,
        "decode": decode,
        "plan": lambda: planned(mapped(), known),
        "encode": lambda: encoded(planned(mapped(), known)),
    }
    if only is not None:
        steps = {only: steps[only]}
    callgrind.each_step(steps, reps, len(natives), " (cumulative)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare", type=Path, required=True, help="engine_incremental's DIR")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--case", choices=("update", "first"), default="update")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--stage", choices=("map", "decode", "plan", "encode"))
    args = parser.parse_args()
    asyncio.run(stages(args.prepare, args.records, args.case, args.reps, args.stage))


if __name__ == "__main__":
    main()
