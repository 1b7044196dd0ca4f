"""The JSON-RPC session of the ERP API writers (respx): login and session header, a renewed
session after a 401, the server's refusals as record errors with its message, tagged values."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest
import respx
from pydantic import SecretStr

from adapters.erp_generic.api.jsonrpc import ErpRefused, JsonRpcSession, decode, encode
from connector.errors import ConfigurationError

URL = "http://tryton.test"
RPC = f"{URL}/shop/rpc/"


def session() -> JsonRpcSession:
    return JsonRpcSession(URL, "shop", "admin", SecretStr("s3cret"))


def answer(request: httpx.Request, result: object = None, error: object = None) -> httpx.Response:
    body = json.loads(request.content)
    reply: dict[str, object] = {"id": body["id"]}
    reply["error" if error is not None else "result"] = error if error is not None else result
    return httpx.Response(200, json=reply)


@respx.mock
async def test_login_then_calls_carry_the_session_and_a_401_logs_in_again() -> None:
    logins: list[str] = []
    logouts: list[str] = []
    expired = {"done": False}

    def server(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["method"] == "common.db.login":
            assert body["params"][:2] == ["admin", {"password": "s3cret"}]
            logins.append("x")
            return answer(request, [7, f"token{len(logins)}", None])
        if body["method"] == "common.db.logout":
            logouts.append(request.headers["Authorization"])
            return answer(request, None)
        if not expired["done"]:
            expired["done"] = True
            return httpx.Response(401)
        header = request.headers["Authorization"]
        assert header == "Session " + base64.b64encode(b"admin:7:token2").decode()
        assert body["params"] == [
            [["code", "=", "P-1"]],
            {"__class__": "Decimal", "decimal": "1.50"},
        ]
        return answer(request, [{"__class__": "Decimal", "decimal": "9.99"}])

    respx.post(RPC).mock(side_effect=server)
    rpc = session()
    try:
        result = await rpc.call("model.x.search", [["code", "=", "P-1"]], Decimal("1.50"))
    finally:
        await rpc.close()
    assert result == [Decimal("9.99")] and len(logins) == 2
    # Closing logs the live session out: the server keeps no session row from the run.
    assert logouts == ["Session " + base64.b64encode(b"admin:7:token2").decode()]


@respx.mock
async def test_refusals_are_record_errors_with_the_servers_message() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["method"] == "common.db.login":
            return answer(request, [1, "t", None])
        if body["method"] == "model.sale.sale.quote":
            return answer(
                request, error=["UserError", ["The sale has no lines.", "Add one.", None]]
            )
        return answer(request, error=["KeyError: 'res.user'", "Traceback (most recent call…"])

    respx.post(RPC).mock(side_effect=server)
    rpc = session()
    try:
        with pytest.raises(ErpRefused) as refused:
            await rpc.call("model.sale.sale.quote", [1], {})
        assert refused.value.code == "UserError"
        assert str(refused.value) == "the ERP refused it: The sale has no lines. (Add one.)"
        with pytest.raises(ErpRefused) as failed:
            await rpc.call("model.sale.sale.read", [1], {})
        assert failed.value.code == "SERVER_ERROR" and "Traceback" not in str(failed.value)
    finally:
        await rpc.close()


@respx.mock
async def test_a_refused_login_is_a_configuration_error_without_the_password() -> None:
    respx.post(RPC).mock(return_value=httpx.Response(401))
    rpc = session()
    try:
        with pytest.raises(ConfigurationError) as error:
            await rpc.login()
    finally:
        await rpc.close()
    assert "admin" in str(error.value) and "s3cret" not in str(error.value)


def test_tagged_values_round_trip() -> None:
    values = [Decimal("2.50"), dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, 5, 6), {"a": [1]}]
    assert decode(json.loads(json.dumps(encode(values)))) == values
