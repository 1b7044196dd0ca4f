"""`python -m connector` whose sample-ERP writes stop at a known point, for the fencing tests.

    python -m tests.daemon.held_erp stop N [connector arguments ...]
        freezes itself (SIGSTOP) right after its N-th ERP transaction has committed, before
        the engine has bound what it wrote (`tests/erp_generic/stop_after_commit.py`);
    python -m tests.daemon.held_erp hold GATE [connector arguments ...]
        its first ERP write creates GATE.held and waits until the file GATE exists; its
        event loop (lease renewals included) goes on meanwhile, so its run stays live.

A process frozen or held by the machine's load reaches neither point any sooner: what the tests
prove does not depend on how fast either daemon gets there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from adapters.erp_generic.sql import SqlStore
from connector.adapter import NativeWrite, WriteResult
from connector.cli import main
from connector.model import Entity
from tests.erp_generic.stop_after_commit import stop_after


def hold_until(gate: Path) -> None:
    """Make the first call of `SqlStore.upsert` wait, before its transaction, for `gate`."""
    upsert = SqlStore.upsert

    def upsert_when_open(
        self: SqlStore, entity: Entity, writes: Sequence[NativeWrite]
    ) -> list[WriteResult]:
        if not gate.exists():
            gate.with_name(f"{gate.name}.held").touch()
            while not gate.exists():
                time.sleep(0.05)
        return upsert(self, entity, writes)

    SqlStore.upsert = upsert_when_open  # type: ignore[method-assign]


if __name__ == "__main__":
    how, where = sys.argv[1:3]
    if how == "stop":
        stop_after(int(where))
    else:
        hold_until(Path(where))
    sys.argv = ["connector", *sys.argv[3:]]
    main()
