"""Secrets never reach logs or exception text; each attempt logs one structured line."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest
import respx
from pydantic import SecretStr

from connector.errors import ConnectorError
from connector.http import ApiClient, HttpSettings, LimiterRegistry, StaticToken

from .conftest import BASE_URL, FakeClock

SECRET = "sk-PLANTED-7f3a9c"


def full_text(error: BaseException) -> str:
    """Everything an operator could see: message, repr and the whole chained traceback."""
    return "".join(traceback.format_exception(error)) + repr(error)


@respx.mock
async def test_planted_secret_never_shows_in_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, including httpx's own loggers if they spoke
    clock = FakeClock()
    respx.post(f"{BASE_URL}/items").mock(
        side_effect=[
            httpx.Response(503, text=f"upstream said Authorization: Bearer {SECRET}"),
            httpx.Response(
                400,
                json={
                    "message": f"invalid value; you sent token {SECRET}",
                    "category": "VALIDATION_ERROR",
                    "echo": {"password": SECRET},
                },
            ),
        ]
    )
    respx.get(f"{BASE_URL}/gone").mock(
        side_effect=httpx.ReadTimeout(f"timed out talking with {SECRET}?")
    )
    client = ApiClient(
        HttpSettings(base_url=BASE_URL, max_attempts=2),
        name="remote",
        auth=StaticToken(SecretStr(SECRET)),
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )
    errors: list[BaseException] = []
    async with client:
        for method, path in (("POST", "/items?api_key=x"), ("GET", "/gone")):
            try:
                await client.request(method, path, json={"secret": SECRET}, idempotent=True)
            except ConnectorError as error:
                errors.append(error)
    assert len(errors) == 2
    assert "invalid value; you sent token ***" in str(errors[0])  # the API's words, redacted
    for error in errors:
        assert SECRET not in full_text(error)
    logged = "\n".join(
        record.getMessage() + repr(record.__dict__.get("http")) for record in caplog.records
    )
    assert "/items" in logged and "/gone" in logged  # the attempts were logged ...
    assert SECRET not in logged  # ... without the secret
    assert "api_key" not in logged  # query strings are never logged
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


@respx.mock
async def test_one_structured_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connector.http")
    clock = FakeClock()
    respx.get(f"{BASE_URL}/items").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=[])]
    )
    client = ApiClient(
        HttpSettings(base_url=BASE_URL),
        name="remote",
        registry=LimiterRegistry(),
        clock=clock,
        sleep=clock.sleep,
    )
    async with client:
        await client.request("GET", "/items", params={"q": "x"})
    lines = [r for r in caplog.records if r.name == "connector.http"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO]
    first, second = (r.__dict__["http"] for r in lines)
    assert first["method"] == "GET" and first["path"] == "/items"
    assert first["status"] == 503 and first["attempt"] == 1
    assert first["outcome"] == "retry"
    assert first["retry_reason"] == "HTTP 503 service unavailable"
    assert second["status"] == 200 and second["attempt"] == 2
    assert second["retry_reason"] is None
    assert isinstance(second["duration_ms"], float)


def test_httpx_info_logging_is_quiet() -> None:
    import connector.http  # noqa: F401 - importing the layer is what quiets them

    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("httpcore").getEffectiveLevel() >= logging.WARNING
