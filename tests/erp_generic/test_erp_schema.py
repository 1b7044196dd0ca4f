"""Every configured table and column is checked against the reflected schema, with hints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.sample import create_sample_erp, sample_config
from adapters.erp_generic.schema import suggestion
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext
from connector.errors import InvalidConfiguration


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("erp") / "erp.db"
    create_sample_erp(path, customers=5, contacts=5, orders=5, products=3)
    return path


def adapter_for(block: dict[str, Any], base_dir: Path) -> ErpGenericAdapter:
    settings = ErpGenericSettings.model_validate(block)
    return ErpGenericAdapter.from_settings("erp", settings, AdapterContext(base_dir))


async def problems_of(block: dict[str, Any], base_dir: Path) -> list[str]:
    adapter = adapter_for(block, base_dir)
    try:
        return [str(problem) for problem in await adapter.check()]
    finally:
        await adapter.close()


async def test_the_sample_configuration_is_clean(sample_db: Path) -> None:
    # A relative SQLite path is relative to the folder of config.yaml.
    assert await problems_of(sample_config("sqlite:///erp.db"), sample_db.parent) == []


async def test_typos_are_reported_all_at_once_with_suggestions(sample_db: Path) -> None:
    block = sample_config(f"sqlite:///{sample_db}")
    block["entities"]["customer"]["updated_at"] = "updatedat"
    block["entities"]["contact"]["table"] = "contact"
    block["entities"]["sale"]["lines"]["foreign_key"] = "order"
    block["entities"]["sale"]["soft_delete"] = "title"
    assert sorted(await problems_of(block, sample_db.parent)) == [
        "systems.erp.settings.entities.contact.table: table or view 'contact' not found "
        "(did you mean 'contacts'?)",
        "systems.erp.settings.entities.customer.updated_at: column 'updatedat' not found in "
        "table 'customers' (did you mean 'updated_at'?)",
        "systems.erp.settings.entities.sale.lines.foreign_key: column 'order' not found in "
        "table 'sales_order_lines' (did you mean 'order_id'?)",
        "systems.erp.settings.entities.sale.soft_delete: column 'title' in table "
        "'sales_orders' is VARCHAR(200), expected a timestamp or boolean",
    ]


async def test_open_refuses_a_broken_configuration(sample_db: Path) -> None:
    block = sample_config(f"sqlite:///{sample_db}")
    block["entities"]["customer"]["primary_key"] = "customer_id"
    adapter = adapter_for(block, sample_db.parent)
    with pytest.raises(InvalidConfiguration) as raised:
        await adapter.open()
    assert "entities.customer.primary_key: column 'customer_id' not found" in str(raised.value)


async def test_sync_key_must_be_unique(erp_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(erp_url)
    kunden = sa.Table(
        "kunden",
        sa.MetaData(),
        sa.Column("nr", sa.Integer, primary_key=True),
        sa.Column("geaendert", sa.DateTime),
        sa.Column("schluessel", sa.String(40)),
    )
    # An index that is not unique does not count (MySQL lists indexes and unique keys alike).
    sa.Index("ix_kunden_schluessel", kunden.c.schluessel)
    kunden.create(engine)
    engine.dispose()
    block = {
        "url": erp_url,
        "entities": {
            "customer": {
                "table": "kunden",
                "primary_key": "nr",
                "updated_at": "geaendert",
                "sync_key": "schluessel",
            }
        },
    }
    assert await problems_of(block, tmp_path) == [
        "systems.erp.settings.entities.customer.sync_key: column 'schluessel' in table "
        "'kunden' must be UNIQUE (a replayed create finds its row by it)"
    ]


async def test_history_refresh_needs_its_tables(sample_db: Path) -> None:
    block = sample_config(f"sqlite:///{sample_db}")
    block["refresh_history"] = {"orders_table": "orders"}
    problems = await problems_of(block, sample_db.parent)
    assert problems == [
        "systems.erp.settings.refresh_history.orders_table: table or view 'orders' not found "
        "(did you mean 'sales_orders'?)"
    ]


def test_secrets_stay_out_of_reprs() -> None:
    settings = ErpGenericSettings.model_validate(
        {"url": "postgresql://erp:hunter2@db/erp", "password": "s3cret", "entities": {}}
    )
    assert "hunter2" not in repr(settings) and "s3cret" not in repr(settings)


def test_suggestion_is_quiet_when_nothing_is_close() -> None:
    assert suggestion("zzz", ["customers", "contacts"]) == ""
    assert suggestion("CUSTOMERS", ["customers"]) == " (did you mean 'customers'?)"


async def test_configured_webhook_secrets_give_a_verifier(sample_db: Path) -> None:
    import base64
    import datetime as dt

    from adapters.erp_generic.webhooks import sign
    from connector.adapter import WebhookRequest
    from connector.model import Entity

    key = b"k" * 32
    block = sample_config(f"sqlite:///{sample_db}")
    assert adapter_for(block, sample_db.parent).webhook_verifier() is None
    block["webhooks"] = {"secrets": ["whsec_" + base64.b64encode(key).decode()]}
    adapter = adapter_for(block, sample_db.parent)
    assert adapter.capabilities.webhooks
    verifier = adapter.webhook_verifier()
    assert verifier is not None
    body = b'{"type": "sale.updated", "data": {"id": "12"}}'
    now = dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(key, "evt_1", int(now.timestamp()), body),
    }
    [hint] = verifier.verify(WebhookRequest("POST", "/webhooks/erp", headers, body, now))
    assert (hint.entity, hint.external_id, hint.event_id) == (Entity.SALE, "12", "evt_1")


async def test_native_fields_before_open_reflect_the_tables(sample_db: Path) -> None:
    # `connector check` validates mapping files before it opens any system.
    adapter = adapter_for(sample_config(f"sqlite:///{sample_db}"), sample_db.parent)
    from connector.model import Entity

    fields = adapter.native_fields(Entity.CUSTOMER)
    assert fields is not None and "billing_city" in fields and "billing_cty" not in fields
    assert "lines" in (adapter.native_fields(Entity.SALE) or frozenset())
    broken = sample_config(f"sqlite:///{sample_db}")
    broken["entities"]["customer"]["table"] = "kunden"
    assert adapter_for(broken, sample_db.parent).native_fields(Entity.CUSTOMER) is None


def test_settings_errors_point_at_the_users_own_keys() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        ErpGenericSettings.model_validate(
            {"url": "sqlite://", "entities": {"customer": {"tabel": "x"}}}
        )
    assert sorted(error["loc"] for error in raised.value.errors()) == [
        ("entities", "customer", "tabel"),
        ("entities", "customer", "table"),
    ]
    with pytest.raises(ValidationError) as rest:
        ErpGenericSettings.model_validate({"mode": "rest", "base_url": "ftp://x", "entities": {}})
    assert [error["loc"] for error in rest.value.errors()] == [("base_url",)]
    with pytest.raises(ValidationError, match="mode must be 'sql' or 'rest'"):
        ErpGenericSettings.model_validate({"mode": "soap"})
