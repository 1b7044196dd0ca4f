"""The adapter against the in-process sandbox: paging, ties, deletes, owners, lines, auth."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from adapters.salesforce.adapter import SalesforceAdapter
from adapters.salesforce.ids import to18
from adapters.salesforce.sandbox import Sandbox, create_app
from connector.adapter import NativeWrite
from connector.errors import ConfigurationError
from connector.http import LimiterRegistry
from connector.model import Entity
from tests.salesforce.conftest import settings_for
from tests.salesforce.keys import make_key_pair


def accounts(n: int, start: int = 0) -> list[NativeWrite]:
    return [
        NativeWrite(f"k{i}", None, {"Name": f"Co {i}", "ERP_Customer_No__c": f"C{i}"})
        for i in range(start, start + n)
    ]


async def test_changes_page_through_ties_in_chunks_without_loss_or_repeats(make_adapter, sandbox):
    adapter = await make_adapter(query_chunk=200, query_batch_size=200)
    created = await adapter.upsert(Entity.CUSTOMER, accounts(450))
    assert all(r.ok for r in created)
    stamps = {r["SystemModstamp"] for r in sandbox.org.rows["Account"].values()}
    assert len(stamps) <= 2, "the sandbox stamps whole seconds: most rows tie"
    sandbox.log.clear()
    seen = []
    async for page in adapter.read_changes(Entity.CUSTOMER, None):
        seen.extend(page.records)
    ids = [r.id for r in seen]
    assert len(ids) == len(set(ids)) == 450
    assert [(r.updated_at, r.id) for r in seen] == sorted((r.updated_at, r.id) for r in seen)
    queries = [e for e in sandbox.log if "/query" in e["path"]]
    assert len(queries) >= 3, "450 rows in chunks of 200 need at least three queries"


async def test_a_deleted_account_comes_back_as_a_delete(make_adapter, sandbox):
    adapter = await make_adapter()
    [first, second] = await adapter.upsert(Entity.CUSTOMER, accounts(2))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    [gone] = await adapter.delete(Entity.CUSTOMER, [first.external_id])
    assert gone.ok
    [again] = await adapter.delete(Entity.CUSTOMER, [first.external_id])
    assert again.ok, "deleting what is already deleted is what was asked"
    changes = [
        r async for page in adapter.read_changes(Entity.CUSTOMER, since) for r in page.records
    ]
    by_id = {r.id: r for r in changes}
    assert by_id[first.external_id].deleted and not by_id[second.external_id].deleted


async def test_ids_in_15_characters_are_read_and_stored_as_18(make_adapter):
    adapter = await make_adapter()
    [result] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
    assert result.external_id is not None and len(result.external_id) == 18
    [record] = await adapter.read(Entity.CUSTOMER, [result.external_id[:15]])
    assert record.id == result.external_id


async def test_owner_email_becomes_owner_id_and_reads_back(make_adapter, sandbox):
    adapter = await make_adapter()
    rep = sandbox.options.reps[0][0]
    writes = [
        NativeWrite("a", None, {"Name": "A", "Owner": {"Email": rep.upper()}}),
        NativeWrite("b", None, {"Name": "B", "Owner": {"Email": "nobody@example.org"}}),
    ]
    results = await adapter.upsert(Entity.CUSTOMER, writes)
    assert all(r.ok for r in results), "an unknown owner e-mail must not fail the record"
    records = {
        r.fields["Name"]: r
        for r in await adapter.read(Entity.CUSTOMER, [r.external_id for r in results])
    }
    assert records["A"].fields["Owner"] == {"Email": rep}
    assert records["B"].fields["Owner"] is None, "owned by the connector's user: no rep"


async def test_opportunity_lines_resolve_products_and_a_missing_one_fails_by_name(
    make_adapter, sandbox
):
    sandbox.add_product("P-1", "Pump", 149)
    adapter = await make_adapter()
    [account] = await adapter.upsert(Entity.CUSTOMER, accounts(1))
    base = {
        "Name": "Deal",
        "StageName": "Prospecting",
        "CloseDate": "2026-12-31",
        "AccountId": account.external_id,
    }
    good = NativeWrite(
        "s1",
        None,
        {
            **base,
            "lines": [
                {"ProductCode": "P-1", "Quantity": 2, "UnitPrice": 100, "DiscountAmount": 20}
            ],
        },
    )
    bad = NativeWrite("s2", None, {**base, "lines": [{"ProductCode": "NOPE", "Quantity": 1}]})
    ok, failed = await adapter.upsert(Entity.SALE, [good, bad])
    assert ok.ok and failed.error is not None
    assert "NOPE" in str(failed.error) and "Standard Price Book" in str(failed.error)
    assert not [
        o for o in sandbox.org.rows["Opportunity"].values() if o["Connector_Key__c"] == "s2"
    ]
    [sale] = await adapter.read(Entity.SALE, [ok.external_id])
    [line] = sale.fields["lines"]
    assert (
        line["ProductCode"] == "P-1" and line["TotalPrice"] == 180 and line["DiscountAmount"] == 20
    )
    assert sale.fields["Amount"] == 180 and sale.fields["StageOutcome"] == "open"
    before = len([e for e in sandbox.log if e["method"] in ("POST", "DELETE")])
    await adapter.upsert(
        Entity.SALE, [NativeWrite("s1", ok.external_id, {"lines": good.fields["lines"]})]
    )
    after = len([e for e in sandbox.log if e["method"] in ("POST", "DELETE")])
    assert after == before, "unchanged lines are not deleted and re-created"


async def test_a_jwt_signed_by_another_key_is_refused(sandbox):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    adapter = SalesforceAdapter(
        "crm",
        settings_for((pem, b"")),
        transport=httpx.ASGITransport(app=create_app(sandbox)),
        registry=LimiterRegistry(),
    )
    with pytest.raises(ConfigurationError, match="invalid_grant"):
        await adapter.open()
    await adapter.close()


async def test_a_revoked_session_is_renewed_transparently(make_adapter, sandbox):
    adapter = await make_adapter()
    await adapter.upsert(Entity.CUSTOMER, accounts(1))
    sandbox.issuer.revoke_all()
    results = await adapter.upsert(Entity.CUSTOMER, accounts(1, start=5))
    assert results[0].ok and sandbox.issuer.grants == 2


async def test_injected_503_and_lock_errors_are_absorbed(make_adapter, sandbox):
    from adapters.salesforce.sandbox import Fault

    adapter = await make_adapter()
    sandbox.faults.append(Fault(503, "SERVER_UNAVAILABLE", "maintenance", "/composite/"))
    sandbox.org.lock_next = 2
    results = await adapter.upsert(Entity.CUSTOMER, accounts(5))
    assert all(r.ok for r in results)


async def test_client_credentials_and_refresh_token_flows(sandbox):
    for auth in (
        {"kind": "client_credentials", "client_id": "sandbox-consumer-key",
         "client_secret": "sandbox-consumer-secret"},
        {"kind": "refresh_token", "client_id": "sandbox-consumer-key",
         "refresh_token": "sandbox-refresh-token", "client_secret_env": None},
    ):  # fmt: skip
        settings = settings_for(make_key_pair()).model_copy(update={})
        settings = type(settings).model_validate({**settings.model_dump(), "auth": auth})
        adapter = SalesforceAdapter(
            "crm",
            settings,
            transport=httpx.ASGITransport(app=create_app(sandbox)),
            registry=LimiterRegistry(),
        )
        await adapter.open()
        try:
            assert (await adapter.upsert(Entity.CUSTOMER, accounts(1)))[0].ok
        finally:
            await adapter.close()


def test_ids_checksum_matches_documented_ids():
    for documented in ("003RO0000035WQgYAM", "001D000000IqhSLIAZ", "0018a00001rBqb8AAC"):
        assert to18(documented[:15]) == documented
        # 18 characters are case-insensitive: the suffix restores the case of the 15.
        assert to18(documented.lower()) == documented
    with pytest.raises(ValueError):
        to18("001D000000IqhSLZZZ")  # the suffix marks the leading zero as a capital


def test_sandbox_is_a_fresh_org_each_time():
    assert Sandbox().org.rows["Account"], "the default org ships Salesforce's demo accounts"


async def test_large_writes_go_through_one_bulk_job_with_results_joined_by_key(
    make_adapter, sandbox
):
    adapter = await make_adapter(bulk_threshold=50, write_batch=1000)
    [bound] = await adapter.upsert(Entity.CUSTOMER, accounts(1, start=900))
    writes = accounts(120)
    writes[7] = NativeWrite("k7", None, {"Name": "", "ERP_Customer_No__c": "C7"})  # Name missing
    writes.append(NativeWrite("k900", bound.external_id, {"Name": "Renamed in bulk"}))
    sandbox.log.clear()
    results = await adapter.upsert(Entity.CUSTOMER, writes)
    assert [r.key for r in results] == [w.key for w in writes]
    assert results[7].error is not None and results[7].error.code == "REQUIRED_FIELD_MISSING"
    assert all(r.ok for i, r in enumerate(results) if i != 7)
    assert results[-1].external_id == bound.external_id and not results[-1].created
    assert sandbox.org.get("Account", bound.external_id)["Name"] == "Renamed in bulk"
    created = {r.key: r.external_id for r in results if r.ok and r.created}
    rows = {row["Connector_Key__c"]: row["Id"] for row in sandbox.org.live("Account")}
    assert all(rows[key] == record_id for key, record_id in created.items())
    paths = [e["path"] for e in sandbox.log]
    assert not any("/composite/" in p for p in paths), "no Collections call for a bulk write"
    assert sum(p.endswith("/jobs/ingest") for p in paths) == 2  # one upsert, one update job
