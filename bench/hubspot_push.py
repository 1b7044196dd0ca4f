"""Push N customers from the sample ERP into the HubSpot sandbox through the whole product.

The engine runs the shipped `erp-to-crm` route for customers (map, diff against the store,
batch upserts, bindings, cursor) against a sandbox process serving 127.0.0.1 with 100 ms
added latency per request and HubSpot's Professional burst limit enforced (190 requests per
rolling 10 s). Then it runs the route again with nothing changed.

Goals (issue 6):
* throughput >= 90 % of the limit's ceiling: 190 requests x 100 records / 10 s = 1,900 records/s;
* write calls <= 1.05 x ceil(N / 100);
* no 429 reaching `failures`;
* a second run with nothing changed makes 0 write calls;
* the reverse sync (CRM → ERP) after the unchanged push makes 0 ERP writes (issue 11): every
  ERP row stays byte-identical.

The routes are the shipped pair (ERP → CRM and CRM → ERP, customers only); `--one-way` drops the
reverse route, as this benchmark did before issue 11.

`--match` adds the shipped natural-key match on the customer number: one batch read per 100
unbound records before they are created, which shares the burst limit with the writes.

    .venv/bin/python bench/hubspot_push.py [--records 20000] [--match] [--one-way]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.setup import setup
from connector.config import load_config
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime

CEILING = 190 * 100 / 10.0
WRITES = ("/batch/upsert", "/batch/update", "/batch/create")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(directory: Path, url: str, match: bool, two_way: bool) -> Path:
    shipped = yaml.safe_load(Path(__file__).parents[1].joinpath("config.yaml").read_text())
    shipped["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    erp = shipped["systems"]["erp"]["settings"]
    erp["url"] = f"sqlite:///{directory / 'erp.db'}"
    erp.pop("webhooks", None)
    erp.pop("refresh_history", None)
    crm = shipped["systems"]["crm"]["settings"]
    crm.update(base_url=url, auth={"kind": "token", "token": "sandbox-token"})
    crm.pop("webhooks", None)
    route = next(r for r in shipped["routes"] if r["name"] == "erp-to-crm")
    route["entities"] = {"customer": {"match": ["number"]} if match else {}}
    back = next(r for r in shipped["routes"] if r["name"] == "crm-to-erp")
    back["entities"] = {"customer": {}}
    shipped["routes"] = [route, back] if two_way else [route]
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(shipped))
    return path


def write_calls(url: str) -> tuple[int, int]:
    log = httpx.get(f"{url}/_sandbox/requests", timeout=30).json()["results"]
    writes = sum(1 for e in log if e["method"] == "POST" and e["path"].endswith(WRITES))
    limited = sum(1 for e in log if e["status"] == 429)
    httpx.delete(f"{url}/_sandbox/requests", timeout=30)
    return writes, limited


async def setup_portal(config: Path) -> None:
    async with Runtime.open(load_config(config)) as runtime:
        adapter = runtime.adapters["crm"]
        assert isinstance(adapter, HubSpotAdapter)
        await setup(adapter, [runtime.mappers.for_system("crm", Entity.CUSTOMER)])


def erp_rows(database: Path) -> str:
    """A digest of every customer row exactly as stored."""
    with sqlite3.connect(database) as db:
        digest = hashlib.sha256()
        for row in db.execute("SELECT * FROM customers ORDER BY id"):
            digest.update(repr(row).encode())
        return digest.hexdigest()


async def reverse(config: Path) -> int:
    """The CRM → ERP route once; returns its ERP writes (created + updated)."""
    async with Runtime.open(load_config(config)) as runtime:
        summary = await SyncService(runtime).run_route("crm-to-erp", trigger="bench")
    counts = summary.counts[Entity.CUSTOMER]
    return counts.created + counts.updated


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
    parser.add_argument("--match", action="store_true")
    parser.add_argument("--one-way", action="store_true")
    args = parser.parse_args()

    # The sandbox gets a process (and so a core) of its own, as HubSpot would be elsewhere:
    # in a thread it would share the GIL with the engine being measured.
    port = free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from adapters.hubspot.sandbox import serve; "
            f"serve(port={port}, latency_ms={args.latency_ms}, limits_enabled=True)",
        ],
        cwd=Path(__file__).parents[1],
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/_sandbox/switches", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise SystemExit("the sandbox did not start") from None
            time.sleep(0.1)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        create_sample_erp(directory / "erp.db", customers=args.records, contacts=1, orders=1)
        config = write_config(directory, url, args.match, not args.one_way)
        asyncio.run(setup_portal(config))
        # The sandbox's own owners are not the sample's (by design); the sample's sales reps
        # become portal users here, so the push resolves their owner ids as in production.
        for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
            httpx.post(f"{url}/_sandbox/owners", json={"email": email}).raise_for_status()
        httpx.delete(f"{url}/_sandbox/requests")

        print(
            f"First run: {args.records} customers, {args.latency_ms:.0f} ms latency, "
            f"190 requests / 10 s{' , match on number' if args.match else ''}"
        )
        elapsed, failures = asyncio.run(run_route(config))
        writes, limited = write_calls(url)
        print("Second run, nothing changed:")
        asyncio.run(run_route(config))
        second_writes, _ = write_calls(url)
        erp_writes = -1
        if not args.one_way:
            before = erp_rows(directory / "erp.db")
            erp_writes = asyncio.run(reverse(config))
            if erp_rows(directory / "erp.db") != before:
                erp_writes = max(erp_writes, 1)  # a row changed: never report 0
    sandbox.terminate()
    sandbox.wait()

    throughput = args.records / elapsed
    allowed = 1.05 * math.ceil(args.records / 100)
    print()
    print(
        f"throughput        {throughput:8.0f} records/s  = {throughput / CEILING:6.1%} of the "
        f"1,900/s ceiling (goal >= 90 %: ratio {throughput / CEILING / 0.9:.2f})"
    )
    print(
        f"write calls       {writes:8d}            limit {allowed:.0f} "
        f"(ratio {writes / allowed:.2f}, goal <= 1.00)"
    )
    print(f"429 answers       {limited:8d}            (absorbed by waits and retries)")
    print(f"failures          {failures:8d}            (goal 0)")
    print(f"second-run writes {second_writes:8d}            (goal 0)")
    if erp_writes >= 0:
        print(f"reverse-sync ERP writes after the unchanged push {erp_writes} (goal 0)")


if __name__ == "__main__":
    main()
