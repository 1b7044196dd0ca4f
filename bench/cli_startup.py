"""Start-up time of the `connector` command: `--help` and `status` on the shipped config.

Goal (issue 15, item 9): under 0.3 s each, wall clock, for a fresh process. Each command runs
`RUNS` times in a new interpreter (the way a person or cron starts it); the best run is the
figure (the others measure what else the machine was doing), the median is printed beside it,
and so is the child's CPU time (user + system), which a busy machine disturbs much less.
`status` runs in a scratch copy of the shipped config.yaml with an empty store.

Run: `.venv/bin/python bench/cli_startup.py`.
"""

from __future__ import annotations

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


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        shutil.copy(ROOT / "config.yaml", folder / "config.yaml")
        (folder / "demo").mkdir()
        timed(["status"], folder)  # creates the store once, as a first run would
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
