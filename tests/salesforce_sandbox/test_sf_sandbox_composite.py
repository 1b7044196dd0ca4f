"""The sandbox's Composite resource against its documented shape (salesforce.md §2.4)."""

from __future__ import annotations

from tests.salesforce_sandbox.test_sf_sandbox import V, api, records

__all__ = ["api"]


def sub(reference: str, method: str, url: str, body: object = None) -> dict:
    item: dict = {"method": method, "url": f"{V}{url}", "referenceId": reference}
    if body is not None:
        item["body"] = body
    return item


async def test_subrequests_answer_in_order_and_count_as_one_call(api):
    used = api.sandbox.api_used
    answer = await api.post(
        f"{V}/composite",
        json={
            "allOrNone": False,
            "compositeRequest": [
                sub("acct", "POST", "/sobjects/Account", {"Name": "Acme"}),
                sub(
                    "contact",
                    "POST",
                    "/sobjects/Contact",
                    {"LastName": "Doe", "AccountId": "@{acct.id}"},
                ),
                sub("read", "GET", "/query?q=SELECT+Id,+AccountId+FROM+Contact"),
            ],
        },
    )
    assert answer.status_code == 200
    results = answer.json()["compositeResponse"]
    assert [r["referenceId"] for r in results] == ["acct", "contact", "read"]
    assert [r["httpStatusCode"] for r in results] == [201, 201, 200]
    assert results[2]["body"]["records"][0]["AccountId"] == results[0]["body"]["id"]
    assert api.sandbox.api_used == used + 1


async def test_a_failed_subrequest_fails_alone_and_halts_what_depends_on_it(api):
    answer = await api.post(
        f"{V}/composite",
        json={
            "allOrNone": False,
            "compositeRequest": [
                sub("bad", "POST", "/sobjects/Account", {"Phone": "1"}),
                sub(
                    "child",
                    "POST",
                    "/sobjects/Contact",
                    {"LastName": "Doe", "AccountId": "@{bad.id}"},
                ),
                sub(
                    "good",
                    "PATCH",
                    "/composite/sobjects/Account/Connector_Key__c",
                    {"allOrNone": False, "records": records(2)},
                ),
            ],
        },
    )
    bad, child, good = answer.json()["compositeResponse"]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert child["httpStatusCode"] == 400
    assert child["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert good["httpStatusCode"] == 200 and all(r["success"] for r in good["body"])
    assert len(list(api.sandbox.org.live("Account"))) == 2


async def test_all_or_none_rolls_the_whole_series_back(api):
    answer = await api.post(
        f"{V}/composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                sub("good", "POST", "/sobjects/Account", {"Name": "Kept?"}),
                sub("bad", "POST", "/sobjects/Account", {"Phone": "1"}),
                sub("after", "POST", "/sobjects/Account", {"Name": "Never"}),
            ],
        },
    )
    codes = [r["body"][0]["errorCode"] for r in answer.json()["compositeResponse"]]
    assert codes == ["PROCESSING_HALTED", "REQUIRED_FIELD_MISSING", "PROCESSING_HALTED"]
    assert not list(api.sandbox.org.live("Account"))


async def test_limits_25_subrequests_and_5_query_or_collections(api):
    many = [sub(f"r{i}", "GET", "/limits") for i in range(26)]
    too_many = await api.post(f"{V}/composite", json={"compositeRequest": many})
    assert too_many.status_code == 400
    six = [
        sub(f"c{i}", "PATCH", "/composite/sobjects/Account/Connector_Key__c",
            {"allOrNone": False, "records": records(1)})
        for i in range(6)
    ]  # fmt: skip
    refused = await api.post(f"{V}/composite", json={"compositeRequest": six})
    assert refused.status_code == 400 and "5" in refused.json()[0]["message"]
    assert not list(api.sandbox.org.live("Account")), "a refused series writes nothing"
    five = await api.post(f"{V}/composite", json={"compositeRequest": six[:5]})
    assert five.status_code == 200
    headers = [sub("h", "GET", "/limits") | {"httpHeaders": {"Authorization": "Bearer x"}}]
    assert (await api.post(f"{V}/composite", json={"compositeRequest": headers})).status_code == 400
