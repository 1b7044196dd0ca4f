"""Push N customers from the sample ERP into the Salesforce sandbox through the whole product.

The engine runs an `erp-to-crm` route for customers (map, diff against the store, Collections
upserts of 200, bindings, cursor) against a sandbox process on 127.0.0.1 with 100 ms added
latency per request, then runs it again with nothing changed.

Goals (issue 14):
* throughput >= 4,800 records/s (three times a script sending one Collections call at a time
  over such a link: 200 records / 0.125 s = 1,600/s);
* API calls that write <= 1.05 x ceil(N / 200);
* a second run with nothing changed makes 0 calls that write;
* with `--bulk` (a first load of 100,000 through Bulk API 2.0: the ERP read in pages of 50,000,
  each handed to the adapter whole): <= 12 API calls that are not polls.

    .venv/bin/python bench/salesforce_push.py [--records 20000] [--latency-ms 100] [--bulk]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from adapters.erp_generic.sample import create_sample_erp
from connector.config import load_config
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime

GOAL = 4800.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(directory: Path, url: str, bulk: bool = False) -> Path:
    shipped = yaml.safe_load(Path(__file__).parents[1].joinpath("config.yaml").read_text())
    shipped["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    erp = shipped["systems"]["erp"]["settings"]
    erp["url"] = f"sqlite:///{directory / 'erp.db'}"
    erp.pop("webhooks", None)
    erp.pop("refresh_history", None)
    shipped["systems"]["crm"] = {
        "adapter": "salesforce",
        "settings": {
            "login_url": url,
            "auth": {
                "kind": "client_credentials",
                "client_id": "sandbox-consumer-key",
                "client_secret": "sandbox-consumer-secret",
            },
        },
    }
    if bulk:
        erp["page_size"] = 50_000
        shipped["systems"]["crm"]["settings"].update(write_batch=50_000, bulk_threshold=10_000)
    route = next(r for r in shipped["routes"] if r["name"] == "erp-to-crm")
    route["entities"] = {"customer": {}}
    shipped["routes"] = [route]
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(shipped))
    return path


def write_calls(url: str) -> tuple[int, int, int]:
    """(calls that write, API calls that are not Bulk polls, polls) since the last reset."""
    log = httpx.get(f"{url}/_sandbox/requests", timeout=30).json()["requests"]
    api = [e for e in log if e["path"].startswith("/services/data/")]
    writes = sum(1 for e in api if e["method"] in ("POST", "PATCH", "PUT", "DELETE"))
    polls = sum(
        1 for e in api if e["method"] == "GET" and e["path"].rstrip("/").split("/")[-2] == "ingest"
    )
    httpx.delete(f"{url}/_sandbox/requests", timeout=30)
    return writes, len(api) - polls, polls


async def run_route(config: Path) -> tuple[float, int]:
    async with Runtime.open(load_config(config)) as runtime:
        started, cpu = time.perf_counter(), time.process_time()
        summary = await SyncService(runtime).run_route("erp-to-crm", trigger="bench")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        pending = len(runtime.store.failures())
    counts = summary.counts[Entity.CUSTOMER]
    print(
        f"  created {counts.created}, updated {counts.updated}, unchanged {counts.unchanged}, "
        f"failed {counts.failed}; {elapsed:.2f} s, engine CPU {cpu:.2f} s "
        f"({cpu / elapsed:.0%} of one core)"
    )
    return elapsed, pending


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--bulk", action="store_true")
    args = parser.parse_args()

    # The sandbox gets a process (and so a core) of its own, as Salesforce would be elsewhere.
    port = free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from adapters.salesforce.sandbox import serve; "
            f"serve(port={port}, latency_seconds={args.latency_ms / 1000}, "
            "seed_demo_accounts=False, daily_api_limit=1_000_000)",
        ],
        cwd=Path(__file__).parents[1],
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/services/data", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("the sandbox did not start") from None
            time.sleep(0.1)
    try:
        with tempfile.TemporaryDirectory() as folder:
            directory = Path(folder)
            create_sample_erp(directory / "erp.db", customers=args.records, contacts=1, orders=1)
            config = write_config(directory, url, args.bulk)
            print(f"First run: {args.records} customers, {args.latency_ms:.0f} ms latency")
            elapsed, failures = asyncio.run(run_route(config))
            writes, calls, polls = write_calls(url)
            print("Second run, nothing changed:")
            asyncio.run(run_route(config))
            second_writes, _, _ = write_calls(url)
    finally:
        sandbox.terminate()
        sandbox.wait()

    throughput = args.records / elapsed
    allowed = 1.05 * math.ceil(args.records / 200)
    print()
    if args.bulk:
        print(
            f"API calls         {calls:8d}            + {polls} polls (goal <= 12: ratio "
            f"{calls / 12:.2f}); {throughput:.0f} records/s"
        )
        print(f"failures          {failures:8d}            (goal 0)")
        print(f"second-run writes {second_writes:8d}            (goal 0)")
        return
    print(
        f"throughput        {throughput:8.0f} records/s  goal >= {GOAL:.0f} "
        f"(ratio {throughput / GOAL:.2f})"
    )
    print(
        f"write calls       {writes:8d}            limit {allowed:.0f} "
        f"(ratio {writes / allowed:.2f}, goal <= 1.00)"
    )
    print(f"failures          {failures:8d}            (goal 0)")
    print(f"second-run writes {second_writes:8d}            (goal 0)")


if __name__ == "__main__":
    main()
