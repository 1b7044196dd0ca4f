"""Garbage-collector settings for the work that allocates heavily: runs and the daemon.

A run creates and drops several objects per field of every record (rows, models, flat values,
snapshots). With CPython's default thresholds a young collection runs every 700 allocations and
the older ones walk every object loaded at start-up again (modules, configuration, compiled
mappers): about a fifth of a first sync's CPU on `bench/engine.py` (hotmap's profile,
bench/README.md). `gc.freeze` moves what exists now into a permanent generation no collection
walks (Python docs, `gc.freeze`); higher thresholds make collections rarer. Cycles are still
collected, just in larger, rarer sweeps.

`fewer_collections()` does this for the length of a run and undoes it after, so a process that
runs the engine in passing (a test, an embedding application) keeps its own settings;
`for_process()` does it for good (the daemon, once its start-up is done).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Young collections every 50,000 net allocations instead of 700; the older generations as
#: CPython's defaults scale them.
THRESHOLDS = (50_000, 50, 100)

_runs = 0
_for_good = False
_saved = gc.get_threshold()


def for_process() -> None:
    """Tune for the rest of the process's life (a long-running daemon after start-up).

    A collection holds the GIL, so in the daemon it stalls the webhook receiver's thread too:
    in bench/webhooks.py's daemon case, four alternating pairs gave a p99 of 81-117 ms with
    this against 105-264 ms without.
    """
    global _for_good
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    _for_good = True


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Tune while the block runs; runs may nest or overlap (several routes at once)."""
    global _runs, _saved
    if _for_good:
        yield
        return
    if _runs == 0:
        _saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
    _runs += 1
    try:
        yield
    finally:
        _runs -= 1
        if _runs == 0 and not _for_good:
            gc.unfreeze()
            gc.set_threshold(*_saved)
