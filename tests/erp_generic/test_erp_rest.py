"""REST mode against a local REST ERP (FastAPI through httpx.ASGITransport)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.rest import format_since, next_link, parse_timestamp
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeWrite
from connector.errors import ConfigurationError
from connector.http import LimiterRegistry
from connector.model import Entity
from tests.erp_generic.rest_erp import TOKEN, ErpState, create_app

BASE = "http://erp.test/api"

PAGINATIONS: dict[str, dict[str, Any]] = {
    "page": {"pagination": {"style": "page", "size": 3}, "records_path": "data"},
    "offset": {"pagination": {"style": "offset", "size": 3}, "records_path": "items"},
    "cursor": {
        "pagination": {"style": "cursor", "size": 3, "cursor_path": "paging.next"},
        "records_path": "results",
    },
    "link": {"pagination": {"style": "link"}, "records_path": ""},
}


def settings_block(style: str, **entity: Any) -> dict[str, Any]:
    customer = {
        "list": {"method": "GET", "path": f"/{style}/customers"},
        "get": {"method": "GET", "path": "/customers/{id}"},
        "create": {"method": "POST", "path": "/customers"},
        "update": {"method": "PUT", "path": "/customers/{id}"},
        "delete": {"method": "DELETE", "path": "/customers/{id}"},
        "sync_key_field": "sync_key",
        **PAGINATIONS.get(style, {"records_path": ""}),
        **entity,
    }
    return {
        "mode": "rest",
        "base_url": BASE,
        "token_env": "ERP_TEST_TOKEN",
        "max_attempts": 3,
        "entities": {"customer": customer},
    }


async def no_sleep(_: float) -> None:
    return None


def make_adapter(state: ErpState, block: dict[str, Any]) -> ErpGenericAdapter:
    settings = ErpGenericSettings.model_validate(block).root
    app = create_app(state)
    # The app is mounted at /api, as a real ERP's API often is under a prefix.
    transport = httpx.ASGITransport(app=app, root_path="")
    return ErpGenericAdapter(
        "erp",
        settings,
        AdapterContext(Path(".")),
        transport=_Prefixed(transport),
        sleep=no_sleep,
        registry=LimiterRegistry(),
    )


class _Prefixed(httpx.AsyncBaseTransport):
    """Strips `/api` so the app sees its own paths, as a reverse proxy would."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        request.url = request.url.copy_with(path=path)
        response = await self.inner.handle_async_request(request)
        if "link" in response.headers:
            # Links the app builds are to its own paths; the client sees them under /api.
            response.headers["link"] = response.headers["link"].replace(
                "http://erp.test/", "http://erp.test/api/"
            )
        return response


@pytest.fixture
def state() -> ErpState:
    erp = ErpState()
    for number in range(1, 9):
        erp.add(f"Customer {number}")
    return erp


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_TEST_TOKEN", TOKEN)


@pytest.fixture
async def adapter(state: ErpState) -> AsyncIterator[ErpGenericAdapter]:
    opened = make_adapter(state, settings_block("page"))
    await opened.open()
    yield opened
    await opened.close()


@pytest.mark.parametrize("style", list(PAGINATIONS))
async def test_every_pagination_style_reads_all_changes(state: ErpState, style: str) -> None:
    adapter = make_adapter(state, settings_block(style))
    await adapter.open()
    try:
        everything = [r async for p in adapter.read_changes(Entity.CUSTOMER, None)
                      for r in p.records]  # fmt: skip
        assert [r.id for r in everything] == [str(i) for i in range(1, 9)]
        since = everything[5].updated_at
        later = [r async for p in adapter.read_changes(Entity.CUSTOMER, since)
                 for r in p.records]  # fmt: skip
        assert [r.id for r in later] == ["6", "7", "8"]
        assert later[0].fields["name"] == "Customer 6"
        assert later[0].updated_at.tzinfo is dt.UTC
    finally:
        await adapter.close()
    lists = [call for call in state.calls if "/customers?" in call]
    assert len(lists) >= 3 + 1  # paged: 8 records in pages of 3, then the later read


async def test_transient_errors_are_retried_by_the_shared_layer(
    adapter: ErpGenericAdapter, state: ErpState
) -> None:
    state.fail_next = [503, 502]
    records = [r async for p in adapter.read_changes(Entity.CUSTOMER, None) for r in p.records]
    assert len(records) == 8


async def test_a_missing_token_is_a_configuration_problem(
    state: ErpState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERP_TEST_TOKEN")
    adapter = make_adapter(state, settings_block("page"))
    assert [str(p) for p in await adapter.check()] == [
        "systems.erp.settings.token_env: environment variable 'ERP_TEST_TOKEN' is not set"
    ]


async def test_a_wrong_token_stops_with_a_configuration_error(
    state: ErpState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TEST_TOKEN", "wrong-token")
    adapter = make_adapter(state, settings_block("page"))
    await adapter.open()
    try:
        with pytest.raises(ConfigurationError) as raised:
            [p async for p in adapter.read_changes(Entity.CUSTOMER, None)]
        assert "wrong-token" not in str(raised.value)
    finally:
        await adapter.close()


async def test_upsert_creates_then_updates_and_replays_are_idempotent(
    adapter: ErpGenericAdapter, state: ErpState
) -> None:
    write = NativeWrite("key-9", None, {"name": "New customer"})
    [created] = await adapter.upsert(Entity.CUSTOMER, [write])
    assert created.ok and created.created and created.external_id == "9"
    assert state.records[9]["sync_key"] == "key-9"
    [replayed] = await adapter.upsert(Entity.CUSTOMER, [write])
    assert replayed.ok and not replayed.created and replayed.external_id == "9"
    assert len(state.records) == 9
    [updated] = await adapter.upsert(
        Entity.CUSTOMER, [NativeWrite("key-2", "2", {"name": "Renamed"})]
    )
    assert updated.ok and updated.updated_at is not None
    assert state.records[2]["name"] == "Renamed"


async def test_a_rejected_record_fails_alone(adapter: ErpGenericAdapter, state: ErpState) -> None:
    writes = [
        NativeWrite("a", None, {"name": "Fine"}),
        NativeWrite("b", None, {"name": ""}),
        NativeWrite("c", "404404", {"name": "Gone"}),
    ]
    results = {r.key: r for r in await adapter.upsert(Entity.CUSTOMER, writes)}
    assert results["a"].ok
    assert results["b"].error is not None and results["b"].error.code == "REQUIRED"
    assert results["c"].error is not None
    assert len(state.records) == 9


async def test_read_lookup_and_delete(adapter: ErpGenericAdapter, state: ErpState) -> None:
    found = await adapter.read(Entity.CUSTOMER, ["3", "77"])
    assert [r.id for r in found] == ["3"]
    matches = await adapter.lookup(Entity.CUSTOMER, "name", ["Customer 4", "Nobody"])
    assert list(matches) == ["Customer 4"] and matches["Customer 4"].id == "4"
    results = await adapter.delete(Entity.CUSTOMER, ["5", "5"])
    assert all(r.ok for r in results)  # the second delete finds it gone: fine
    assert 5 not in state.records


async def test_a_link_outside_base_url_is_not_followed(state: ErpState) -> None:
    adapter = make_adapter(
        state, settings_block("escape", pagination={"style": "link"}, records_path="")
    )
    await adapter.open()
    try:
        with pytest.raises(ConfigurationError, match="outside base_url"):
            [p async for p in adapter.read_changes(Entity.CUSTOMER, None)]
    finally:
        await adapter.close()
    assert not any("evil" in call for call in state.calls)


def test_since_formats_and_timestamp_parsing() -> None:
    moment = dt.datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)
    assert format_since(moment, "iso") == "2030-01-02T03:04:05.600000Z"
    assert format_since(moment, "epoch") == "1893553445"
    assert format_since(moment, "epoch_ms") == "1893553445600"
    assert format_since(moment, "date") == "2030-01-02"
    assert parse_timestamp("2030-01-02T03:04:05.6Z") == moment
    assert parse_timestamp(1893553445.6) == moment
    assert parse_timestamp("2030-01-02T03:04:05.6") == moment
    with pytest.raises(ValueError):
        parse_timestamp(True)


def test_next_link_resolves_relative_targets_under_base() -> None:
    request = httpx.Request("GET", f"{BASE}/link/customers?page=1")
    response = httpx.Response(
        200, headers={"Link": '</api/link/customers?page=2>; rel="next"'}, request=request
    )
    assert next_link(response, BASE) == "/link/customers?page=2"
    last = httpx.Response(200, request=request)
    assert next_link(last, BASE) is None
