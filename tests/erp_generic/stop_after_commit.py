"""`python -m connector`, frozen (SIGSTOP) the moment its N-th ERP write transaction commits.

The kill tests SIGKILL the frozen process, so the kill lands between the ERP's commit and the
binding's write to the state store whatever the machine's load. Watching the ERP from another
process finds that window only when the scheduler lets the watcher run in time: on a busy
machine the binding is often written first.

    python -m tests.erp_generic.stop_after_commit N [connector arguments ...]
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from adapters.erp_generic.sql import SqlStore
from connector.adapter import NativeWrite, WriteResult
from connector.cli import main
from connector.model import Entity


def stop_after(commits: int) -> None:
    """Make the process stop itself right after the `commits`-th call of `SqlStore.upsert`,
    which returns only once its transaction has committed (`SqlStore._in_transaction`)."""
    upsert = SqlStore.upsert
    done = 0

    def upsert_then_stop(
        self: SqlStore, entity: Entity, writes: Sequence[NativeWrite]
    ) -> list[WriteResult]:
        nonlocal done
        results = upsert(self, entity, writes)
        done += 1
        if done == commits:
            # Stops every thread; the engine has not seen these results, so has bound nothing.
            os.kill(os.getpid(), signal.SIGSTOP)
        return results

    SqlStore.upsert = upsert_then_stop  # type: ignore[method-assign]


if __name__ == "__main__":
    stop_after(int(sys.argv[1]))
    sys.argv = ["connector", *sys.argv[2:]]
    main()
