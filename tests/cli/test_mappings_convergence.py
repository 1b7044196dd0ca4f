"""`connector mappings check --convergence` on the shipped config: the sample ERP's real tables
(reflected from SQLite) and the HubSpot adapter's own terms; nothing is contacted."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from adapters.erp_generic.sample import create_sample_erp
from tests.e2e.conftest import run_cli, write_config


def _config(tmp_path: Path) -> Path:
    create_sample_erp(tmp_path / "erp.db", customers=3, contacts=3, orders=3, products=3)
    return write_config(tmp_path, "http://127.0.0.1:9")  # never called: nothing is synced


def test_the_shipped_mappings_converge(tmp_path: Path) -> None:
    out = run_cli(_config(tmp_path), "mappings", "check", "--convergence", "--examples", "60")
    assert "converge (60 records per pair)" in out


def test_an_erp_without_a_line_column_the_mapping_reads_is_reported(tmp_path: Path) -> None:
    """A foreign ERP without a per-line rebate column: the shipped ERP mapping reads one."""
    config = _config(tmp_path)
    with sqlite3.connect(tmp_path / "erp.db") as db:
        db.execute("ALTER TABLE sales_order_lines DROP COLUMN discount")
    out = run_cli(config, "mappings", "check", "--convergence", "--examples", "60", expect=2)
    assert re.search(
        r"mappings/erp_generic/sale\.yaml:\d+:\d+: erp \(erp_generic\) has no native field "
        r"`discount`",
        out,
    ), out
    # Without --convergence the plain check does not look at line columns.
    assert "All mapping files are valid." in run_cli(config, "mappings", "check")
