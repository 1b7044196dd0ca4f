"""A record the target rejects: listed, shown, then retried with the CLI once the cause is fixed."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app

runner = CliRunner()

CONFIG = """\
systems:
  erp:
    adapter: memory
    settings: {{path: erp.json, seed_customers: 25}}
  crm:
    adapter: memory
    settings:
      path: crm.json
      batch_size: 10
      reject: {reject}
routes:
  - name: erp-to-crm
    from: erp
    to: crm
    entities: [customer]
"""


def cli(config: Path, *args: str):
    return runner.invoke(app, ["--config", str(config), *args])


def test_rejected_record_lands_in_failures_and_retry_fixes_it(tmp_path):
    config = tmp_path / "config.yaml"
    rule = '[{field: name, value: "Customer 7", message: "name is on a block list"}]'
    config.write_text(CONFIG.format(reject=rule))

    result = cli(config, "sync")
    assert result.exit_code == 1, result.output
    assert re.search(
        r"erp-to-crm\s*│\s*customer\s*│\s*24\s*│\s*0\s*│\s*0\s*│\s*0\s*│\s*0\s*│\s*1", result.output
    ), result.output

    listed = cli(config, "failures", "list")
    assert "name is on a block list" in listed.output
    failure_id = re.search(r"│\s*(\d+)\s*│\s*erp-to-crm", listed.output).group(1)
    shown = cli(config, "failures", "show", failure_id)
    assert "REJECTED" in shown.output and "Customer 7" in shown.output

    still_broken = cli(config, "failures", "retry", failure_id)
    assert still_broken.exit_code == 1
    assert "0 of 1 resolved" in still_broken.output

    config.write_text(CONFIG.format(reject="[]"))
    fixed = cli(config, "failures", "retry", "--all")
    assert fixed.exit_code == 0, fixed.output
    assert "1 of 1 resolved" in fixed.output
    assert "No failures." in cli(config, "failures", "list").output

    again = cli(config, "sync")
    assert again.exit_code == 0
    assert re.search(r"customer\s*│\s*0\s*│\s*0\s*│", again.output), again.output


def test_status_shows_routes_runs_and_failures(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(reject="[]"))
    assert cli(config, "sync").exit_code == 0
    status = cli(config, "status")
    assert status.exit_code == 0
    assert "erp-to-crm" in status.output and "succeeded" in status.output
    assert "created 25" in status.output


def test_dry_run_lists_changes_and_writes_nothing(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(reject="[]"))
    result = cli(config, "sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was written" in result.output
    assert "create customer" in result.output
    assert (
        not (tmp_path / "crm.json").exists()
        or '"number"' not in (tmp_path / "crm.json").read_text()
    )


def test_resync_forces_one_record(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(reject="[]"))
    assert cli(config, "sync").exit_code == 0
    result = cli(config, "resync", "customer", "cu-3", "--route", "erp-to-crm")
    assert result.exit_code == 0, result.output
    assert re.search(r"customer\s*│\s*0\s*│\s*1\s*│", result.output), result.output


def test_unknown_route_is_a_usage_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(reject="[]"))
    result = cli(config, "sync", "nope")
    assert result.exit_code == 2
    assert "no route named 'nope'" in result.output
