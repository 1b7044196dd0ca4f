"""Issue 15, "the first hour": each way a new user goes wrong gets a clear answer and the
README's exit code, through the real `connector` command in a subprocess."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from connector.errors import RecordError
from connector.state.store import open_store
from tests.daemon.processes import serving_port
from tests.e2e.conftest import Sandbox, free_port
from tests.firsthour.conftest import ROOT, Folder

HINT = "run `connector erp sample` or `./dev demo` first"


def edit_config(folder: Folder, change: str, into: str) -> None:
    path = folder.path / "config.yaml"
    text = path.read_text()
    assert change in text, change
    path.write_text(text.replace(change, into, 1))


# -- a fresh clone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["check"], ["status"], ["sync", "--dry-run"], ["failures", "list"]]
)
def test_a_fresh_clone_says_where_the_store_is_and_what_to_run_first(fresh: Folder, command):
    result = fresh.run(*command)
    assert result.returncode == 2, result.stderr
    assert f"{fresh.path / 'demo' / 'state.db'} does not exist" in result.stderr
    assert HINT in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_check_never_creates_an_empty_erp_database(fresh: Folder):
    (fresh.path / "demo").mkdir()
    result = fresh.run("check")
    assert result.returncode == 2
    assert f"the ERP database {fresh.path / 'demo' / 'erp.db'} does not exist" in result.stderr
    assert HINT in result.stderr
    assert not (fresh.path / "demo" / "erp.db").exists()
    assert "table or view" not in result.stderr  # not the misleading "every table is missing"


def test_erp_sample_then_check_offline_passes(fresh: Folder):
    sample = fresh.run("erp", "sample", "--customers", "3")
    assert sample.returncode == 0, sample.stderr
    result = fresh.run("check", "--offline")
    assert result.returncode == 0, result.stderr
    assert "OK (2 systems, 2 routes) (offline: no system contacted)" in result.stdout


# -- item 1: check contacts every system -----------------------------------------------------


def test_check_contacts_hubspot_and_names_a_rejected_token(world: Folder):
    good = world.run("check")
    assert good.returncode == 0, good.stderr
    assert "every system answered" in good.stdout

    wrong = world.run("check", env={"HUBSPOT_TOKEN": "not-the-token"})
    assert wrong.returncode == 2
    assert re.search(
        r"systems\.crm: HubSpot at \S+ rejected the access token \(HTTP 401\)", wrong.stderr
    )
    assert "set $HUBSPOT_TOKEN to a valid private-app token" in wrong.stderr
    assert "not-the-token" not in wrong.stderr + wrong.stdout

    offline = world.run("check", "--offline", env={"HUBSPOT_TOKEN": "not-the-token"})
    assert offline.returncode == 0, offline.stderr


def test_check_names_an_unreachable_base_url(world: Folder):
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = world.run("check", env={"HUBSPOT_BASE_URL": nowhere})
    assert result.returncode == 2
    assert f"HubSpot is not reachable at {nowhere}" in result.stderr
    assert "systems.crm.settings.base_url" in result.stderr


def test_check_json_is_one_document_per_system(world: Folder):
    result = world.run("check", "--json", env={"HUBSPOT_TOKEN": "wrong"})
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 2
    assert document["systems"]["erp"] == {"checked": True, "ok": True, "problems": []}
    assert document["systems"]["crm"]["ok"] is False
    assert "HTTP 401" in document["systems"]["crm"]["problems"][0]["message"]


def test_readyz_is_not_ready_while_a_system_rejects_its_credentials(world: Folder):
    config = world.path / "daemon.yaml"
    data = yaml.safe_load((world.path / "config.yaml").read_text())
    data["daemon"] = {"host": "127.0.0.1", "port": 0}  # its own free port, read from its log
    data["routes"] = [{**route, "schedule": None} for route in data["routes"]]
    config.write_text(yaml.safe_dump(data))
    base = {k: v for k, v in world.env.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(config), "daemon"],
        cwd=world.path,
        env={**_clean_env(), **base, "HUBSPOT_TOKEN": "revoked-token"},
        stdout=subprocess.DEVNULL,
        stderr=(world.path / "daemon.log").open("wb"),
    )
    try:
        port = serving_port(world.path / "daemon.log", process)
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=60)
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert "system 'crm'" in detail and "HTTP 401" in detail
        assert "revoked-token" not in answer.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def _clean_env() -> dict[str, str]:
    import os

    from tests.firsthour.conftest import CLEARED

    return {
        **{k: v for k, v in os.environ.items() if k not in CLEARED},
        "PYTHONPATH": str(ROOT),
    }


# -- item 2: exit codes, messages, did-you-mean, schedules --------------------------------------


def test_a_config_key_typo_gets_did_you_mean_and_exit_2(fresh: Folder):
    edit_config(fresh, "daemon:\n  host", "daemon:\n  hots: 127.0.0.1\n  host")
    edit_config(fresh, "\nroutes:", "\nmappings_dir: mine\nroutes:")
    for args in (["check"], ["--debug", "check"]):
        result = fresh.run(*args)
        assert result.returncode == 2, args
        assert re.search(
            r"config\.yaml:\d+:\d+: daemon\.hots: unknown key \(did you mean 'host'\?\)",
            result.stderr,
        )
        assert "mappings_dir: unknown key (did you mean 'mappings'?)" in result.stderr
    assert "Traceback" not in fresh.run("check").stderr
    assert "Traceback" in fresh.run("--debug", "check").stderr  # --debug adds it, same exit code


@pytest.mark.parametrize(
    "schedule", ["every 5 minutes", "every 5m", "every 300 seconds", "*/5 * * * *"]
)
def test_schedules_people_write_are_accepted(fresh: Folder, schedule: str):
    edit_config(fresh, "schedule: every 5m", f"schedule: '{schedule}'")
    result = fresh.run("check", "--offline")
    assert result.returncode == 0, result.stderr


def test_a_bad_schedule_says_what_to_write(fresh: Folder):
    edit_config(fresh, "schedule: every 5m", "schedule: every fortnight")
    result = fresh.run("check", "--offline")
    assert result.returncode == 2
    assert "unknown unit 'fortnight'" in result.stderr
    assert "'every 5 minutes'" in result.stderr and "'*/5 * * * *'" in result.stderr
    assert "Wrong number of fields" not in result.stderr


def test_status_shows_the_schedule_as_written(world: Folder):
    document = json.loads(world.run("status", "--json").stdout)
    assert {route["schedule"] for route in document["routes"]} == {"every 5m"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HUBSPOT_BASE_URL", "ftp://example.com", "base_url must start with https:// or http://"),
        ("CONNECTOR_STATE_URL", "no-such-db://x", "state.url"),
        ("ERP_DATABASE_URL", "not a url", "the ERP database url is not a database URL"),
    ],
)
def test_bad_urls_are_usage_errors_with_or_without_debug(world, variable, value, message):
    for debug in ([], ["--debug"]):
        result = world.run(*debug, "check", env={variable: value})
        assert result.returncode == 2, (debug, result.stderr)
        assert message in result.stderr
        assert "unexpected" not in result.stderr


# -- item 3: typed mapping check -------------------------------------------------------------------


def user_mapping(folder: Folder, kind: str, entity: str, text: str) -> Path:
    edit_config(folder, "\nroutes:", "\nmappings: my-mappings\nroutes:")
    path = folder.path / "my-mappings" / kind / f"{entity}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def own_world(tmp_path: Path, hubspot: Sandbox) -> Folder:
    """Like `world`, but a folder of its own to edit (config and mapping files)."""
    from adapters.erp_generic.sample import create_sample_erp
    from tests.firsthour.conftest import fresh_clone

    folder = fresh_clone(tmp_path / "own")
    create_sample_erp(folder.path / "demo" / "erp.db", customers=3, contacts=3, orders=3)
    folder.env["HUBSPOT_BASE_URL"] = hubspot.url
    return folder


def test_a_type_mismatch_fails_the_mapping_check_with_file_and_line(own_world: Folder):
    shipped = (ROOT / "mappings" / "erp_generic" / "customer.yaml").read_text()
    credit = "    native: credit_limit\n    transform: {decimal: {output: decimal}}\n"
    assert credit in shipped
    broken = shipped.replace(credit, "    native: payment_terms\n    direction: inbound\n")
    path = user_mapping(own_world, "erp_generic", "customer", broken)
    for command in (["mappings", "check"], ["check"]):
        result = own_world.run(*command)
        assert result.returncode == 2, result.stderr
        assert re.search(
            rf"{re.escape(str(path))}:\d+: field `credit_limit` \(native `payment_terms`\): "
            r"the native field is text but `credit_limit` cannot take it",
            result.stderr,
        ), result.stderr


def test_an_empty_mapping_file_for_a_routed_entity_is_refused(own_world: Folder):
    path = user_mapping(own_world, "hubspot", "contact", "entity: contact\nfields: []\n")
    result = own_world.run("mappings", "check")
    assert result.returncode == 2
    assert f"{path}: maps no field for contact, which a route carries" in result.stderr


def test_mappings_preview_exits_non_zero_when_the_record_does_not_map(own_world: Folder):
    record = own_world.path / "bad.json"
    record.write_text(json.dumps({"id": "1", "name": "", "customer_no": ""}))
    result = own_world.run(
        "mappings", "preview", "--system", "erp", "--entity", "customer", "--file", str(record)
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error:" in result.stderr


# -- item 4: a failed run says why; failures per entity ------------------------------------------


def test_sync_with_a_rejected_token_stops_before_running(own_world: Folder):
    # Nothing to write would otherwise report "unchanged", exit 0, with a revoked token.
    sync = own_world.run("sync", "crm-to-erp", env={"HUBSPOT_TOKEN": "expired"})
    assert sync.returncode == 2
    assert "systems.crm: HubSpot at" in sync.stderr and "(HTTP 401)" in sync.stderr
    assert "Sync summary" not in sync.stdout
    # The refused probe is the one line: the HTTP layer's log of the same call is not repeated.
    assert sync.stderr.count("401") == 1, sync.stderr


async def test_a_failed_run_records_the_error_the_system_and_the_step(own_world: Folder):
    from connector.config import load_config
    from connector.engine.service import SyncService
    from connector.errors import ConfigurationError
    from connector.http import HttpConfigurationError
    from connector.runtime import Runtime, build_adapter

    config = load_config(own_world.path / "config.yaml")
    crm = build_adapter(config, config.systems["crm"])

    async def revoked_mid_run(entity, since):  # the token was revoked after the probe
        raise HttpConfigurationError(
            "crm: POST /crm/v3/objects/companies/search -> HTTP 401: credentials rejected",
            status=401,
        )
        yield

    crm.read_changes = revoked_mid_run  # type: ignore[method-assign]
    async with Runtime.open(config, crm=crm) as runtime:
        with pytest.raises(ConfigurationError):
            await SyncService(runtime).run_route("crm-to-erp")

    document = json.loads(own_world.run("status", "--json").stdout)
    run = document["runs"][0]
    assert run["status"] == "failed"
    assert run["error"] == {
        "message": "crm: POST /crm/v3/objects/companies/search -> HTTP 401: credentials rejected",
        "system": "crm",
        "step": "read customer changes",
        "error_class": "HttpConfigurationError",
    }
    text = own_world.run("status").stdout
    assert "failed in crm, read customer changes: crm: POST" in text


def test_failure_counts_are_per_entity(own_world: Folder):
    store = open_store(f"sqlite:///{own_world.path / 'demo' / 'state.db'}")
    with store.transaction() as tx:
        for number in range(3):
            tx.record_failure(
                "erp-to-crm",
                "contact",
                f"c{number}",
                key=None,
                stage="push",
                error=RecordError("refused", code="VALIDATION_ERROR"),
                payload={"id": number},
                retryable=False,
            )
    store.close()
    document = json.loads(own_world.run("status", "--json").stdout)
    route = next(r for r in document["routes"] if r["route"] == "erp-to-crm")
    assert {e["entity"]: e["failures"] for e in route["entities"]} == {
        "customer": 0,
        "contact": 3,
        "sale": 0,
    }
    listed = json.loads(own_world.run("failures", "list", "--json").stdout)
    assert [f["external_id"] for f in listed["failures"]] == ["c0", "c1", "c2"]
    shown = json.loads(
        own_world.run("failures", "show", str(listed["failures"][0]["id"]), "--json").stdout
    )
    assert shown["payload"] == {"id": 0} and shown["code"] == "VALIDATION_ERROR"
    missing = own_world.run("failures", "show", "9999", "--json")
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"].startswith("no failure with id 9999")


# -- item 5: scripting and following along


def test_sync_json_progress_lines_and_json_logs_off_a_terminal(own_world: Folder):
    result = own_world.run(
        "--debug", "sync", "erp-to-crm", "--json", env={"CONNECTOR_PROGRESS_SECONDS": "0"}
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert document["ok"] is True and document["exit_code"] == 0
    (run,) = document["runs"]
    assert run["route"] == "erp-to-crm" and run["status"] == "succeeded"
    assert run["counts"]["customer"]["created"] == 3
    assert re.search(r"^progress: erp-to-crm customer: \d+ created", result.stderr, re.M)

    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["message"] == "run finished" for entry in logs), result.stderr
    assert all({"ts", "level", "logger"} <= set(entry) for entry in logs)


# -- item 6: the demo's port


def test_the_demo_names_a_taken_port_and_how_to_move(tmp_path: Path):
    folder = tmp_path / "demo-clone"
    folder.mkdir()
    (folder / "config.yaml").write_text((ROOT / "config.yaml").read_text())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "adapters.demo",
                "--config",
                str(folder / "config.yaml"),
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken by another program" in result.stderr
    assert f"./dev demo --port {port + 10}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "demo" / "erp.db").exists()  # it stopped before doing anything


def test_the_demo_refuses_a_remote_hubspot_with_a_reason(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "adapters.demo", "--config", str(ROOT / "config.yaml")],
        cwd=ROOT,
        env={**_clean_env(), "HUBSPOT_BASE_URL": "https://api.hubapi.com"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "HUBSPOT_BASE_URL=https://api.hubapi.com is not the local sandbox" in result.stderr
    assert "IndexError" not in result.stderr


def test_the_sandbox_command_names_a_taken_port(fresh: Folder):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = fresh.run("sandbox", "hubspot", "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


# -- item 7: the drivers the project ships


@pytest.mark.postgres
def test_a_postgresql_url_works_for_the_erp_and_the_store(fresh: Folder, pg_schema_url: str):
    plain = pg_schema_url.replace("postgresql+psycopg://", "postgresql://")
    env = {"ERP_DATABASE_URL": plain, "CONNECTOR_STATE_URL": plain}
    sample = fresh.run("erp", "sample", "--customers", "2", env=env)
    assert sample.returncode == 0, sample.stderr
    status = fresh.run("status", env=env)
    assert status.returncode == 0, status.stderr
    check = fresh.run("check", "--offline", env=env)
    assert check.returncode == 0, check.stderr


@pytest.mark.mariadb
def test_a_mysql_url_works_for_the_erp(fresh: Folder, mysql_database_url: str):
    plain = re.sub(r"^mysql\+pymysql://", "mysql://", mysql_database_url)
    (fresh.path / "demo").mkdir()
    sample = fresh.run("erp", "sample", "--customers", "2", env={"ERP_DATABASE_URL": plain})
    assert sample.returncode == 0, sample.stderr
    assert "pip install" not in sample.stderr


def test_an_unsupported_state_store_is_refused_with_a_reason(fresh: Folder):
    # mysql:// is a MariaDB store now (a MySQL server is refused when it answers:
    # tests/state/test_mariadb_schema.py); a database the store never runs on is refused here.
    result = fresh.run("status", env={"CONNECTOR_STATE_URL": "mssql://sa@127.0.0.1/x"})
    assert result.returncode == 2
    assert "the state store runs on SQLite, PostgreSQL or MariaDB, not 'mssql'" in result.stderr


# -- item 8: resync of an id that does not exist ---------------------------------------------------


def test_resync_of_an_unknown_id_says_so(own_world: Folder):
    result = own_world.run("resync", "customer", "no-such-id", "--route", "erp-to-crm")
    assert result.returncode == 1
    assert "erp has no customer with id 'no-such-id'" in result.stderr
    assert "unchanged" not in result.stdout


# -- item 9: the store's revision check needs no Alembic, and agrees with it


def test_the_light_head_revision_agrees_with_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from connector.state.migrate import MIGRATIONS, head_revisions

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revisions() == frozenset(ScriptDirectory.from_config(config).get_heads())
