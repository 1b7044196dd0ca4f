"""Steering callgrind from inside a benchmark (run under `valgrind --tool=callgrind` only).

`control("--zero")` before the part to measure and `control("--dump=NAME")` after it leave a
dump holding that part alone; `control("-i", "on")` starts instrumenting a process run with
`--instr-atstart=no`. `callgrind_control` acts on this process by its pid and takes effect
within a moment, so each call waits that moment before the measured code goes on.
"""

from __future__ import annotations

import os
import subprocess
import time


def control(*arguments: str) -> None:
    """`callgrind_control ARGUMENTS` on this process, then a pause for it to take effect."""
    subprocess.run(
        ["callgrind_control", *arguments, str(os.getpid())], check=True, capture_output=True
    )
    time.sleep(0.2)
