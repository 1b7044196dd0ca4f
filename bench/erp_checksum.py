"""Benchmark: checksum mode on a table with no change column, 100,000 customers with contacts.

Goal (issue 13): an unchanged rescan of 100,000 rows in <= 5 s of engine time on SQLite
(>= 20,000 rows/s), memory flat.

Run: `.venv/bin/python bench/erp_checksum.py [--customers 100000] [--page-size 5000]`

The ERP is a SQLite file with a German-style `kunde` table (no timestamp of any kind) and
three `ansprechpartner` rows per customer, hashed as the customer's children. The state store
is a SQLite file too. Passes:
1. first scan: every row is new (hashes written to the store);
2. unchanged rescan: the goal's figure — CPU seconds of this process (ERP reads, hashing,
   store reads: all in process) and wall seconds;
3. 1 % changed (half in the customer row, half only in a contact) and 0.1 % deleted: rescan,
   then the report of the changed rows (the pages the engine would get);
4. the unchanged rescan under tracemalloc: traced peak after 10 % and after 100 % of the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.checksum import ChecksumReader
from adapters.erp_generic.reader import PlanReader
from adapters.erp_generic.settings import ErpGenericSettings, SqlSettings
from connector.adapter import AdapterContext
from connector.model import Entity
from connector.state.store import StateStore, open_store

GOAL_SECONDS = 5.0
GOAL_ROWS_PER_SECOND = 20_000


def create_erp(path: Path, customers: int) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as db:
        db.exec_driver_sql(
            "CREATE TABLE kunde (kdnr INTEGER PRIMARY KEY, kundennummer VARCHAR(20) NOT NULL, "
            "firma VARCHAR(80) NOT NULL, ort VARCHAR(40), umsatz NUMERIC(12,2), "
            "aktiv BOOLEAN NOT NULL DEFAULT 1)"
        )
        db.exec_driver_sql(
            "CREATE TABLE ansprechpartner (apnr INTEGER PRIMARY KEY, kdnr INTEGER NOT NULL "
            "REFERENCES kunde (kdnr), name VARCHAR(60), email VARCHAR(80))"
        )
        db.exec_driver_sql("CREATE INDEX ix_ap_kdnr ON ansprechpartner (kdnr)")
        raw = db.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.executemany(
            "INSERT INTO kunde (kdnr, kundennummer, firma, ort, umsatz) VALUES (?, ?, ?, ?, ?)",
            (
                (n, f"K-{n:06d}", f"Firma {n} GmbH", f"Ort {n % 977}", f"{n % 10007}.50")
                for n in range(1, customers + 1)
            ),
        )
        cursor.executemany(
            "INSERT INTO ansprechpartner (apnr, kdnr, name, email) VALUES (?, ?, ?, ?)",
            (
                (3 * n + k, n, f"Person {n}-{k}", f"p{k}@firma{n}.de")
                for n in range(1, customers + 1)
                for k in range(3)
            ),
        )
    engine.dispose()


def scanner_for(erp: Path, store: StateStore, page_size: int) -> tuple[Any, ChecksumReader]:
    block = {
        "url": f"sqlite:///{erp}",
        "page_size": page_size,
        "entities": {
            "customer": {
                "table": "kunde",
                "primary_key": "kdnr",
                "read": {
                    "deleted_when": "aktiv = 0",
                    "checksum": {"children": [{"table": "ansprechpartner", "foreign_key": "kdnr"}]},
                },
            }
        },
    }
    settings = ErpGenericSettings.model_validate(block).root
    assert isinstance(settings, SqlSettings)
    adapter = ErpGenericAdapter("erp", settings, AdapterContext(erp.parent, row_hashes=store))
    asyncio.run(adapter.open())
    backend: Any = adapter._backend
    plan = backend.store.tables(Entity.CUSTOMER).plan
    reader = PlanReader(backend.store.engine, plan, page_size)
    return adapter, ChecksumReader(reader, store, "erp", backend.clock)


def timed(work: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args()
    n = args.customers
    with tempfile.TemporaryDirectory() as folder:
        erp = Path(folder) / "erp.db"
        _, wall, _ = timed(lambda: create_erp(erp, n))
        print(f"ERP: {n:,} customers with {3 * n:,} contacts (no change column) in {wall:.1f} s")
        store = open_store(f"sqlite:///{Path(folder) / 'state.db'}", Path(folder))
        adapter, scanner = scanner_for(erp, store, args.page_size)

        report, wall, cpu = timed(scanner.scan)
        print(f"first scan:       {report} in {wall:.2f} s wall, {cpu:.2f} s CPU")

        report, wall, cpu = timed(scanner.scan)
        assert report.new == report.changed == report.vanished == 0, report
        rate = n / cpu
        print(
            f"unchanged rescan: {report.scanned:,} rows in {wall:.2f} s wall, {cpu:.2f} s CPU "
            f"= {rate:,.0f} rows/s (goal {GOAL_SECONDS:.0f} s: ratio {GOAL_SECONDS / cpu:.2f}; "
            f"goal {GOAL_ROWS_PER_SECOND:,}/s: ratio {rate / GOAL_ROWS_PER_SECOND:.2f})"
        )

        changed = max(1, n // 100)
        engine = sa.create_engine(f"sqlite:///{erp}")
        with engine.begin() as db:
            step = n // changed
            db.exec_driver_sql(
                f"UPDATE kunde SET ort = 'Neu' WHERE kdnr % {step} = 0 AND kdnr % {2 * step} != 0"
            )
            db.exec_driver_sql(
                f"UPDATE ansprechpartner SET email = 'neu@x.de' "
                f"WHERE apnr % 3 = 0 AND kdnr % {2 * step} = 0"
            )
            db.exec_driver_sql(f"DELETE FROM ansprechpartner WHERE kdnr % {10 * step} = 7")
            db.exec_driver_sql(f"DELETE FROM kunde WHERE kdnr % {10 * step} = 7")
        engine.dispose()
        before = scanner.clock()
        report, wall, cpu = timed(scanner.scan)
        print(
            f"1 % changed:      {report} in {wall:.2f} s wall, {cpu:.2f} s CPU "
            f"= {n / cpu:,.0f} rows/s"
        )
        scanner.scan = lambda: report  # type: ignore[method-assign]
        pages, wall, cpu = timed(lambda: list(scanner.pages(before)))
        records = [r for page in pages for r in page]
        deleted = sum(r.deleted for r in records)
        print(
            f"  report:         {len(records):,} records ({deleted} deleted) "
            f"in {wall:.2f} s wall, {cpu:.2f} s CPU"
        )
        del scanner.scan

        tracemalloc.start()
        seen = {"rows": 0, "tenth": 0}
        original = scanner.reader.keyset_rows

        def counting(statement: Any) -> Any:
            for row in original(statement):
                seen["rows"] += 1
                if seen["rows"] == n // 10:
                    seen["tenth"] = tracemalloc.get_traced_memory()[1]
                yield row

        scanner.reader.keyset_rows = counting  # type: ignore[method-assign]
        scanner.scan()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        mib = 1024 * 1024
        print(
            f"tracemalloc peak after {n // 10:,} rows: {seen['tenth'] / mib:.1f} MiB; "
            f"after {seen['rows']:,}: {peak / mib:.1f} MiB -> ratio {peak / seen['tenth']:.2f}"
        )
        asyncio.run(adapter.close())
        store.close()


if __name__ == "__main__":
    main()
