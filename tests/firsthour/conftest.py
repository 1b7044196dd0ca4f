"""The first hour of a new user, through the real `connector` command in a subprocess.

`Folder` is a fresh clone's working folder: the shipped config.yaml and nothing else (so every
command sees exactly what a new user sees); `world` adds a small sample ERP and a HubSpot
sandbox on a free loopback port, which the shipped config reaches through `HUBSPOT_BASE_URL`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.erp_generic.sample import create_sample_erp
from tests.e2e.conftest import Sandbox, serve_sandbox

ROOT = Path(__file__).resolve().parents[2]

#: Variables of the developer's shell that would change what the shipped config means.
CLEARED = (
    "HUBSPOT_BASE_URL",
    "HUBSPOT_TOKEN",
    "CONNECTOR_STATE_URL",
    "ERP_DATABASE_URL",
    "CONNECTOR_CONFIG",
)


@dataclass
class Folder:
    path: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`connector ARGS…` in this folder, off a terminal (stdout and stderr are pipes)."""
        base = {k: v for k, v in os.environ.items() if k not in CLEARED}
        return subprocess.run(
            [sys.executable, "-m", "connector", *args],
            cwd=self.path,
            env={**base, "PYTHONPATH": str(ROOT), **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def fresh_clone(path: Path) -> Folder:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config.yaml", path / "config.yaml")
    return Folder(path)


@pytest.fixture
def fresh(tmp_path: Path) -> Folder:
    """An empty folder with the shipped config.yaml, as after `git clone`."""
    return fresh_clone(tmp_path / "clone")


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The HubSpot sandbox on a free loopback port (its only token: `sandbox-token`), set up
    for the connector (`connector hubspot setup`) as a user would before the first sync."""
    with serve_sandbox() as served:
        folder = fresh_clone(tmp_path_factory.mktemp("setup"))
        create_sample_erp(folder.path / "demo" / "erp.db", customers=1, contacts=1, orders=1)
        setup = folder.run("hubspot", "setup", env={"HUBSPOT_BASE_URL": served.url})
        assert setup.returncode == 0, setup.stderr
        yield served


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, hubspot: Sandbox) -> Folder:
    """The shipped config with a 5-customer sample ERP in demo/, and the sandbox."""
    folder = fresh_clone(tmp_path_factory.mktemp("world"))
    create_sample_erp(folder.path / "demo" / "erp.db", customers=5, contacts=10, orders=10)
    folder.env["HUBSPOT_BASE_URL"] = hubspot.url
    return folder
