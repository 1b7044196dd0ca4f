"""Benchmark: a first sync's memory does not grow with the number of records (issue 16, item 4).

A first sync of N customers from the sample ERP (SQLite) through the whole engine (the shipped
routes, as `bench/engine.py` runs them) into an in-process sink that keeps nothing, with the
store on SQLite, for each N of `--sizes` (10,000 and 1,000,000). Every run has a fresh
interpreter, so each gets its own peak RSS.

Measured per N, in a run without tracemalloc: the peak number of memory blocks the run holds
in Python's small-object allocator beyond what it held before (`sys.getallocatedblocks`,
sampled every 0.2 s: nearly free), the process's peak RSS (VmHWM, which also counts the
interpreter, the imports and SQLite's page caches) and the CPU seconds. Then, for N up to
`--trace-up-to` (default: every N), a second run under tracemalloc for its peak: tracing
starts after the runtime is open and the mapping files are compiled, so it counts what the
run itself holds at its worst. Goal: the largest N's tracemalloc peak within 1.2 x the
smallest's.

tracemalloc keeps one frame per allocation (its cheapest setting) and still slows the engine
about four times: a million customers traced take some 20 CPU minutes. `--traced-only` skips
the untraced runs (the traced runs print their RSS too, tracemalloc's own memory included);
on a shared machine, `--trace-up-to 100000` traces the smaller sizes only and leaves the
million to the untraced figures (blocks and RSS), whose ratios are printed as well. `--top K`
prints where the memory held at the traced peak was allocated, `--diff K` the K lines whose
memory grew most from a quarter to three quarters of the records written (what grows with
N). The sample ERPs are generated once into `--erp-dir` (default: the system temp folder),
outside the measured runs, and reused by later runs; a million customers take under a minute
of CPU, ~100 MiB of RSS and 350 MB of disk.

    nice .venv/bin/python bench/engine_memory.py [--sizes 10000,1000000] [--trace-up-to N]
    nohup .venv/bin/python bench/engine_memory.py --traced-only --diff 15 > /tmp/mem.log &
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import Sink, write_config  # the same route and sink as the CPU bench

from adapters.erp_generic.sample import create_sample_erp
from connector.config import load_config
from connector.engine.service import SyncService
from connector.model import Entity
from connector.runtime import Runtime

GOAL = 1.2
MIB = 1024 * 1024


def sample_erp(folder: Path, customers: int) -> Path:
    """The sample ERP with `customers` customers, generated once and kept for later runs."""
    path = folder / f"connector-bench-erp-{customers}.db"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        create_sample_erp(partial, customers=customers, contacts=0, orders=0)
        partial.rename(path)
        print(f"sample ERP: {customers:,} customers in {time.perf_counter() - started:.0f} s")
    return path


def rss_now() -> int:
    """The resident set size now, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def rss_peak() -> int:
    """This process's peak resident set size, in bytes (Linux: VmHWM).

    Not `ru_maxrss`: Linux carries it over `execve` from the process that spawned this one,
    so a child started by a parent that once held 1.9 GB reports 1.9 GB (it did, when the
    parent still generated the sample ERP in memory). VmHWM belongs to this program alone.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Sampler:
    """The most blocks the allocator held during the run, sampled between the engine's steps."""

    def __init__(self) -> None:
        self.before = sys.getallocatedblocks()
        self.most = 0

    async def watch(self) -> None:
        while True:
            self.most = max(self.most, sys.getallocatedblocks() - self.before)
            await asyncio.sleep(0.2)


async def first_sync(
    config: Path, customers: int, trace: bool, top: int, diff: int
) -> dict[str, Any]:
    sink = Sink("crm", "connector_key", keep_keys=False)
    async with Runtime.open(load_config(config), crm=sink) as runtime:
        for system in ("erp", "crm"):
            runtime.mappers.for_system(system, Entity.CUSTOMER)
        if trace:
            tracemalloc.start(1)
        sampler = Sampler()
        snapshots: list[tracemalloc.Snapshot] = []
        marks: list[tracemalloc.Snapshot] = []
        watchers = [asyncio.create_task(sampler.watch())]
        if trace and top:
            watchers.append(asyncio.create_task(watch(snapshots)))
        if trace and diff:
            watchers.append(asyncio.create_task(mark(sink, customers, marks)))
        cpu = time.process_time()
        summary = await SyncService(runtime).run_route("erp-to-crm", trigger="bench")
        cpu = time.process_time() - cpu
        for watcher in watchers:
            watcher.cancel()
        figures: dict[str, Any] = {"customers": customers, "cpu": cpu, "rss_end": rss_now()}
        figures["blocks"] = sampler.most
        if trace:
            figures["peak"] = tracemalloc.get_traced_memory()[1]
            figures["tracemalloc_own"] = tracemalloc.get_tracemalloc_memory()
            if snapshots:
                print_top(snapshots[-1], top)
            if len(marks) == 2:
                print_growth(marks, diff)
            tracemalloc.stop()
    if sink.created != customers or summary.counts[Entity.CUSTOMER].created != customers:
        raise SystemExit(f"the first sync created {sink.created} of {customers}")
    figures["rss_peak"] = rss_peak()
    figures["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return figures


async def watch(snapshots: list[tracemalloc.Snapshot]) -> None:
    """Snapshots through the run, keeping the one that held the most (where the peak is)."""
    most = 0
    while True:
        await asyncio.sleep(0.5)
        held = tracemalloc.get_traced_memory()[0]
        if held > most:
            most = held
            snapshots[:] = [tracemalloc.take_snapshot()]


async def mark(sink: Sink, customers: int, marks: list[tracemalloc.Snapshot]) -> None:
    """Snapshots at a quarter and at three quarters of the records written: what the run holds
    more at the second than at the first is what grows with N."""
    shares = [0.25, 0.75]
    while shares:
        await asyncio.sleep(0.2)
        if sink.created >= customers * shares[0]:
            shares.pop(0)
            marks.append(tracemalloc.take_snapshot())


def print_growth(marks: list[tracemalloc.Snapshot], top: int) -> None:
    first, second = (sum(stat.size for stat in snap.statistics("filename")) for snap in marks)
    print(
        f"  held at 1/4 of the records {first / MIB:.1f} MiB, at 3/4 {second / MIB:.1f} MiB;"
        f" the {top} lines that grew most:"
    )
    for stat in marks[1].compare_to(marks[0], "lineno")[:top]:
        print(
            f"    {stat.size_diff / MIB:+8.2f} MiB {stat.count_diff:+9,} blocks"
            f" ({stat.size / MIB:6.2f} MiB)  {stat.traceback[0]}"
        )


def print_top(snapshot: tracemalloc.Snapshot, top: int) -> None:
    held = sum(stat.size for stat in snapshot.statistics("filename")) / MIB
    print(f"  the largest snapshot ({held:.1f} MiB held), top {top} lines:")
    for stat in snapshot.statistics("lineno")[:top]:
        print(f"    {stat.size / MIB:8.2f} MiB {stat.count:9,} blocks  {stat.traceback[0]}")


def one(erp: Path, customers: int, trace: bool, top: int, diff: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        shutil.copyfile(erp, directory / "erp.db")
        config = write_config(directory, f"sqlite:///{directory / 'state.db'}")
        return asyncio.run(first_sync(config, customers, trace, top, diff))


def in_child(erp: Path, customers: int, trace: bool, top: int, diff: int) -> dict[str, Any]:
    """One run in a fresh interpreter: its own peak RSS, nothing left over from another."""
    command = [sys.executable, __file__, "--child", str(erp), "--customers", str(customers)]
    command += ["--top", str(top), "--diff", str(diff)] + (["--trace"] if trace else [])
    started = time.perf_counter()
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    *lines, last = output.strip().splitlines()
    for line in lines:
        print(line)
    figures: dict[str, Any] = json.loads(last)
    figures["wall"] = time.perf_counter() - started
    return figures


def describe(figures: dict[str, Any]) -> str:
    n = figures["customers"]
    text = (
        f"{n:>9,} customers{' (traced)' if 'peak' in figures else ''}: "
        f"{figures['cpu']:7.1f} CPU s ({n / figures['cpu']:6,.0f} rec/CPU-s), "
        f"{figures['wall']:5.0f} s wall, RSS peak {figures['rss_peak'] / MIB:4.0f} MiB "
        f"(at the end {figures['rss_end'] / MIB:4.0f} MiB, ru_maxrss "
        f"{figures['ru_maxrss'] / MIB:4.0f} MiB), "
    )
    if "peak" in figures:
        return text + (
            f"tracemalloc peak {figures['peak'] / MIB:6.1f} MiB "
            f"(tracemalloc's own {figures['tracemalloc_own'] / MIB:.0f} MiB)"
        )
    return text + f"peak blocks held {figures['blocks']:,}"


def ratio_line(name: str, small: dict[str, Any], large: dict[str, Any], key: str) -> str:
    ratio = large[key] / small[key]
    line = f"{name:17} {large['customers']:>9,} / {small['customers']:,}: {ratio:5.2f} x"
    if key == "peak":
        verdict = "met" if ratio <= GOAL else "not met"
        line += f"  (goal <= {GOAL} x: ratio to goal {ratio / GOAL:.2f}, {verdict})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated counts")
    parser.add_argument("--trace-up-to", type=int, help="trace only the sizes up to this")
    parser.add_argument("--erp-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--top", type=int, default=0, help="where the traced peak came from")
    parser.add_argument(
        "--diff", type=int, default=0, help="the K lines that grew most from 1/4 to 3/4 of a run"
    )
    parser.add_argument(
        "--traced-only", action="store_true", help="skip the untraced runs (blocks, RSS)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one(args.child, args.customers, args.trace, args.top, args.diff)))
        return

    sizes = sorted(int(size) for size in args.sizes.split(","))
    untraced: list[dict[str, Any]] = []
    traced: list[dict[str, Any]] = []
    for customers in sizes:
        erp = sample_erp(args.erp_dir, customers)
        if not args.traced_only:
            untraced.append(in_child(erp, customers, False, 0, 0))
            print(describe(untraced[-1]), flush=True)
        if args.trace_up_to is None or customers <= args.trace_up_to:
            traced.append(in_child(erp, customers, True, args.top, args.diff))
            print(describe(traced[-1]), flush=True)
    print()
    if len(traced) > 1:
        print(ratio_line("tracemalloc peak", traced[0], traced[-1], "peak"))
        print(ratio_line("traced peak RSS", traced[0], traced[-1], "rss_peak"))
    if len(untraced) > 1:
        print(ratio_line("peak blocks held", untraced[0], untraced[-1], "blocks"))
        print(ratio_line("peak RSS", untraced[0], untraced[-1], "rss_peak"))


if __name__ == "__main__":
    main()
