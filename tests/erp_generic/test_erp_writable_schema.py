"""CRM → ERP into a foreign schema the product may write but not alter (erp_writable.py), on
SQLite, PostgreSQL and MariaDB, through the engine with an in-memory CRM: companies created
only where the route allows and never with NULLs, won deals through the import table with the
ERP's number back to the CRM, a crash between insert and binding, and bad records alone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.erp_generic.adapter import ErpGenericAdapter
from adapters.erp_generic.settings import ErpGenericSettings
from connector.adapter import AdapterContext, NativeWrite, WriteResult
from connector.config import load_config
from connector.engine.service import SyncService
from connector.engine.summary import RunSummary
from connector.model import Entity
from connector.runtime import Runtime
from connector.testing.memory import MemoryAdapter, MemorySettings
from tests.erp_generic.erp_writable import (
    AUFTRAG,
    AUFTRAG_IMPORT,
    ENTITIES,
    KUNDE,
    create_foreign_erp,
    rows,
    run_import_job,
    write_setup,
)

ROUTES: list[dict[str, Any]] = [
    {
        "name": "crm-to-erp",
        "from": "crm",
        "to": "erp",
        "entities": {"customer": {}, "sale": {"create": {"when": {"stage": "won"}}}},
    },
    # The same direction for an operator who lets the CRM update ERP customers only.
    {
        "name": "crm-updates-erp",
        "from": "crm",
        "to": "erp",
        "entities": {"customer": {"create": "never"}},
    },
    {"name": "erp-to-crm", "from": "erp", "to": "crm", "entities": ["customer", "sale"]},
]


class Setup:
    def __init__(self, directory: Path, url: str, entities: dict[str, Any] = ENTITIES) -> None:
        self.url = url
        self.config = load_config(write_setup(directory, url, ROUTES, entities))
        self.crm = MemoryAdapter("crm", MemorySettings())
        self.erp_wrapper: Any = None

    async def run(self, route: str) -> RunSummary:
        overrides: dict[str, Any] = {"crm": self.crm}
        async with Runtime.open(self.config, **overrides) as runtime:
            if self.erp_wrapper is not None:
                runtime.adapters["erp"] = self.erp_wrapper(runtime.adapters["erp"])
            return await SyncService(runtime).run_route(route)

    def failures(self) -> list[tuple[str, str | None, str]]:
        from connector.state.store import open_store

        store = open_store(self.config.state.url, self.config.base_dir)
        try:
            return [(f.external_id, f.code, f.message) for f in store.failures()]
        finally:
            store.close()


@pytest.fixture
def setup(erp_url: str, tmp_path: Path) -> Setup:
    create_foreign_erp(erp_url)
    return Setup(tmp_path, erp_url)


async def test_a_crm_company_is_created_only_where_allowed_and_never_with_nulls(setup: Setup):
    first = setup.crm.put(Entity.CUSTOMER, {"name": "Neukunde AG", "email": "neu@example.de"})
    # A route that may only update creates nothing.
    summary = await setup.run("crm-updates-erp")
    assert summary.counts[Entity.CUSTOMER].skipped == 1
    assert [row["name1"] for row in rows(setup.url, KUNDE)] == ["Altkunde GmbH"]

    summary = await setup.run("crm-to-erp")
    assert summary.counts[Entity.CUSTOMER].created == 1
    second = setup.crm.put(Entity.CUSTOMER, {"name": "Zweitkunde KG", "currency": "CHF"})
    await setup.run("crm-to-erp")
    new = rows(setup.url, KUNDE)[1:]
    # The ERP assigned the numbers; the mapping's empty columns took the database defaults.
    assert [
        (r["name1"], r["kdnr"], r["kundengruppe"], r["waehrung"], r["crm_ref"]) for r in new
    ] == [
        ("Neukunde AG", "10002", "STD", "EUR", first),
        ("Zweitkunde KG", "10003", "STD", "CHF", second),
    ]
    # The update-only route carries edits of customers the ERP has.
    setup.crm.put(Entity.CUSTOMER, {"name": "Neukunde AG & Co"}, first)
    summary = await setup.run("crm-updates-erp")
    assert summary.counts[Entity.CUSTOMER].updated == 1
    assert rows(setup.url, KUNDE)[1]["name1"] == "Neukunde AG & Co"
    # The ERP's numbers reach the CRM.
    await setup.run("erp-to-crm")
    numbers = {row.id: row.fields.get("number") for row in setup.crm.records(Entity.CUSTOMER)}
    assert numbers[first] == "10002" and numbers[second] == "10003"
    assert setup.failures() == []


async def test_a_won_deal_goes_through_the_import_table_and_its_number_comes_back(setup: Setup):
    company = setup.crm.put(Entity.CUSTOMER, {"name": "Käufer GmbH"})
    won = setup.crm.put(
        Entity.SALE, {"title": "Won", "stage": "won", "amount": "1200.50", "customer": company}
    )
    setup.crm.put(
        Entity.SALE, {"title": "Open", "stage": "open", "amount": "10", "customer": company}
    )
    refused = setup.crm.put(
        Entity.SALE, {"title": "Zero", "stage": "won", "amount": "0", "customer": company}
    )

    summary = await setup.run("crm-to-erp")
    assert summary.counts[Entity.SALE].skipped == 1  # the open deal
    staged = rows(setup.url, AUFTRAG_IMPORT)
    assert [(r["status"], r["summe"]) for r in staged] == [
        ("NEU", Decimal("1200.50")),
        ("NEU", Decimal("0.00")),
    ]
    assert rows(setup.url, AUFTRAG) == []  # the core table is the ERP's job
    assert {code for _, code, _ in setup.failures()} == {"AWAITING_TARGET"}

    # Asking again before the job ran stages nothing twice.
    await setup.run("crm-to-erp")
    assert len(rows(setup.url, AUFTRAG_IMPORT)) == 2

    assert run_import_job(setup.url) == 2
    summary = await setup.run("crm-to-erp")
    assert summary.counts[Entity.SALE].created == 1
    [order] = rows(setup.url, AUFTRAG)
    assert order["aufnr"] == "A-00001" and order["betrag"] == Decimal("1200.50")
    [(failed_id, code, error)] = setup.failures()
    assert (failed_id, code) == (refused, "IMPORT_FAILED")
    assert "Auftragssumme muss positiv sein" in error

    await setup.run("erp-to-crm")
    assert dict(setup.crm.records(Entity.SALE)[0].fields)["number"] == "A-00001"
    assert [r.id for r in setup.crm.records(Entity.SALE)].count(won) == 1
    assert len(setup.crm.records(Entity.SALE)) == 3  # no deal came back twice

    # A refused deal is staged again only once it changed.
    await setup.run("crm-to-erp")
    assert len(rows(setup.url, AUFTRAG_IMPORT)) == 2
    setup.crm.put(Entity.SALE, {"amount": "99"}, refused)
    await setup.run("crm-to-erp")
    assert [r["status"] for r in rows(setup.url, AUFTRAG_IMPORT)] == ["OK", "FEHLER", "NEU"]


class Killed(Exception):
    pass


class KilledAfterWrite:
    """The ERP adapter of a process killed right after the ERP committed its first insert and
    before the binding reached the store."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def upsert(self, entity: Entity, writes: list[NativeWrite]) -> list[WriteResult]:
        await self._inner.upsert(entity, writes)
        raise Killed("the process died here")


async def test_a_crash_between_insert_and_binding_neither_duplicates_nor_fails_forever(
    setup: Setup,
):
    company = setup.crm.put(Entity.CUSTOMER, {"name": "Absturz AG"})
    setup.erp_wrapper = KilledAfterWrite
    with pytest.raises(Killed):
        await setup.run("crm-to-erp")
    assert [r["name1"] for r in rows(setup.url, KUNDE)] == ["Altkunde GmbH", "Absturz AG"]

    setup.erp_wrapper = None
    setup.crm.put(Entity.CUSTOMER, {"email": "absturz@example.de"}, company)
    summary = await setup.run("crm-to-erp")
    assert summary.counts[Entity.CUSTOMER].failed == 0
    kunden = rows(setup.url, KUNDE)
    assert [(r["name1"], r["email"], r["crm_ref"]) for r in kunden[1:]] == [
        ("Absturz AG", "absturz@example.de", company)
    ]
    assert setup.failures() == []


async def test_one_bad_record_fails_alone_and_the_run_goes_on(setup: Setup):
    # Its e-mail belongs to another ERP customer (UNIQUE): the database refuses that row.
    taken = setup.crm.put(Entity.CUSTOMER, {"name": "Dublette", "email": "alt@example.de"})
    good = [setup.crm.put(Entity.CUSTOMER, {"name": f"Gut {n}"}) for n in range(3)]
    summary = await setup.run("crm-to-erp")
    counts = summary.counts[Entity.CUSTOMER]
    assert (counts.created, counts.failed) == (3, 1)
    [(failed_id, code, error)] = setup.failures()
    assert failed_id == taken and code == "CONSTRAINT_VIOLATION" and error
    assert sorted(r["crm_ref"] or "" for r in rows(setup.url, KUNDE))[1:] == sorted(good)


async def test_two_crm_records_resolving_to_one_erp_row_fail_alone(erp_url: str, tmp_path: Path):
    """Customers found by their e-mail before insert (no reference column): two CRM companies
    with one e-mail would bind one ERP row twice. The second fails with the reason; the store's
    uniqueness never stops the run, and the rest of the batch is written."""
    create_foreign_erp(erp_url)
    customer = {k: v for k, v in ENTITIES["customer"].items() if k != "reference"}
    setup = Setup(tmp_path, erp_url, {"customer": {**customer, "required": ["email"]}})
    first = setup.crm.put(Entity.CUSTOMER, {"name": "Eins", "email": "same@example.de"})
    second = setup.crm.put(Entity.CUSTOMER, {"name": "Zwei", "email": "same@example.de"})
    other = setup.crm.put(Entity.CUSTOMER, {"name": "Drei", "email": "drei@example.de"})
    nameless = setup.crm.put(Entity.CUSTOMER, {"name": "Ohne Mail"})
    summary = await setup.run("crm-to-erp")
    counts = summary.counts[Entity.CUSTOMER]
    assert (counts.created + counts.updated, counts.failed) == (2, 2)
    failures = {external_id: (code, message) for external_id, code, message in setup.failures()}
    assert failures[second][0] == "BINDING_CONFLICT" and "already bound" in failures[second][1]
    # A natural key the record does not have is never inserted as NULL.
    assert failures[nameless][0] == "MISSING_KEY"
    assert {r["email"] for r in rows(erp_url, KUNDE)} == {
        "alt@example.de",
        "same@example.de",
        "drei@example.de",
    }
    assert first and other


async def test_numbers_from_a_sequence_and_misnamed_write_settings(erp_url: str, tmp_path: Path):
    """A customer number from a database sequence (PostgreSQL, MariaDB); on SQLite, which has
    none, and for every misnamed write setting, `check` says where and what."""
    create_foreign_erp(erp_url)
    engine = sa.create_engine(erp_url)
    with engine.begin() as connection:  # MariaDB says whether it has sequences on connect
        if engine.dialect.supports_sequences:
            connection.execute(sa.schema.CreateSequence(sa.Sequence("kdnr_seq", start=50000)))
    engine.dispose()
    customer = {
        **{k: v for k, v in ENTITIES["customer"].items() if k != "assign"},
        "assign": {"column": "kdnr", "sequence": "kdnr_seq"},
        "defaults": {"kundengruppe": "B2B"},
    }
    settings = ErpGenericSettings.model_validate(
        {"url": erp_url, "entities": {"customer": customer}}
    )
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(tmp_path))
    problems = await adapter.check()
    try:
        if not engine.dialect.supports_sequences:
            assert [p.location for p in problems] == [
                "systems.erp.settings.entities.customer.assign.sequence"
            ]
            return
        assert problems == []
        written = await adapter.upsert(
            Entity.CUSTOMER,
            [NativeWrite(f"k{n}", None, {"name1": f"Seq {n}"}, source_id=f"c{n}") for n in (1, 2)],
        )
        assert [w.ok for w in written] == [True, True]
        new = rows(erp_url, KUNDE)[1:]
        assert [(r["kdnr"], r["kundengruppe"], r["waehrung"]) for r in new] == [
            ("50000", "B2B", "EUR"),
            ("50001", "B2B", "EUR"),
        ]
    finally:
        await adapter.close()

    wrong = {
        **customer,
        "assign": {"column": "kd_nummer", "expression": "SELECT 1"},
        "defaults": {"gruppe": "B2B"},
        "reference": {"column": "crmref"},
    }
    settings = ErpGenericSettings.model_validate({"url": erp_url, "entities": {"customer": wrong}})
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(tmp_path))
    problems = await adapter.check()
    where = "systems.erp.settings.entities.customer"
    assert {p.location for p in problems} == {
        f"{where}.defaults",
        f"{where}.assign.column",
        f"{where}.reference.column",
    }
    assert any("did you mean 'crm_ref'" in p.message for p in problems)


def test_a_staging_write_needs_its_table_and_an_api_write_its_writer() -> None:
    for entity, needs in (({"table": "t", "write": "staging"}, "staging table"),
                          ({"table": "t", "write": "api"}, "`api:` block")):  # fmt: skip
        with pytest.raises(ValueError, match=needs):
            ErpGenericSettings.model_validate({"url": "sqlite://", "entities": {"sale": entity}})


async def test_an_entity_without_a_write_mode_is_never_written(erp_url: str, tmp_path: Path):
    create_foreign_erp(erp_url)
    customer = {k: v for k, v in ENTITIES["customer"].items() if k != "write"}
    settings = ErpGenericSettings.model_validate(
        {"url": erp_url, "entities": {"customer": customer}}
    )
    adapter = ErpGenericAdapter.from_settings("erp", settings, AdapterContext(tmp_path))
    await adapter.open()
    try:
        [result] = await adapter.upsert(Entity.CUSTOMER, [NativeWrite("k", "1", {"name1": "X"})])
        [deleted] = await adapter.delete(Entity.CUSTOMER, ["1"])
    finally:
        await adapter.close()
    assert result.error is not None and result.error.code == "WRITE_NOT_ALLOWED"
    assert deleted.error is not None and deleted.error.code == "WRITE_NOT_ALLOWED"
    assert rows(erp_url, KUNDE)[0]["name1"] == "Altkunde GmbH"
