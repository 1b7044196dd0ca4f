"""`connector check` against a HubSpot portal's live properties, through the real CLI in a
subprocess, the HubSpot sandbox on loopback.

After `connector hubspot setup` the shipped configuration passes the live check. A mapping file
that names a property the portal lacks, or maps to a value an enumeration's options lack, fails
it: `check` names the file, line and column of each and exits 2, while `check --offline` (no
system contacted) still passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import yaml

from adapters.erp_generic.sample import create_sample_erp
from tests.e2e.conftest import Sandbox, write_config


def connector(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`connector --config … args…` as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=240,
        check=False,
    )


def position(text: str, needle: str, *, after: str) -> str:
    offset = text.index(needle, text.index(after))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_check_passes_after_setup_and_names_file_line_column_of_what_the_portal_refuses(
    tmp_path: Path, sandbox: Sandbox
):
    create_sample_erp(tmp_path / "erp.db", customers=5, contacts=8, orders=4, products=4)
    config = write_config(tmp_path, sandbox.url)
    setup = connector(config, "hubspot", "setup")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    shipped = connector(config, "check")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "every system answered" in one_line(shipped.stdout)

    # The user's own customer file: the domain now goes to a property of their own, which the
    # adapter is told to read (`extra_properties`) but setup was not run again for, so the
    # portal lacks it; and an industry the property's options lack (HubSpot's internal name is
    # COMPUTER_SOFTWARE).
    text = resources.files("mappings").joinpath("hubspot", "customer.yaml").read_text("utf-8")
    edited = text.replace("native: domain,", "native: erp_web_domain,").replace(
        "COMPUTER_SOFTWARE: Computer Software", "SOFTWARE: Computer Software"
    )
    assert edited.count("erp_web_domain") == 1 and "SOFTWARE: Computer" in edited
    user_mappings = tmp_path / "mappings"
    (user_mappings / "hubspot").mkdir(parents=True)
    customer = user_mappings / "hubspot" / "customer.yaml"
    customer.write_text(edited, encoding="utf-8")
    settings = yaml.safe_load(config.read_text())
    settings["mappings"] = str(user_mappings)
    settings["systems"]["crm"]["settings"]["extra_properties"] = {"customer": ["erp_web_domain"]}
    config.write_text(yaml.safe_dump(settings, sort_keys=False))

    offline = connector(config, "check", "--offline")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    live = connector(config, "check")
    assert live.returncode == 2, live.stdout + live.stderr
    errors = one_line(live.stderr)
    missing = position(edited, "erp_web_domain", after="fields:")
    assert f"{customer}:{missing}: companies has no field `erp_web_domain`" in errors, errors
    assert "connector hubspot setup" in errors  # how to add it
    refused = position(edited, "SOFTWARE: Computer", after="native: industry")
    assert (
        f"{customer}:{refused}: companies.industry is a restricted enumeration without the value "
        "'SOFTWARE'" in errors
    ), errors
    # Nothing else: the other files and entries agree with the portal.
    assert errors.count(f"{customer}:") == 2, errors
    assert "mappings/hubspot/sale.yaml" not in errors and "contact.yaml" not in errors, errors
