"""The state store's binding path alone, on SQLite: what a record costs the store, no engine.

`bench/engine.py` measures the whole engine; this script runs only what the engine asks of the
store for each record, with the same shapes and sizes, so that the store's share can be
measured (and its SQLite settings compared) without the mapper's and planner's noise:

* a **first sync** of N customers, a page of 1,000 at a time: one transaction binding the
  source side (an ERP-sized snapshot of 27 paths, ~800 bytes, and the remote time), then one
  binding the target side (a CRM-sized snapshot, ~500 bytes) — `Binder.record_source` and
  `Binder.record_results`, minus their failure bookkeeping;
* **incremental runs** on a copy of that store, each updating 1 % of the customers (every
  100th, so spread over the whole file as `bench/engine.py`'s `change_some` spreads them):
  both sides' bindings read per page (`bindings_for`), then the two transactions again. Each
  run opens the store afresh and closes it, as each run of the bench opens a runtime; the
  closing checkpoint is counted in the total.

It prints CPU µs (`time.process_time`, this process, user + system) per record, less the
snapshots' encoding (the engine's), split into reading, gathering the binds (`tx.bind`) and
writing them (the executemany and the commit, which includes SQLite's automatic checkpoints
and their fsyncs). `--pragma NAME=VALUE` (repeatable) is applied to every connection after
the store's own settings (`connector.state.connect`), to compare one against the store as
configured:

    .venv/bin/python bench/store_bindings.py --prepare /tmp/sb --customers 100000
    .venv/bin/python bench/store_bindings.py --prepare /tmp/sb --runs 8 [--pragma cache_size=-2000]

The machine is shared: alternate the settings compared, several times, and compare the totals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.state.snapshots import EncodedSnapshot, encode_snapshot
from connector.state.store import StateStore, open_store

PAGE = 1_000
#: Every STEP-th customer changes in an incremental run: 1 %, as `bench/engine.py` by default.
STEP = 100
REMOTE = dt.datetime(2026, 12, 6, 6, 0, tzinfo=dt.UTC)


def snapshots(n: int) -> tuple[EncodedSnapshot, EncodedSnapshot]:
    """Customer `n`'s ERP-side and CRM-side snapshots, shaped as the shipped mappings make."""
    crm = {
        "annual_revenue": str(1_000_000 + n * 17),
        "billing_address.city": "Geneva",
        "billing_address.country": "CH",
        "billing_address.postal_code": "1201",
        "billing_address.region": "GE",
        "billing_address.street": f"{n % 400} Garden Street",
        "employees": n % 500,
        "history.last_order_date": None,
        "history.lifetime_revenue": "0",
        "history.open_order_count": 0,
        "industry": "Food & Beverages",
        "name": f"Evergreen Textiles {n} AG",
        "number": f"C{100_000 + n}",
        "owner": "alice@example.com",
        "phone": f"+41{n:09d}",
        "status": "active",
        "website": f"https://www.evergreentextiles{n}.ch",
    }
    erp = {
        **crm,
        "credit_limit": "50000",
        "currency": "CHF",
        "email": f"info@evergreentextiles{n}.ch",
        "payment_terms": "NET60",
        "shipping_address.city": "Geneva",
        "shipping_address.country": "CH",
        "shipping_address.postal_code": "1201",
        "shipping_address.region": "GE",
        "shipping_address.street": f"{n % 90} Depot Road",
        "tax_id": f"CHE{n:09d}",
    }
    return encode_snapshot(erp), encode_snapshot(crm)


def keys(customers: int) -> list[str]:
    """UUIDv7-like canonical keys in minting order (time first), the same on every call."""
    chance = random.Random(16)
    return [f"{1_700_000_000_000 + n:012x}{chance.randbytes(10).hex()}" for n in range(customers)]


def opened(folder: Path, pragmas: Sequence[str]) -> StateStore:
    store = open_store(f"sqlite:///{folder / 'state.db'}")
    if pragmas:

        def apply(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        event.listen(store.engine, "connect", apply)  # after the store's own settings
        store.engine.dispose()  # the migration's connection had none of them
    return store


class Clock:
    """CPU seconds spent in each part of the binding path."""

    def __init__(self) -> None:
        self.parts = {"read": 0.0, "bind": 0.0, "write": 0.0}
        #: Encoding the snapshots: the engine's work, left out of every figure.
        self.encoding = 0.0
        self._last = time.process_time()

    def lap(self, part: str | None) -> None:
        now = time.process_time()
        if part == "encoding":
            self.encoding += now - self._last
        elif part is not None:
            self.parts[part] += now - self._last
        self._last = now

    def line(self, records: int) -> str:
        return ", ".join(f"{part} {cpu / records * 1e6:.1f}" for part, cpu in self.parts.items())


def bind_page(store: StateStore, clock: Clock, page: list[tuple[str, str, str]], run: int) -> None:
    """One page's two transactions: the source side (ERP), then the target side (CRM).

    The snapshots are encoded before the clock runs: encoding is the engine's work, once per
    record for both sides."""
    clock.lap(None)
    encoded = [snapshots(int(erp_id) + run) for _key, erp_id, _crm_id in page]
    clock.lap("encoding")
    for side in (0, 1):
        clock.lap(None)
        with store.transaction() as tx:
            for (key, erp_id, crm_id), snapshot in zip(page, encoded, strict=True):
                if side == 0:
                    tx.bind(
                        "customer",
                        key,
                        "erp",
                        erp_id,
                        snapshot=snapshot[0],
                        remote_updated_at=REMOTE,
                    )
                else:
                    tx.bind("customer", key, "crm", crm_id, snapshot=snapshot[1])
            clock.lap("bind")
        clock.lap("write")


def prepare(folder: Path, customers: int, pragmas: Sequence[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state.db").unlink(missing_ok=True)
    every = keys(customers)
    started = time.process_time()
    store = opened(folder, pragmas)
    clock = Clock()
    for first in range(0, customers, PAGE):
        page = [(every[n], str(n), f"c{n}") for n in range(first, min(first + PAGE, customers))]
        bind_page(store, clock, page, 0)
    store.close()
    total = time.process_time() - started - clock.encoding
    print(
        f"first sync, {customers:,} customers: {total / customers * 1e6:.1f} µs/record "
        f"with opening and closing ({clock.line(customers)})"
    )


def incremental(folder: Path, runs: int, pragmas: Sequence[str]) -> None:
    every = keys(_customers(folder))
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        shutil.copyfile(folder / "state.db", directory / "state.db")
        started, updated, encoding = time.process_time(), 0, 0.0
        for run in range(1, runs + 1):
            store = opened(directory, pragmas)
            clock = Clock()
            changed = range(run % STEP, len(every), STEP)
            for first in range(0, len(changed), PAGE):
                page_keys = [every[n] for n in changed[first : first + PAGE]]
                clock.lap(None)
                erp = store.bindings_for("customer", "erp", page_keys)
                crm = store.bindings_for("customer", "crm", page_keys)
                clock.lap("read")
                page = [(key, erp[key].external_id, crm[key].external_id) for key in page_keys]
                bind_page(store, clock, page, run)
            store.close()
            updated, encoding = updated + len(changed), encoding + clock.encoding
            print(f"run {run}: {len(changed):,} updated; µs/update {clock.line(len(changed))}")
        total = time.process_time() - started - encoding
        print(f"all runs, with opening and closing: {total / updated * 1e6:.1f} µs/update")


def _customers(folder: Path) -> int:
    store = opened(folder, ())
    try:
        return store.count_bindings("customer", "erp")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", type=Path, required=True, metavar="DIR")
    parser.add_argument("--customers", type=int, help="prepare DIR afresh with this many")
    parser.add_argument("--runs", type=int, default=0, help="incremental runs on a copy of DIR")
    parser.add_argument("--pragma", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    if args.customers:
        prepare(args.prepare, args.customers, args.pragma)
    if args.runs:
        incremental(args.prepare, args.runs, args.pragma)


if __name__ == "__main__":
    main()
