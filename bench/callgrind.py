"""Steering callgrind from inside a benchmark (run under `valgrind --tool=callgrind` only).

`control("--zero")` before the part to measure and `control("--dump=NAME")` after it leave a
dump holding that part alone; `control("-i", "on")` starts instrumenting a process run with
`--instr-atstart=no`. `callgrind_control` acts on this process by its pid and takes effect
within a moment, so each call waits that moment before the measured code goes on.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from collections.abc import Callable, Mapping

#: Set (`CALLGRIND=1`) for a benchmark run under `valgrind --tool=callgrind --instr-atstart=no
#: --collect-atstart=no --toggle-collect=functools_reduce`: `each_step` then counts
#: instructions instead of timing.
ACTIVE = bool(os.environ.get("CALLGRIND"))


def control(*arguments: str) -> None:
    """`callgrind_control ARGUMENTS` on this process, then a pause for it to take effect."""
    subprocess.run(
        ["callgrind_control", *arguments, str(os.getpid())], check=True, capture_output=True
    )
    time.sleep(0.2)


def each_step(
    steps: Mapping[str, Callable[[], object]], reps: int, per: int, note: str = ""
) -> None:
    """Each of `steps` run `reps` times, in order.

    Under callgrind (`ACTIVE`): instrumented from the first step on (the set-up before it ran
    at native speed), each step's instructions collected inside `functools.reduce` only, into a
    dump of its own named after it; a dump's total over `per` times `reps` is a record's.
    Otherwise each step's CPU µs for each of `per` records is printed (`note` after it).
    """
    if ACTIVE:
        control("-i", "on")
    for name, step in steps.items():
        if ACTIVE:
            control("-d")  # (what came before, in a dump of its own)
            functools.reduce(lambda _, __: step(), range(reps), None)
            control("-d", name)
            continue
        started = time.process_time()
        for _ in range(reps):
            step()
        spent = time.process_time() - started
        print(f"  {name:7} {spent / reps / per * 1e6:8.2f} µs a record{note}")
