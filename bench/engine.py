"""Benchmark: the engine's own CPU per record, from the sample ERP into a target that costs nothing.

N customers (default 100,000) from the sample ERP (SQLite) run through the whole product: the
shipped `erp-to-crm` route for customers (read, map with the shipped ERP and HubSpot mapping
files, natural-key match on the number, diff against the store, batch upserts, bindings,
cursor). The target is an in-process sink that accepts every batch at once and assigns ids, so
what is measured is the engine (and the ERP adapter's read), not an API.

Two runs per store: a first sync of every customer, then an incremental run after 1 % of the
customers changed in the ERP (`--changed SHARE` changes another share: a bigger one gives a
profile of the incremental run enough samples per record). The figure is records handled per
CPU second of this process (`time.process_time`) during the run: the machine is shared, so wall
time would measure the neighbours. Opening the runtime and compiling the mapping files are left
out (once per process in the daemon); the run's lease, run record and cursor are in.

Goals (issue 16): >= 10,000 records per CPU second with the store on SQLite, >= 7,000 on
PostgreSQL (a fresh schema on 127.0.0.1:5432 db `test`, or `--pg URL`; `--no-pg` skips it).
MariaDB is measured third (a fresh database on 127.0.0.1:3306, or `--mariadb URL`;
`--no-mariadb` skips it); the issue sets it no goal, so its figure is reported as it is. A
checkout whose store does not run on MariaDB (a `--baseline` from before it did) skips it.

`--baseline REF` measures a git ref first, in the same run: a temporary `git worktree` of REF
runs this very script (copied in, so REF's engine is measured by today's bench) in a subprocess
with this interpreter, then the working tree runs it the same way; both are printed side by
side with their ratio. Both read one sample ERP generated once (`--erp FILE` reuses a file).

`--profile-incremental FILE` runs the incremental run of each store under cProfile and writes
its statistics to FILE.<store>.pstats (call counts per run are exact; its timings are inflated
by the profiler). To sample it with py-spy instead, give `--incremental-runs K`: the incremental
run is repeated K times (each after changing SHARE of the customers again), so that most of the
process's samples are incremental ones.

    .venv/bin/python bench/engine.py [--customers 100000] [--no-pg] [--no-mariadb]
        [--baseline main] [--changed 0.01] [--incremental-runs 1] [--profile-incremental FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
import yaml
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.erp_generic.sample import create_sample_erp, sample_metadata
from connector.adapter import (
    Capabilities,
    NativeRecord,
    NativeWrite,
    Page,
    WebhookVerifier,
    WriteResult,
)
from connector.config import load_config
from connector.engine.service import SyncService
from connector.errors import ConfigurationError
from connector.model import Entity
from connector.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
GOALS: dict[str, int | None] = {"sqlite": 10_000, "postgresql": 7_000, "mariadb": None}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mariadb+pymysql://root@127.0.0.1:3306/test"
CHANGED_SHARE = 0.01


class Sink:
    """A target that takes every batch at once: ids assigned, fields kept, nothing checked.

    It is registered as nothing: the bench hands it to `Runtime.open` in place of the HubSpot
    adapter, so the HubSpot mapping files still shape what the engine writes.
    """

    kind: ClassVar[str] = "hubspot"
    Settings: ClassVar[type[BaseModel]] = BaseModel

    def __init__(self, name: str, match_field: str, *, keep_keys: bool = True) -> None:
        self.name = name
        self.capabilities = Capabilities(
            entities=frozenset(Entity),
            batch_size=100,
            max_in_flight=4,
            upsert_matches={entity: "connector_key" for entity in Entity},
        )
        #: Ids by canonical key: an upsert by key finds its record again. The memory bench
        #: keeps none (every write is a create there), so the sink itself stays flat in N.
        self._by_key: dict[str, str] | None = {} if keep_keys else None
        self._ids = itertools.count(1)
        self.write_calls = 0
        self.created = 0

    @classmethod
    def from_settings(cls, name: str, settings: BaseModel, context: Any) -> Sink:
        raise NotImplementedError

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def mapper_source(self) -> None:
        return None  # the HubSpot mapping files shape the writes

    async def read_changes(self, entity: Entity, since: dt.datetime | None) -> AsyncIterator[Page]:
        return
        yield  # an async generator that yields nothing

    async def read(self, entity: Entity, ids: Sequence[str]) -> list[NativeRecord]:
        return []

    async def lookup(
        self, entity: Entity, native_field: str, values: Sequence[str]
    ) -> dict[str, NativeRecord]:
        return {}  # nothing in the target was there before the connector

    async def upsert(self, entity: Entity, writes: Sequence[NativeWrite]) -> list[WriteResult]:
        self.write_calls += 1
        now = dt.datetime.now(dt.UTC)
        results = []
        by_key = self._by_key
        for write in writes:
            record_id = write.external_id
            if record_id is None and by_key is not None:
                record_id = by_key.get(write.key)
            created = record_id is None
            if record_id is None:
                record_id = str(next(self._ids))
                self.created += 1
                if by_key is not None:
                    by_key[write.key] = record_id
            results.append(WriteResult(write.key, record_id, created=created, updated_at=now))
        return results

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return [WriteResult(record_id, record_id) for record_id in ids]

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def webhook_verifier(self) -> WebhookVerifier | None:
        return None


async def read_customers(runtime: Runtime, count: int) -> list[NativeRecord]:
    """The first `count` customers the bench route's source reads (for the scripts that time
    single stages on them: stage_cpu.py, bind_stages.py)."""
    route = runtime.config.routes["erp-to-crm"]
    natives: list[NativeRecord] = []
    async for page in runtime.adapters[route.source].read_changes(Entity.CUSTOMER, None):
        natives += page.records
        if len(natives) >= count:
            return natives[:count]
    raise SystemExit(f"the ERP holds {len(natives)} customers, fewer than asked for")


def write_config(directory: Path, state_url: str) -> Path:
    shipped = yaml.safe_load(Path(__file__).parents[1].joinpath("config.yaml").read_text())
    shipped["state"] = {"url": state_url}
    erp = shipped["systems"]["erp"]["settings"]
    erp["url"] = f"sqlite:///{directory / 'erp.db'}"
    erp.pop("webhooks", None)
    erp.pop("refresh_history", None)
    crm = shipped["systems"]["crm"]["settings"]
    crm.update(base_url="http://127.0.0.1:9", auth={"kind": "token", "token": "unused"})
    crm.pop("webhooks", None)
    # Both shipped routes stay (only customers): the CRM → ERP route makes the ERP a target,
    # so the first route keeps the ERP side's snapshot as production does.
    for route in shipped["routes"]:
        route["entities"] = {"customer": route["entities"]["customer"]}
        route.pop("schedule", None)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(shipped))
    return path


def change_some(erp: Path, share: float) -> int:
    """Change the name of every 1/share-th customer in the ERP, as a user would."""
    if not 0 < share <= 1:
        raise SystemExit(f"--changed must be a share in (0, 1], not {share}")
    table = sample_metadata().tables["customers"]
    engine = sa.create_engine(f"sqlite:///{erp}")
    step = round(1 / share)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        changed = conn.execute(
            table.update()
            .where(table.c.id % step == 0)
            .values(name=table.c.name + " (renamed)", updated_at=now)
        ).rowcount
    engine.dispose()
    return int(changed)


async def run(config: Path, sink: Sink, profile: Path | None = None) -> tuple[int, float, str]:
    """One run of the route; returns (records handled, CPU seconds, counts). With `profile`,
    the run (and only the run) is profiled by cProfile into that file."""
    async with Runtime.open(load_config(config), crm=sink) as runtime:
        # Compiling the mapping files is a cost per process (the daemon pays it once), not per
        # record: it happens before the clock starts.
        for system in ("erp", "crm"):
            runtime.mappers.for_system(system, Entity.CUSTOMER)
        # CPU time, as the figure: a commit waiting on the disk is not the engine's work.
        profiler = cProfile.Profile(time.process_time) if profile is not None else None
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        summary = await SyncService(runtime).run_route("erp-to-crm", trigger="bench")
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
        if profiler is not None and profile is not None:
            profiler.dump_stats(profile)
    counts = summary.counts[Entity.CUSTOMER]
    said = (
        f"created {counts.created}, updated {counts.updated}, unchanged {counts.unchanged}, "
        f"failed {counts.failed}"
    )
    return counts.total, cpu, said


def fresh_pg_schema(base: str) -> tuple[str, sa.Engine, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", admin, schema


def fresh_mariadb_database(base: str) -> tuple[str, sa.Engine, str]:
    database = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    url = sa.make_url(base).set(database=database).render_as_string(hide_password=False)
    return url, admin, database


@dataclass(frozen=True)
class Incremental:
    """How the incremental run is made: the share changed, how often, profiled or not."""

    share: float = CHANGED_SHARE
    runs: int = 1
    #: cProfile's statistics of each store's (first) incremental run: FILE.<store>.pstats.
    profile: Path | None = None


def bench_store(
    label: str,
    state_url: str,
    directory: Path,
    erp: Path,
    customers: int,
    incremental: Incremental = Incremental(),
) -> list[dict[str, Any]]:
    """A first sync and an incremental run with the store at `state_url`; their figures."""
    shutil.copyfile(erp, directory / "erp.db")
    config = write_config(directory, state_url)
    results = []
    sink = Sink("crm", "connector_key")
    handled, cpu, said = asyncio.run(run(config, sink))
    print(f"  {label} first sync: {said}; {cpu:.2f} CPU s, {cpu / handled * 1e6:.0f} µs/record")
    results.append({"store": label, "run": "first sync", "records": handled, "cpu": cpu})
    if sink.write_calls == 0 or sink.created != customers:
        raise SystemExit(f"the first sync created {sink.created} of {customers} in the target")
    handled_all, cpu_all = 0, 0.0
    for attempt in range(incremental.runs):
        changed = change_some(directory / "erp.db", incremental.share)
        profile = incremental.profile
        if profile is not None and attempt == 0:
            profile = profile.with_name(f"{profile.name}.{label}.pstats")
            print(f"  profiling the incremental run into {profile}")
        else:
            profile = None
        handled, cpu, said = asyncio.run(run(config, sink, profile))
        print(
            f"  {label} incremental ({changed} changed): {said}; {cpu:.3f} CPU s, "
            f"{cpu / handled * 1e6:.0f} µs/record"
        )
        handled_all, cpu_all = handled_all + handled, cpu_all + cpu
    results.append({"store": label, "run": "incremental", "records": handled_all, "cpu": cpu_all})
    return results


def measure(
    erp: Path,
    customers: int,
    pg: str | None,
    mariadb: str | None,
    incremental: Incremental = Incremental(),
) -> list[dict[str, Any]]:
    """Every case on this checkout's engine; a list of {store, run, records, cpu}."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        state = f"sqlite:///{directory / 'state.db'}"
        results += bench_store("sqlite", state, directory, erp, customers, incremental)
        if pg is not None:
            url, admin, schema = fresh_pg_schema(pg)
            try:
                results += bench_store("postgresql", url, directory, erp, customers, incremental)
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
        if mariadb is not None:
            url, admin, database = fresh_mariadb_database(mariadb)
            try:
                results += bench_store("mariadb", url, directory, erp, customers, incremental)
            except ConfigurationError as error:
                print(f"  mariadb: skipped, this checkout refuses it ({error})")
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f"DROP DATABASE `{database}`"))
                admin.dispose()
    return results


def measure_checkout(
    root: Path,
    erp: Path,
    customers: int,
    pg: str | None,
    mariadb: str | None,
    label: str,
    incremental: Incremental = Incremental(),
) -> list[dict[str, Any]]:
    """This script run by a fresh interpreter (this venv's) inside the checkout at `root`."""
    script = root / "bench" / "_engine_bench_copy.py"
    if root != ROOT:
        shutil.copyfile(Path(__file__), script)  # today's bench, REF's engine
    else:
        script = Path(__file__)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, str(script), "--customers", str(customers), "--erp", str(erp)]
        command += ["--json", out.name, "--checkout", str(root)]
        command += ["--changed", str(incremental.share)]
        command += ["--incremental-runs", str(incremental.runs)]
        command += ["--pg", pg] if pg is not None else ["--no-pg"]
        command += ["--mariadb", mariadb] if mariadb is not None else ["--no-mariadb"]
        print(f"\n== {label} ({root})")
        # The checkout's packages come first on the path: not this worktree's editable install.
        env = {**os.environ, "PYTHONPATH": str(root)}
        subprocess.run(command, cwd=root, env=env, check=True)
        return list(json.loads(Path(out.name).read_text()))


def baseline_checkout(ref: str, folder: Path) -> Path:
    """A detached `git worktree` of `ref` under `folder` (removed by the caller)."""
    path = folder / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), ref],
        check=True,
    )
    return path


def rate(result: dict[str, Any]) -> float:
    return float(result["records"]) / float(result["cpu"])


GOALS_SAID = "goal: sqlite 10,000, postgresql 7,000, mariadb none set"


def goal_ratio(result: dict[str, Any]) -> str:
    goal = GOALS[result["store"]]
    return "-" if goal is None else f"{rate(result) / goal:.2f}"


def print_results(results: list[dict[str, Any]]) -> None:
    print(f"\nrecords per CPU second of the engine process ({GOALS_SAID})")
    for result in results:
        ratio = goal_ratio(result)
        print(
            f"  {result['store']:10} {result['run']:12} {rate(result):9,.0f} records/CPU-s  "
            + ("(no goal)" if ratio == "-" else f"(ratio to goal {ratio})")
        )


def print_side_by_side(ref: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
    print(f"\nrecords per CPU second: {ref} vs this checkout ({GOALS_SAID})")
    head = f"{'store':10} {'run':12} {ref[:12]:>12} {'now':>9} {'now/' + ref[:8]:>13}"
    print(f"  {head} {'goal ratio':>11}")
    # Matched by case: a baseline whose store does not run on MariaDB has no figure there.
    earlier = {(old["store"], old["run"]): old for old in before}
    for new in after:
        old = earlier.get((new["store"], new["run"]))
        then = f"{rate(old):12,.0f}" if old else f"{'-':>12}"
        ratio = f"{rate(new) / rate(old):12.2f}x" if old else f"{'-':>13}"
        print(
            f"  {new['store']:10} {new['run']:12} {then} {rate(new):9,.0f} "
            f"{ratio} {goal_ratio(new):>11}"
        )


def sample_erp(path: Path, customers: int) -> None:
    started = time.perf_counter()
    create_sample_erp(path, customers=customers, contacts=0, orders=0)
    print(f"sample ERP: {customers:,} customers in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL server for the second store")
    parser.add_argument("--no-pg", action="store_true", help="leave the PostgreSQL store out")
    parser.add_argument("--mariadb", default=MARIADB_URL, help="MariaDB server for the third")
    parser.add_argument("--no-mariadb", action="store_true", help="leave the MariaDB store out")
    parser.add_argument("--baseline", metavar="REF", help="measure this git ref first")
    parser.add_argument("--erp", type=Path, help="a sample ERP generated before (same count)")
    parser.add_argument(
        "--changed",
        type=float,
        default=CHANGED_SHARE,
        help="share of the customers changed before the incremental run (default 0.01)",
    )
    parser.add_argument(
        "--incremental-runs",
        type=int,
        default=1,
        metavar="K",
        help="repeat the incremental run K times (their figures summed), e.g. under py-spy",
    )
    parser.add_argument(
        "--profile-incremental",
        type=Path,
        metavar="FILE",
        help="cProfile the incremental run into FILE.<store>.pstats",
    )
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--checkout", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pg = None if args.no_pg else args.pg
    incremental = Incremental(args.changed, max(1, args.incremental_runs), args.profile_incremental)
    mariadb = None if args.no_mariadb else args.mariadb

    if args.checkout is not None:
        # A child of `--baseline`: make sure the engine measured is the checkout's own.
        import connector

        here = Path(connector.__file__).resolve().parents[1]
        if here != args.checkout.resolve():
            raise SystemExit(f"measuring {here}, not the checkout {args.checkout}")

    with tempfile.TemporaryDirectory() as folder:
        erp = args.erp
        if erp is None:
            erp = Path(folder) / "sample-erp.db"
            sample_erp(erp, args.customers)
        if args.baseline is None:
            results = measure(erp, args.customers, pg, mariadb, incremental)
            if args.json is not None:
                args.json.write_text(json.dumps(results))
            print_results(results)
            return
        checkout = baseline_checkout(args.baseline, Path(folder))
        try:
            before = measure_checkout(
                checkout, erp, args.customers, pg, mariadb, args.baseline, incremental
            )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)],
                check=True,
            )
        after = measure_checkout(
            ROOT, erp, args.customers, pg, mariadb, "this checkout", incremental
        )
    print_side_by_side(args.baseline, before, after)


if __name__ == "__main__":
    main()
