"""Issue 15 item 1 for Salesforce, through the real `connector` command: `check` names a JWT key
the connected app does not know (exit 2) and passes with the right one; the daemon's `/readyz`
turns unready once the app's certificate no longer matches the key, and says why."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.erp_generic.sample import create_sample_erp, sample_config
from adapters.salesforce.sandbox import Sandbox as SalesforceSandbox
from adapters.salesforce.sandbox import SandboxOptions, create_app
from tests.daemon.processes import serving_port
from tests.e2e.conftest import Sandbox, serve
from tests.firsthour.conftest import Folder
from tests.firsthour.test_first_hour import _clean_env
from tests.salesforce.keys import make_key_pair

KEYS = make_key_pair()
OTHER = make_key_pair.__wrapped__()  # another key: its certificate is not on the app


@pytest.fixture(scope="module")
def salesforce() -> Iterator[Sandbox]:
    options = SandboxOptions(certificate_pem=KEYS[1], seed_demo_accounts=False)
    yield from serve(create_app(SalesforceSandbox(options)))


@pytest.fixture
def folder(tmp_path: Path, salesforce: Sandbox) -> Folder:
    create_sample_erp(tmp_path / "erp.db", customers=2, contacts=2, orders=0, products=1)
    (tmp_path / "right.pem").write_text(KEYS[0])
    (tmp_path / "wrong.pem").write_text(OTHER[0])
    config = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {
            "erp": {"adapter": "erp_generic", "settings": sample_config(f"sqlite:///{tmp_path}/erp.db")},
            "crm": {
                "adapter": "salesforce",
                "settings": {
                    "login_url": salesforce.url,
                    "auth": {
                        "kind": "jwt",
                        "client_id": "sandbox-consumer-key",
                        "username": "integration@acme-corp.example",
                        "private_key_file": "${SF_KEY_FILE}",
                    },
                },
            },
        },
        "routes": [
            {"name": "erp-to-crm", "from": "erp", "to": "crm", "schedule": None,
             "entities": {"customer": {"match": ["number"]}}},
        ],
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return Folder(tmp_path, env={"SF_KEY_FILE": str(tmp_path / "right.pem")})


def test_check_names_a_jwt_key_the_connected_app_does_not_know(folder: Folder):
    good = folder.run("check")
    assert good.returncode == 0, good.stderr
    wrong = folder.run("check", env={"SF_KEY_FILE": str(folder.path / "wrong.pem")})
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "systems.crm" in wrong.stderr
    assert "error invalid_grant: invalid assertion" in wrong.stderr
    assert "wrong.pem) does not match the certificate uploaded to the connected app" in wrong.stderr
    assert "PRIVATE KEY" not in wrong.stderr + wrong.stdout
    offline = folder.run("check", "--offline", env={"SF_KEY_FILE": str(folder.path / "wrong.pem")})
    assert offline.returncode == 0, offline.stderr


def test_readyz_is_unready_once_the_app_no_longer_knows_the_key(folder: Folder, salesforce):
    data = yaml.safe_load((folder.path / "config.yaml").read_text())
    data["daemon"] = {"host": "127.0.0.1", "port": 0}  # its own free port, read from its log
    (folder.path / "config.yaml").write_text(yaml.safe_dump(data))
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "daemon"],
        cwd=folder.path,
        env={**_clean_env(), **folder.env},
        stdout=subprocess.DEVNULL,
        stderr=(folder.path / "daemon.log").open("wb"),
    )
    try:
        port = serving_port(folder.path / "daemon.log", process)
        # An admin uploads another certificate to the connected app after the daemon started.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60).status_code == 200
        httpx.post(f"{salesforce.url}/_sandbox/certificate", json={"pem": OTHER[1].decode()})
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert "system 'crm'" in detail and "invalid assertion" in detail
        assert "does not match the certificate" in detail
    finally:
        httpx.post(f"{salesforce.url}/_sandbox/certificate", json={"pem": KEYS[1].decode()})
        process.terminate()
        process.wait(timeout=30)
