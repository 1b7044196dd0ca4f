"""Benchmark: CRM→ERP write batches into the sample ERP through the generic SQL adapter.

What a CRM→ERP route costs the ERP side per record: `ErpGenericAdapter.upsert` of batches of
`--batch` customers, three kinds in turn on one sample ERP (SQLite, `--customers` rows):
updates of bound rows (a new name and phone), the same updates again (nothing to change: the
rows must stay untouched), and creates of new customers (no external id, found by `sync_key`).
Then `--sales` sales with their lines (`--sales 0`: none): each sale's lines edited (every
line a new quantity, its line total left to the ERP), and the same again (nothing to change).
Each is reported as records per wall second and CPU microseconds per record of this process
(the database is in-process for SQLite, so its work counts too; a server's is not).

`--server URL` puts the sample ERP in a fresh database on that PostgreSQL or MariaDB server
instead (dropped afterwards), e.g. `postgresql+psycopg://postgres@127.0.0.1:5432/test`.

Run: `.venv/bin/python bench/erp_write.py [--customers 20000] [--sales 2000] [--batch 100]
[--rounds 3] [--server URL]`
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.sample import create_sample_erp, populate, sample_config, sample_metadata
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeWrite
from connector.model import Entity


def batches(writes: list[NativeWrite], size: int) -> list[list[NativeWrite]]:
    return [writes[i : i + size] for i in range(0, len(writes), size)]


async def timed(
    adapter: ErpGenericAdapter,
    writes: list[NativeWrite],
    size: int,
    entity: Entity = Entity.CUSTOMER,
) -> str:
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches(writes, size):
        results = await adapter.upsert(entity, batch)
        assert all(r.error is None for r in results), [r.error for r in results if r.error]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    per_record = cpu / len(writes) * 1e6
    return f"{len(writes) / wall:,.0f} records/s wall, {per_record:,.0f} µs CPU a record"


@contextmanager
def sample_erp(folder: Path, customers: int, sales: int, server: str | None) -> Iterator[str]:
    """The URL of a sample ERP with `customers` customers and `sales` sales: SQLite, or a fresh
    database."""
    if server is None:
        create_sample_erp(folder / "erp.db", customers=customers, contacts=0, orders=sales)
        yield f"sqlite:///{folder / 'erp.db'}"
        return
    name = f"erp_write_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    quote = admin.dialect.identifier_preparer.quote
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {quote(name)}"))
    url = sa.make_url(server).set(database=name)
    engine = sa.create_engine(url)
    populate(engine, sample_metadata(), customers=customers, contacts=0, orders=sales)
    engine.dispose()
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE {quote(name)}"))
        admin.dispose()


async def run(customers: int, sales: int, size: int, rounds: int, server: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="erp_write_"))
    with sample_erp(folder, customers, sales, server) as url:
        await measure(url, folder, customers, sales, size, rounds)


async def measure(
    url: str, folder: Path, customers: int, sales: int, size: int, rounds: int
) -> None:
    block = sample_config(url)
    block.pop("refresh_history")
    adapter = ErpGenericAdapter.from_settings(
        "erp", ErpGenericSettings.model_validate(block), AdapterContext(folder)
    )
    await adapter.open()
    ids = [str(i) for i in range(1, customers + 1)]
    rows = {r.id: r for r in await adapter.read(Entity.CUSTOMER, ids)}
    bound = [i for i in ids if i in rows]
    for round_ in range(rounds):
        updates = [
            NativeWrite(
                f"k-{i}", i, {"name": f"Name {i} r{round_}", "phone": f"+49 30 {round_}{i}"}
            )
            for i in bound
        ]
        print(f"round {round_ + 1}: updates    {await timed(adapter, updates, size)}")
        print(f"round {round_ + 1}: unchanged  {await timed(adapter, updates, size)}")
        creates = [
            NativeWrite(
                uuid.uuid4().hex,
                None,
                {"name": f"New {round_}-{n}", "customer_no": f"N{round_}-{n:06d}"},
            )
            for n in range(len(bound) // 4)
        ]
        print(f"round {round_ + 1}: creates    {await timed(adapter, creates, size)}")
    sale_ids = [str(i) for i in range(1, sales + 1)]
    stored = {r.id: r.fields["lines"] for r in await adapter.read(Entity.SALE, sale_ids)}
    for round_ in range(rounds):
        edits = [
            NativeWrite(
                f"s-{i}",
                i,
                {
                    "lines": [
                        {"line_no": line["line_no"], "quantity": f"{round_ + 2}.5"}
                        for line in stored[i]
                    ]
                },
            )
            for i in sale_ids
            if i in stored
        ]
        print(f"round {round_ + 1}: sale lines {await timed(adapter, edits, size, Entity.SALE)}")
        print(f"round {round_ + 1}: unchanged  {await timed(adapter, edits, size, Entity.SALE)}")
    await adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--sales", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", help="a PostgreSQL or MariaDB server for the sample ERP")
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.sales, args.batch, args.rounds, args.server))


if __name__ == "__main__":
    main()
