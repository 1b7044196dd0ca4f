"""`connector check` reports configuration errors with their location, and exits 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app

runner = CliRunner()

GOOD = """\
systems:
  erp:
    adapter: memory
  crm:
    adapter: memory
routes:
  - name: erp-to-crm
    from: erp
    to: crm
    entities: [customer, contact]
    schedule: every 5m
"""


def check(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return runner.invoke(app, ["--config", str(path), "check"], env=env)


def test_a_good_config_passes(tmp_path):
    result = check(tmp_path, GOOD)
    assert result.exit_code == 0, result.output
    assert "OK (2 systems, 1 routes)" in result.output


@pytest.mark.parametrize(
    ("broken", "replacement", "line", "message"),
    [
        ("adapter: memory\n  crm", "adapter: nosuch\n  crm", 3, "unknown adapter 'nosuch'"),
        ("from: erp", "from: warehouse", 8, "unknown system 'warehouse'"),
        ("schedule: every 5m", "schedule: '61 * * * *'", 11, "bad schedule"),
        # An interval's time zone is checked without APScheduler, a cron line's by it.
        ("schedule: every 5m", "schedule: {every: 5m, timezone: Mars/Olympus}", 11, "Mars"),
        ("schedule: every 5m", "schedule: {cron: '0 2 * * *', timezone: Mars/Base}", 11, "Mars"),
        ("entities: [customer, contact]", "entities: [customer, invoice]", 10, "entities"),
        ("    to: crm", "    to: crm\n    colour: blue", 10, "unknown key"),
    ],
)
def test_each_mistake_is_reported_with_its_line(tmp_path, broken, replacement, line, message):
    result = check(tmp_path, GOOD.replace(broken, replacement, 1))
    assert result.exit_code == 2, result.output
    assert re.search(rf"config\.yaml:{line}:\d+: .*{re.escape(message)}", result.output), (
        result.output
    )


def test_missing_environment_variable_is_named_with_its_location(tmp_path):
    text = GOOD.replace(
        "adapter: memory\n  crm",
        "adapter: memory\n    settings:\n      path: ${ERP_FILE}\n  crm",
        1,
    )
    result = check(tmp_path, text, env={})
    assert result.exit_code == 2
    assert re.search(
        r"config\.yaml:5:\d+: systems\.erp\.settings\.path: "
        r"environment variable ERP_FILE is not set",
        result.output,
    ), result.output


def test_all_problems_are_reported_at_once(tmp_path):
    text = GOOD.replace("from: erp", "from: nowhere").replace("every 5m", "every week")
    result = check(tmp_path, text)
    assert result.exit_code == 2
    assert "unknown system 'nowhere'" in result.output
    assert "schedule" in result.output


def test_bad_yaml_names_the_line(tmp_path):
    result = check(tmp_path, GOOD.replace("    to: crm", "    to: [crm"))
    assert result.exit_code == 2
    assert re.search(r"config\.yaml:\d+:\d+: invalid YAML", result.output), result.output


def test_missing_config_file_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["--config", str(tmp_path / "none.yaml"), "status"])
    assert result.exit_code == 2
    assert "no such configuration file" in result.output
    assert "Traceback" not in result.output
