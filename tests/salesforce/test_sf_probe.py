"""`SalesforceAdapter.probe()`: a fresh token and one describeGlobal call, and one sentence saying
what to fix for each way it fails (salesforce.md §5 refusals, §4.2 statuses, §4.4 usage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.sandbox import Sandbox, SandboxOptions, create_app
from connector.model import Entity
from tests.salesforce.conftest import LOGIN, settings_for
from tests.salesforce.keys import make_key_pair

ALL = frozenset(Entity)
INSTANCE = "https://acme.my.salesforce.test"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
SOBJECTS = f"{INSTANCE}/services/data/v62.0/sobjects/"
READABLE = ("Account", "Contact", "Opportunity", "OpportunityLineItem")


def adapter_for(key_pair: tuple[str, bytes], **overrides: Any) -> SalesforceAdapter:
    return SalesforceAdapter("crm", settings_for(key_pair, **overrides))


def granted() -> None:
    respx.post(TOKEN_URL).respond(
        json={"access_token": "00Dx!token", "instance_url": INSTANCE, "id": f"{INSTANCE}/id/1/2"}
    )


def listing(*names: str, usage: str = "api-usage=10/15000", **flags: bool) -> None:
    rows = [{"name": n, "queryable": True, "retrieveable": True, **flags} for n in names]
    respx.get(SOBJECTS).respond(json={"sobjects": rows}, headers={"Sforce-Limit-Info": usage})


@respx.mock
async def test_a_healthy_org_costs_one_token_and_one_api_call(key_pair):
    granted()
    listing(*READABLE)
    assert await adapter_for(key_pair).probe(ALL) == []
    assert respx.calls.call_count == 2


@respx.mock
async def test_a_key_that_does_not_match_the_certificate_names_the_key(key_pair):
    respx.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": "invalid assertion"}
    )
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert problem.location == "systems.crm"
    assert "error invalid_grant: invalid assertion" in problem.message
    assert "systems.crm.settings.auth.private_key does not match the certificate" in problem.message
    assert "BEGIN" not in problem.message


@respx.mock
async def test_a_key_from_the_environment_is_named_by_its_variable(key_pair, monkeypatch):
    monkeypatch.setenv("SF_TEST_KEY", key_pair[0])
    respx.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": "invalid assertion"}
    )
    auth = {"kind": "jwt", "client_id": "k", "username": "u@x", "private_key_env": "SF_TEST_KEY"}
    (problem,) = await adapter_for(key_pair, auth=auth).probe(ALL)
    assert "the key in $SF_TEST_KEY does not match the certificate" in problem.message


@respx.mock
async def test_a_user_not_pre_authorised_gets_the_connected_app_policy(key_pair):
    respx.post(TOKEN_URL).respond(
        400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert "Admin approved users are pre-authorized" in problem.message
    assert "integration@acme-corp.example" in problem.message


@respx.mock
async def test_an_unknown_client_id_names_the_setting(key_pair):
    respx.post(TOKEN_URL).respond(
        400, json={"error": "invalid_client_id", "error_description": "client identifier invalid"}
    )
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert "systems.crm.settings.auth.client_id (sandbox-consumer-key)" in problem.message


@respx.mock
async def test_a_wrong_client_secret_points_at_the_secret_and_my_domain(key_pair):
    respx.post("https://acme.my.salesforce.com/services/oauth2/token").respond(
        400, json={"error": "invalid_client", "error_description": "invalid client credentials"}
    )
    adapter = adapter_for(
        key_pair,
        login_url="https://acme.my.salesforce.com",
        auth={"kind": "client_credentials", "client_id": "k", "client_secret": "wrong-secret"},
    )
    (problem,) = await adapter.probe(ALL)
    assert "$SALESFORCE_CLIENT_SECRET" in problem.message and "Run As" in problem.message
    assert "wrong-secret" not in problem.message


@respx.mock
async def test_an_unreachable_login_url_names_login_url(key_pair):
    respx.post(TOKEN_URL).mock(side_effect=httpx.ConnectError("refused"))
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert "unreachable" in problem.message
    assert f"at {LOGIN}; check systems.crm.settings.login_url" in problem.message


@respx.mock
async def test_a_login_url_that_is_not_salesforce_names_login_url(key_pair):
    respx.post(TOKEN_URL).respond(404, text="<html>Not Found</html>")
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert "did not answer like a Salesforce login host (HTTP 404)" in problem.message


async def test_a_missing_key_file_or_env_var_is_named(key_pair, tmp_path: Path, monkeypatch):
    missing = tmp_path / "nope.pem"
    auth = {"kind": "jwt", "client_id": "k", "username": "u@x", "private_key_file": str(missing)}
    (problem,) = await adapter_for(key_pair, auth=auth).probe(ALL)
    assert str(missing) in problem.message
    monkeypatch.delenv("SALESFORCE_PRIVATE_KEY", raising=False)
    auth = {"kind": "jwt", "client_id": "k", "username": "u@x"}
    (problem,) = await adapter_for(key_pair, auth=auth).probe(ALL)
    assert "environment variable SALESFORCE_PRIVATE_KEY is not set" in problem.message


@pytest.mark.parametrize(
    ("status", "error", "named"),
    [
        (
            401,
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"},
            [f"Salesforce at {INSTANCE} refused the session", "HTTP 401 INVALID_SESSION_ID"],
        ),
        (
            404,
            {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"},
            ["does not know API version v62.0", "systems.crm.settings.api_version"],
        ),
    ],
    ids=["refused-session", "unknown-api-version"],
)
@respx.mock
async def test_a_refused_rest_call_names_what_to_fix(
    key_pair, status: int, error: dict[str, str], named: list[str]
):
    granted()
    respx.get(SOBJECTS).respond(status, json=[error])
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert all(part in problem.message for part in named), problem.message


@respx.mock
async def test_objects_the_user_cannot_read_are_named(key_pair):
    granted()
    rows = [
        {"name": "Account", "queryable": True, "retrieveable": True},
        {"name": "Opportunity", "queryable": False, "retrieveable": True},
    ]  # Contact is missing: describeGlobal lists only what the user can see
    respx.get(SOBJECTS).respond(json={"sobjects": rows})
    (problem,) = await adapter_for(key_pair).probe(frozenset({Entity.CUSTOMER, Entity.CONTACT}))
    assert "cannot read Contact (" in problem.message
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert "cannot read Contact, Opportunity, OpportunityLineItem" in problem.message


@respx.mock
async def test_a_spent_share_of_the_daily_allocation_is_a_problem(key_pair):
    granted()
    listing(*READABLE, usage="api-usage=7600/15000")  # share 0.5 → 7500 calls
    (problem,) = await adapter_for(key_pair).probe(ALL)
    assert "daily_share = 0.5, 7500 calls) is spent" in problem.message


# -- against the sandbox ------------------------------------------------------------------------


def sandbox_adapter(key_pair: tuple[str, bytes], certificate: bytes, **overrides: Any):
    sandbox = Sandbox(SandboxOptions(certificate_pem=certificate, seed_demo_accounts=False))
    transport = httpx.ASGITransport(app=create_app(sandbox))
    return SalesforceAdapter("crm", settings_for(key_pair, **overrides), transport=transport)


@pytest.mark.parametrize("version", ["v62.0", "v67.0"])
async def test_the_sandbox_passes_the_right_key(key_pair, version):
    adapter = sandbox_adapter(key_pair, key_pair[1], api_version=version)
    assert await adapter.probe(ALL) == []


async def test_the_sandbox_refuses_a_key_whose_certificate_is_not_on_the_app(key_pair):
    other = make_key_pair.__wrapped__()  # the app holds another key's certificate
    (problem,) = await sandbox_adapter(key_pair, other[1]).probe(ALL)
    assert (
        "invalid assertion" in problem.message
        and "does not match the certificate" in problem.message
    )


async def test_the_sandbox_does_not_know_a_future_api_version(key_pair):
    (problem,) = await sandbox_adapter(key_pair, key_pair[1], api_version="v99.0").probe(ALL)
    assert "does not know API version v99.0" in problem.message
