"""Start-up time of the `connector` command: `--help` and `status` on the shipped config.

Goal (issue 15, item 9): under 0.3 s each, wall clock, for a fresh process. Each command runs
`RUNS` times in a new interpreter (the way a person or cron starts it); the best run is the
figure (the others measure what else the machine was doing), the median is printed beside it,
and so is the child's CPU time (user + system), which a busy machine disturbs much less.
`status` runs in a scratch copy of the shipped config.yaml with a demo state store: created by
a first `status`, then given what a demo leaves behind (30 runs with counts, one failed with its
reason, 40 pending failures, cursors, inbox events), so the command prints real tables.

Run: `.venv/bin/python bench/cli_startup.py`.
"""

from __future__ import annotations

import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 0.3
RUNS = 15
ROOT = Path(__file__).resolve().parent.parent


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def fill_demo_store(database: Path) -> None:
    """What a demo's runs leave in the store (written through the store itself)."""
    import datetime as dt

    from connector.engine.blame import RunFailure
    from connector.errors import RecordError
    from connector.state.store import RunStatus, open_store

    store = open_store(f"sqlite:///{database}")
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as tx:
        for route in ("erp-to-crm", "crm-to-erp"):
            for entity in ("customer", "contact", "sale"):
                tx.set_cursor(route, entity, now)
        for number in range(40):
            tx.record_failure(
                "erp-to-crm",
                ("customer", "contact", "sale")[number % 3],
                str(number),
                key=None,
                stage="push",
                error=RecordError("refused", code="VALIDATION_ERROR"),
                payload={"id": number},
                retryable=number % 2 == 0,
            )
    for number in range(30):
        run = store.start_run(("erp-to-crm", "crm-to-erp")[number % 2], "schedule")
        counts = {"customer": {"created": number, "updated": 2, "unchanged": 100}}
        if number == 29:
            reason = RunFailure("HTTP 401", system="crm", step="read customer changes")
            store.finish_run(run, RunStatus.FAILED, counts, error=reason.to_text())
        else:
            store.finish_run(run, RunStatus.SUCCEEDED, counts)
    store.enqueue_events(
        [
            {"source": "crm", "event_id": str(n), "entity": "customer", "external_id": str(n)}
            for n in range(5)
        ]
    )
    store.close()


def main() -> None:
    # Bytecode up to date first, as after `pip install` (the runs below never write it): a
    # module edited since it was last imported would otherwise be compiled in every run.
    for package in ("connector", "adapters"):
        compileall.compile_dir(ROOT / package, quiet=1)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        shutil.copy(ROOT / "config.yaml", folder / "config.yaml")
        (folder / "demo").mkdir()
        timed(["status"], folder)  # creates the store once, as a first run would
        fill_demo_store(folder / "demo" / "state.db")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        for args in (["--help"], ["status"]):
            runs = [timed(args, folder) for _ in range(RUNS)]
            walls = sorted(wall for wall, _ in runs)
            best, median = walls[0], statistics.median(walls)
            cpu = min(cpu for _, cpu in runs)
            print(
                f"connector {' '.join(args):8} best {best * 1000:6.0f} ms  "
                f"median {median * 1000:6.0f} ms  cpu {cpu * 1000:6.0f} ms  "
                f"goal {GOAL_SECONDS * 1000:.0f} ms  ratio {best / GOAL_SECONDS:.2f}  "
                f"{'met' if best < GOAL_SECONDS else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
