"""Issue 12: line-item creates failing at 20 % (faults injected by the HubSpot sandbox, outside
the product) heal through a real `connector daemon`'s own retries: every deal ends with exactly
its ERP lines, none missing and none twice, and no retryable failure is left — no manual step."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.sandbox import create_app
from adapters.hubspot.sandbox.state import Sandbox as SandboxState
from connector.state.store import open_store
from tests.daemon.processes import HANG_SECONDS, start, stop, wait
from tests.e2e.conftest import TOKEN, run_cli, save_config, serve, shipped_config

LINE_CREATES = "/line_items/batch/create"


def wanted_lines(erp_db: Path) -> dict[str, list[int]]:
    """The ERP's line numbers by order number (orders with no line included as [])."""
    with sqlite3.connect(erp_db) as db:
        found = db.execute(
            "SELECT o.order_no, l.line_no FROM sales_orders o "
            "LEFT JOIN sales_order_lines l ON l.order_id = o.id"
        ).fetchall()
    lines: dict[str, list[int]] = {}
    for order_no, line_no in found:
        lines.setdefault(order_no, [])
        if line_no is not None:
            lines[order_no].append(int(line_no))
    return {order: sorted(numbers) for order, numbers in lines.items()}


def deal_lines(state: SandboxState) -> dict[str, list[int]]:
    """Each live deal's live line items' ERP line numbers, as the sandbox holds them."""
    lines: dict[str, list[int]] = {}
    items = {r.id: r for r in state.store.records["line_items"].values() if not r.archived}
    for deal in state.store.records["deals"].values():
        if deal.archived:
            continue
        attached = state.associations.targets("deals", deal.id, "line_items")
        numbers = [int(items[t].value("erp_line_no") or 0) for t, _ in attached if t in items]
        lines[deal.value("erp_order_no") or f"deal {deal.id}"] = sorted(numbers)
    return lines


@pytest.mark.e2e
def test_line_item_creates_failing_at_20_percent_heal_by_the_daemon_alone(tmp_path: Path):
    erp_db = tmp_path / "erp.db"
    create_sample_erp(erp_db, customers=12, contacts=0, orders=30, products=10)
    wanted = wanted_lines(erp_db)
    assert sum(len(v) for v in wanted.values()) >= 30, "the sample should give sales lines"

    app = create_app(
        # A 500, a 524 before HubSpot wrote anything, and a reply lost after it wrote.
        faults={"internal_error": 0.07, "origin_timeout": 0.07, "connection_reset": 0.06},
        fault_paths=[LINE_CREATES],
        seed=12,
    )
    state: SandboxState = app.state.sandbox
    with contextmanager(serve)(app) as sandbox:
        config = shipped_config(tmp_path)
        crm = config["systems"]["crm"]["settings"]
        crm.update(base_url=sandbox.url, auth={"kind": "token", "token": TOKEN})
        crm.pop("webhooks", None)
        # Small line batches, so the faults land on several deals' lines, not one call.
        crm["batch_size"] = 5
        # One attempt per call: the client's own retries are tested elsewhere; here every
        # fault reaches `failures`, so what heals it is the daemon's retrier alone.
        crm["limits"] = {"max_attempts": 1}
        config["systems"]["erp"]["settings"].pop("webhooks", None)
        [erp_to_crm] = [r for r in config["routes"] if r["name"] == "erp-to-crm"]
        erp_to_crm["schedule"] = "every 1h"  # once at start; healing is the retrier's job
        erp_to_crm["entities"] = {"customer": {"match": ["number"]}, "sale": {"match": ["number"]}}
        config["routes"] = [erp_to_crm]
        config["daemon"] = {
            "host": "127.0.0.1",
            "port": 0,  # nothing here calls the daemon: any free port
            "failure_retry_seconds": 0.5,
            "failure_retry_attempts": 10,
            "inbox_poll_seconds": 0.2,
            "shutdown_grace_seconds": 5,
        }
        path = save_config(tmp_path, config)
        run_cli(path, "hubspot", "setup")

        daemon = start(path, tmp_path / "daemon.log")
        try:
            wait(lambda: deal_lines(state) == wanted, HANG_SECONDS, "every deal's lines", [daemon])
            store = open_store(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
            try:
                wait(
                    lambda: not [f for f in store.failures() if f.retryable],
                    HANG_SECONDS,
                    "no retry",
                )
                assert store.failures() == []
                triggers = {run.trigger for run in store.last_runs(20)}
            finally:
                store.close()
        finally:
            code = stop(daemon)
        log = (tmp_path / "daemon.log").read_text()
        assert code == 0, log

    faulted = [r for r in state.request_log if r.fault is not None]
    assert all(LINE_CREATES in r.path for r in faulted), "faults hit line creates only"
    kinds = {"internal_error", "origin_timeout", "connection_reset"}
    assert {r.fault for r in faulted} == kinds, "each kind of fault struck at least once"
    assert deal_lines(state) == wanted  # no line twice, none missing, nothing else archived
    assert "retry" in triggers, f"the daemon's own retrier healed the deals: {triggers}"
