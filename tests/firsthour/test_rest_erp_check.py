"""Issue 15 item 1 for a generic ERP in REST mode: `connector check` contacts the ERP's API and
says what is wrong — a rejected token, an address where nothing answers, a list path the API
does not have, an API that is down — against the setting to fix, with exit 2; one request each.

The ERP is `tests/erp_generic/rest_erp.py` served on a free loopback port; the CRM is the memory
adapter (no network), so every problem reported is the ERP's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox, free_port, serve
from tests.erp_generic.rest_erp import TOKEN, ErpState, create_app
from tests.firsthour.conftest import CLEARED, ROOT

CONFIG = """\
systems:
  erp:
    adapter: erp_generic
    settings:
      mode: rest
      base_url: {base_url}
      token_env: ERP_API_TOKEN
      entities:
        customer:
          list: {{method: GET, path: {path}}}
  crm:
    adapter: memory
routes:
  - name: erp-to-crm
    from: erp
    to: crm
    entities: [customer]
"""


@pytest.fixture(scope="module")
def erp() -> Iterator[tuple[Sandbox, ErpState]]:
    state = ErpState()
    state.add("Acme")
    with contextmanager(serve)(create_app(state)) as served:
        yield served, state


def check(
    folder: Path, base_url: str, token: str, *args: str, path: str = "/page/customers"
) -> subprocess.CompletedProcess[str]:
    (folder / "config.yaml").write_text(CONFIG.format(base_url=base_url, path=path))
    environment = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run(
        [sys.executable, "-m", "connector", "check", *args],
        cwd=folder,
        env={**environment, "PYTHONPATH": str(ROOT), "ERP_API_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_reachable_erp_with_a_good_token_passes(tmp_path: Path, erp):
    served, state = erp
    state.calls.clear()
    result = check(tmp_path, served.url, TOKEN)
    assert result.returncode == 0, result.stderr
    assert "every system answered" in result.stdout
    assert any(call.startswith("GET /page/customers?limit=1") for call in state.calls)


def test_a_rejected_token_names_the_variable_to_set(tmp_path: Path, erp):
    served, state = erp
    state.calls.clear()
    result = check(tmp_path, served.url, "not-the-erp-token")
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"systems.erp.settings.token_env: the ERP at {served.url} rejected the access token "
        "(HTTP 401 on GET /page/customers); set ERP_API_TOKEN to a valid API token"
    ) in result.stderr
    assert "not-the-erp-token" not in result.stdout + result.stderr
    assert len(state.calls) == 1  # one attempt: a health check does not retry a 401
    document = json.loads(check(tmp_path, served.url, "not-the-erp-token", "--json").stdout)
    assert document["ok"] is False and document["exit_code"] == 2
    assert "rejected the access token" in json.dumps(document)


def test_an_address_where_nothing_answers_names_base_url(tmp_path: Path):
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = check(tmp_path, nowhere, TOKEN)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"systems.erp.settings.base_url: the ERP's API is not reachable at {nowhere}" in (
        result.stderr
    )
    assert "check systems.erp.settings.base_url and that the ERP is running" in result.stderr


def test_a_list_path_the_api_lacks_names_the_path(tmp_path: Path, erp):
    served, _ = erp
    result = check(tmp_path, served.url, TOKEN, path="/v2/clients")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "systems.erp.settings.entities.customer.list.path" in result.stderr
    assert "has no GET /v2/clients (HTTP 404)" in result.stderr


def test_records_somewhere_else_than_records_path_is_named(tmp_path: Path, erp):
    served, _ = erp
    # The link style answers a bare list; the config keeps the default records_path "data".
    result = check(tmp_path, served.url, TOKEN, path="/link/customers")
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "systems.erp.settings.entities.customer.records_path: the answer of GET /link/customers "
        "has nothing at 'data'"
    ) in result.stderr


def test_an_api_that_is_down_is_one_request_and_exit_2(tmp_path: Path, erp):
    served, state = erp
    state.calls.clear()
    state.fail_next[:] = [503, 503, 503]
    try:
        result = check(tmp_path, served.url, TOKEN)
    finally:
        state.fail_next.clear()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "systems.erp.settings.entities.customer.list: GET /page/customers at" in result.stderr
    assert "503" in result.stderr
    assert len(state.calls) == 1
