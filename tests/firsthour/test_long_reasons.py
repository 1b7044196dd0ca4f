"""Issue 15, following along: `failures list` shows a failure's whole reason, off a terminal too.

A reason is often one long token (an API's JSON body, a URL); the table folds it over as many
lines as it needs instead of cutting it with an ellipsis at the column's width.
"""

from __future__ import annotations

import json

from connector.errors import RecordError
from connector.state.store import open_store
from tests.firsthour.conftest import Folder

TOKEN = '{"status":"error","message":"Property-values-were-not-valid","errors":' + "[" * 40
TOKEN += ",".join(f'"vat_number_{n}"' for n in range(12)) + "]" * 40 + "}"


def test_failures_list_folds_a_long_reason_instead_of_cutting_it(fresh: Folder):
    (fresh.path / "demo").mkdir()
    store = open_store(f"sqlite:///{fresh.path / 'demo' / 'state.db'}")
    with store.transaction() as tx:
        tx.record_failure(
            "erp-to-crm",
            "customer",
            "C-1",
            key=None,
            stage="push",
            error=RecordError(f"the CRM refused the record: {TOKEN}", code="VALIDATION_ERROR"),
            payload={"id": 1},
            retryable=False,
        )
    store.close()
    result = fresh.run("failures", "list")
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout, result.stdout
    cells = [line.split("│")[6].strip() for line in result.stdout.splitlines() if "│" in line]
    assert TOKEN in "".join(cells), result.stdout  # every character, in order
    listed = json.loads(fresh.run("failures", "list", "--json").stdout)
    assert TOKEN in listed["failures"][0]["message"]
