"""Benchmark: the engine's own CPU per record, from the sample ERP into a target that costs nothing.

N customers (default 100,000) from the sample ERP (SQLite) run through the whole product: the
shipped `erp-to-crm` route for customers (read, map with the shipped ERP and HubSpot mapping
files, natural-key match on the number, diff against the store, batch upserts, bindings,
cursor). The target is an in-process sink that accepts every batch at once and assigns ids, so
what is measured is the engine (and the ERP adapter's read), not an API.

Two runs per store: a first sync of every customer, then an incremental run after 1 % of the
customers changed in the ERP. The figure is records handled per CPU second of this process
(`time.process_time`) during the run: the machine is shared, so wall time would measure the
neighbours. Opening the runtime and compiling the mapping files are left out (once per process
in the daemon); the run's lease, run record and cursor are in.

Goals (issue 16): >= 10,000 records per CPU second with the store on SQLite, >= 7,000 on
PostgreSQL (a fresh schema on 127.0.0.1:5432 db `test`, or `--pg URL`; `--no-pg` skips it).

    .venv/bin/python bench/engine.py [--customers 100000] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
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
from connector.model import Entity
from connector.runtime import Runtime

GOALS = {"sqlite": 10_000, "postgresql": 7_000}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHANGED_SHARE = 0.01


class Sink:
    """A target that takes every batch at once: ids assigned, fields kept, nothing checked.

    It is registered as nothing: the bench hands it to `Runtime.open` in place of the HubSpot
    adapter, so the HubSpot mapping files still shape what the engine writes.
    """

    kind: ClassVar[str] = "hubspot"
    Settings: ClassVar[type[BaseModel]] = BaseModel

    def __init__(self, name: str, match_field: str) -> None:
        self.name = name
        self.capabilities = Capabilities(
            entities=frozenset(Entity),
            batch_size=100,
            max_in_flight=4,
            upsert_matches={entity: "connector_key" for entity in Entity},
        )
        self.rows: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.write_calls = 0

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
        for write in writes:
            record_id = write.external_id or self._by_key.get(write.key)
            created = record_id is None
            if record_id is None:
                record_id = str(next(self._ids))
                self._by_key[write.key] = record_id
                self.rows[record_id] = {}
            self.rows[record_id].update(write.fields)
            results.append(WriteResult(write.key, record_id, created=created, updated_at=now))
        return results

    async def delete(self, entity: Entity, ids: Sequence[str]) -> list[WriteResult]:
        return [WriteResult(record_id, record_id) for record_id in ids]

    def native_fields(self, entity: Entity) -> frozenset[str] | None:
        return None

    def webhook_verifier(self) -> WebhookVerifier | None:
        return None


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


async def run(config: Path, sink: Sink) -> tuple[int, float, str]:
    """One run of the route; returns (records handled, CPU seconds, counts)."""
    async with Runtime.open(load_config(config), crm=sink) as runtime:
        # Compiling the mapping files is a cost per process (the daemon pays it once), not per
        # record: it happens before the clock starts.
        for system in ("erp", "crm"):
            runtime.mappers.for_system(system, Entity.CUSTOMER)
        cpu = time.process_time()
        summary = await SyncService(runtime).run_route("erp-to-crm", trigger="bench")
        cpu = time.process_time() - cpu
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


def bench_store(label: str, state_url: str, directory: Path, customers: int) -> list[str]:
    config = write_config(directory, state_url)
    goal = GOALS[label]
    lines = []
    sink = Sink("crm", "connector_key")
    handled, cpu, said = asyncio.run(run(config, sink))
    rate = handled / cpu
    print(f"  {label} first sync: {said}; {cpu:.2f} CPU s, {cpu / handled * 1e6:.0f} µs/record")
    lines.append(f"{label:10} first sync   {rate:9,.0f} records/CPU-s  (ratio {rate / goal:.2f})")
    if sink.write_calls == 0 or len(sink.rows) != customers:
        raise SystemExit(f"the first sync left {len(sink.rows)} of {customers} in the target")
    changed = change_some(directory / "erp.db", CHANGED_SHARE)
    handled, cpu, said = asyncio.run(run(config, sink))
    rate = handled / cpu
    print(f"  {label} incremental ({changed} changed): {said}; {cpu:.3f} CPU s")
    lines.append(f"{label:10} incremental  {rate:9,.0f} records/CPU-s  (ratio {rate / goal:.2f})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL server for the second store")
    parser.add_argument("--no-pg", action="store_true", help="measure the SQLite store only")
    args = parser.parse_args()

    results: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        started = time.perf_counter()
        create_sample_erp(directory / "erp.db", customers=args.customers, contacts=0, orders=0)
        print(f"sample ERP: {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
        results += bench_store(
            "sqlite", f"sqlite:///{directory / 'state.db'}", directory, args.customers
        )
        if not args.no_pg:
            create_sample_erp(directory / "erp.db", customers=args.customers, contacts=0, orders=0)
            url, admin, schema = fresh_pg_schema(args.pg)
            try:
                results += bench_store("postgresql", url, directory, args.customers)
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print("\nrecords per CPU second of the engine process (goal: sqlite 10,000, postgresql 7,000)")
    for line in results:
        print("  " + line)


if __name__ == "__main__":
    main()
