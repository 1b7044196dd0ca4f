"""Benchmark: read 100,000 customers incrementally from the sample ERP and map them to canonical.

Goal (issue 5): >= 20,000 records/s on one core, with flat memory (streamed, not loaded whole).

Run: `.venv/bin/python bench/erp_sql.py [--customers 100000] [--page-size 1000]`

Three passes over the same database:
1. read only (the adapter's own cost), timed;
2. read + map to canonical `Customer` (the goal's figure), timed, with the process's resident
   memory after 10% and after 100% of the records;
3. read + map under tracemalloc: the traced peak after 10% and after 100% of the records.
   Flat memory means the second figure is about the first one, not ten times it.

Rates are given per wall-clock second and per CPU second of this process (the goal says "one
core"; on a shared, loaded machine the CPU figure is the fairer one).

The history refresh is left out of the settings: it recomputes from orders, not a read cost.

Recorded 2026-11-29 on the 2-core dev box, idle (bench/README.md has the table):
    sample ERP: 100,000 customers generated in 5.8 s
    read only:  45,346 records/s wall (ratio 2.27), 45,576 records/s CPU (ratio 2.28)
    read + map: 23,216 records/s wall (ratio 1.16), 23,376 records/s CPU (ratio 1.17)
    resident memory after 10,000 records: 190.9 MiB; after 100,000: 190.9 MiB (+0.1 MiB)
    tracemalloc peak after 10,000 records: 6.0 MiB; after 100,000: 6.0 MiB -> ratio 1.00
On a machine shared with test runs the same code measured 15,600-18,400 records/s (read + map):
the goal holds with a margin of 11-24 % on an idle core, not on a busy one.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.sample import create_sample_erp, sample_config
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext
from connector.mapping.catalog import MappingCatalog
from connector.model import Customer, Entity

GOAL_RECORDS_PER_SECOND = 20_000


class NoReferences:
    """Customers hold no references; the resolver is never asked."""

    def canonical_key(self, entity: Entity, external_id: str) -> str | None:
        return None

    def external_id(self, entity: Entity, key: str) -> str | None:
        return None


@dataclass
class Pass:
    records: int
    seconds: float
    cpu_seconds: float
    memory_at_tenth: int
    memory_at_end: int

    def rates(self) -> str:
        wall, cpu = self.records / self.seconds, self.records / self.cpu_seconds
        return (
            f"{wall:,.0f} records/s wall (ratio {wall / GOAL_RECORDS_PER_SECOND:.2f}), "
            f"{cpu:,.0f} records/s CPU (ratio {cpu / GOAL_RECORDS_PER_SECOND:.2f})"
        )


def rss_bytes() -> int:
    """Resident memory now (Linux /proc), else the peak so far."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def read_and_map(
    path: Path, page_size: int, expected: int, *, traced: bool, mapping: bool = True
) -> Pass:
    block = sample_config(f"sqlite:///{path}")
    block.pop("refresh_history")
    block["page_size"] = page_size
    settings = ErpGenericSettings.model_validate(block)
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(path.parent))
    mapper = MappingCatalog().mapper("erp_generic", Entity.CUSTOMER)
    refs = NoReferences()
    await adapter.open()
    measure = (lambda: tracemalloc.get_traced_memory()[1]) if traced else rss_bytes
    if traced:
        tracemalloc.start()
    count, at_tenth = 0, 0
    tenth = max(expected // 10, 1)
    started, cpu_started = time.perf_counter(), time.process_time()
    async for page in adapter.read_changes(Entity.CUSTOMER, None):
        for native in page.records:
            if mapping:
                customer = mapper.to_canonical(native, refs)
                assert isinstance(customer, Customer)
            count += 1
            if count == tenth:
                at_tenth = measure()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    at_end = measure()
    if traced:
        tracemalloc.stop()
    await adapter.close()
    return Pass(count, seconds, cpu_seconds, at_tenth, at_end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "erp.db"
        started = time.perf_counter()
        stats = create_sample_erp(path, customers=options.customers, contacts=1000, orders=1000)
        generated = time.perf_counter() - started
        print(f"sample ERP: {stats.customers:,} customers generated in {generated:.1f} s")
        expected = stats.customers
        read_only = asyncio.run(
            read_and_map(path, options.page_size, expected, traced=False, mapping=False)
        )
        timed = asyncio.run(read_and_map(path, options.page_size, expected, traced=False))
        traced = asyncio.run(read_and_map(path, options.page_size, expected, traced=True))
    assert timed.records == read_only.records == expected, "every customer must be read once"
    mib = 1024 * 1024
    print(f"read only:  {read_only.records:,} customers in {read_only.seconds:.2f} s; "
          f"{read_only.rates()}")  # fmt: skip
    print(f"read + map: {timed.records:,} customers in {timed.seconds:.2f} s; {timed.rates()}")
    print(
        f"resident memory after {timed.records // 10:,} records: "
        f"{timed.memory_at_tenth / mib:.1f} MiB; after {timed.records:,}: "
        f"{timed.memory_at_end / mib:.1f} MiB "
        f"(growth {(timed.memory_at_end - timed.memory_at_tenth) / mib:+.1f} MiB)"
    )
    print(
        f"tracemalloc peak after {traced.records // 10:,} records: "
        f"{traced.memory_at_tenth / mib:.1f} MiB; after {traced.records:,}: "
        f"{traced.memory_at_end / mib:.1f} MiB -> ratio "
        f"{traced.memory_at_end / max(traced.memory_at_tenth, 1):.2f} (flat = about 1.0)"
    )


if __name__ == "__main__":
    main()
