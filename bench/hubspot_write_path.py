"""CPU of the HubSpot write path alone: the engine's own writes replayed through the adapter.

`hubspot_push.py` measures the whole product; this isolates what `HubSpotAdapter.upsert` costs
from the writes in to the results out (owner ids, request bodies, httpx, the answer's parsing).
It pushes N sample customers once through the engine into a sandbox (in its own process, no
added latency, the burst limit off), keeping the `NativeWrite` batches the engine hands the
adapter, then replays them through `upsert`, `--in-flight` batches at once, `--rounds` times
(upserts by `connector_key`, so later rounds update), and prints the client process's CPU per
record of each round beside the sandbox's.

Under callgrind the counters are zeroed before the first replayed round and dumped after it,
so the dump holds that round alone; load does not move it (bench/README.md, burst):

    valgrind --tool=callgrind --callgrind-out-file=/tmp/wp .venv/bin/python \\
        bench/hubspot_write_path.py --rounds 1 --callgrind
    grep totals /tmp/wp.1        # instructions of the round; / N = per record

    .venv/bin/python bench/hubspot_write_path.py [--records 10000] [--rounds 3] [--in-flight 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import callgrind  # bench/callgrind.py
import httpx
from hubspot_push import process_cpu, setup_portal, start_sandbox, write_config

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.adapter import HubSpotAdapter
from connector.adapter import NativeWrite, WriteResult
from connector.config import load_config
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime


async def capture(config: Path) -> list[list[NativeWrite]]:
    """One push through the engine; the batches it handed the adapter."""
    batches: list[list[NativeWrite]] = []
    async with Runtime.open(load_config(config)) as runtime:
        adapter = runtime.adapters["crm"]
        assert isinstance(adapter, HubSpotAdapter)
        upsert = adapter.upsert

        async def keep(entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
            batches.append(list(writes))
            return await upsert(entity, writes)

        adapter.upsert = keep  # type: ignore[method-assign]
        await SyncService(runtime).run_route("erp-to-crm", trigger="bench")
    return batches


async def replay(
    config: Path, batches: list[list[NativeWrite]], args: argparse.Namespace, sandbox: int
) -> None:
    records = sum(map(len, batches))
    async with Runtime.open(load_config(config)) as runtime:
        adapter = runtime.adapters["crm"]
        gate = asyncio.Semaphore(args.in_flight)

        async def one(batch: list[NativeWrite]) -> None:
            async with gate:
                results = await adapter.upsert(Entity.CUSTOMER, batch)
            failed = [result for result in results if not result.ok]
            if failed:
                raise SystemExit(f"a replayed write failed: {failed[0]}")

        for round_number in range(args.rounds):
            served, cpu, started = process_cpu(sandbox), time.process_time(), time.perf_counter()
            if args.callgrind and round_number == 0:
                callgrind.control("--zero")
            await asyncio.gather(*(one(batch) for batch in batches))
            if args.callgrind and round_number == 0:
                callgrind.control("--dump=round")
            cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
            after = process_cpu(sandbox)
            sandbox_cpu = "?" if after is None or served is None else f"{after - served:.2f} s"
            print(
                f"round {round_number}: client {cpu / records * 1e6:6.1f} µs CPU a record, "
                f"wall {elapsed:.2f} s, sandbox CPU {sandbox_cpu}, load {os.getloadavg()[0]:.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--callgrind", action="store_true", help="zero/dump around round 0")
    args = parser.parse_args()
    sandbox, url = start_sandbox(0.0, limits=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            directory = Path(folder)
            create_sample_erp(directory / "erp.db", customers=args.records, contacts=1, orders=1)
            config = write_config(directory, url, False, False, args.in_flight)
            asyncio.run(setup_portal(config))
            for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
                httpx.post(f"{url}/_sandbox/owners", json={"email": email}).raise_for_status()
            batches = asyncio.run(capture(config))
            print(f"captured {sum(map(len, batches)):,} writes in {len(batches)} batches")
            asyncio.run(replay(config, batches, args, sandbox.pid))
    finally:
        sandbox.terminate()
        sandbox.wait()


if __name__ == "__main__":
    main()
