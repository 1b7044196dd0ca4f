"""End-to-end fixtures: the HubSpot sandbox on a loopback port and a small sample ERP."""

from __future__ import annotations

import datetime as dt
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from typer.testing import CliRunner

from adapters.erp_generic.sample import create_sample_erp
from adapters.hubspot.sandbox import create_app
from connector.cli import app as cli
from connector.cli.common import console, errors

TOKEN = "sandbox-token"
#: Only against a hang: on a loaded machine a step may take long; nothing here is timed.
HANG_SECONDS = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sandbox:
    url: str
    server: uvicorn.Server

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A HubSpot sandbox served by uvicorn on 127.0.0.1, with HubSpot's limits enforced."""
    yield from serve(create_app())


@contextmanager
def serve_sandbox() -> Iterator[Sandbox]:
    """The HubSpot sandbox on loopback for a block (for fixtures of a wider scope)."""
    yield from serve(create_app())


def serve(app: Any) -> Iterator[Sandbox]:
    """Serve an ASGI app (the sandbox, or the sandbox behind a test's own layer) on loopback.

    On port 0, the port the server bound itself: one picked free beforehand may be taken by
    another process before the server binds it."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + HANG_SECONDS
    while not server.started:
        assert thread.is_alive(), "sandbox did not start (see its log above)"
        assert time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.02)
    yield Sandbox(f"http://127.0.0.1:{bound_port(server)}", server)
    server.should_exit = True
    thread.join(timeout=10)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started uvicorn server listens on."""
    return int(server.servers[0].sockets[0].getsockname()[1])


def shipped_config(directory: Path) -> dict[str, Any]:
    """The shipped config.yaml with its state store and sample ERP moved into `directory`."""
    shipped = yaml.safe_load(Path(__file__).parents[2].joinpath("config.yaml").read_text())
    shipped["state"] = {"url": f"sqlite:///{directory / 'state.db'}"}
    erp = shipped["systems"]["erp"]["settings"]
    erp["url"] = f"sqlite:///{directory / 'erp.db'}"
    erp.pop("webhooks", None)
    return shipped


def save_config(directory: Path, config: dict[str, Any], **route_options: Any) -> Path:
    """Write `config`, with `route_options` ({route: {entity: options}}) merged into its routes."""
    for route in config["routes"]:
        for entity, options in route_options.get(route["name"], {}).items():
            route["entities"][entity] = {**route["entities"].get(entity, {}), **options}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_config(directory: Path, sandbox_url: str, **route_options: Any) -> Path:
    config = shipped_config(directory)
    crm = config["systems"]["crm"]["settings"]
    crm["base_url"] = sandbox_url
    crm["auth"] = {"kind": "token", "token": TOKEN}
    crm.pop("webhooks", None)
    return save_config(directory, config, **route_options)


def run_cli(config: Path, *args: str, expect: int | None = 0) -> str:
    """`connector --config <config> args…` in process; asserts the exit code unless None."""
    console.width = errors.width = 200
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    if expect is not None:
        assert result.exit_code == expect, result.output
    return result.output


def erp_query(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(sql, params).fetchall()
        db.commit()
    return rows


def erp_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def counts(output: str, route: str, entity: str) -> list[int]:
    """One row of the sync summary table: created, updated, unchanged, deleted, skipped, failed."""
    match = re.search(rf"{route}\s*│\s*{entity}\s*│([\s\d│]+)", output)
    assert match, output
    return [int(cell) for cell in match.group(1).split("│") if cell.strip()]


@dataclass
class World:
    directory: Path
    config: Path
    sandbox: Sandbox

    @property
    def erp_db(self) -> Path:
        return self.directory / "erp.db"

    def connector(self, *args: str, expect: int | None = 0) -> str:
        return run_cli(self.config, *args, expect=expect)


@pytest.fixture
def world(tmp_path: Path, sandbox: Sandbox) -> World:
    create_sample_erp(tmp_path / "erp.db", customers=30, contacts=60, orders=40, products=20)
    config = write_config(tmp_path, sandbox.url)
    world = World(tmp_path, config, sandbox)
    world.connector("hubspot", "setup")
    return world
