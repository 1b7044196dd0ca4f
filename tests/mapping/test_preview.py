"""`preview`: native → canonical → every target's native, lined up by canonical path."""

from __future__ import annotations

from connector.mapping.catalog import MappingCatalog
from connector.mapping.preview import SOURCE, preview
from connector.model import Entity

from .conftest import DictRefs, native

CATALOG = MappingCatalog()
REFS = DictRefs({(Entity.CUSTOMER, "9001"): "cust-1"})


def test_preview_lines_up_source_canonical_and_targets():
    source = CATALOG.mapper("hubspot", Entity.SALE)
    targets = {"erp": CATALOG.mapper("erp_generic", Entity.SALE)}
    record = native(
        {
            "dealname": "Big deal",
            "dealstage": "contractsent",
            "amount": "99.5",
            "associations": {"company": "9001"},
        }
    )
    result = preview(record, source, targets, REFS)
    assert result.errors == {}
    rows = {row.path: row for row in result.rows}
    stage = rows["stage"]
    assert (stage.source.field, stage.source.value, stage.canonical) == (
        "dealstage",
        "contractsent",
        "open",
    )
    assert (stage.targets["erp"].field, stage.targets["erp"].value) == ("stage", "open")
    customer = rows["customer"]
    assert customer.source.field == "associations.company" and customer.canonical == "cust-1"
    assert customer.targets["erp"].value == "9001"
    # The ERP create also writes a default no HubSpot field explains: shown as its own row.
    extra = [row for row in result.rows if row.path == ""]
    assert [(row.targets["erp"].field, row.targets["erp"].value) for row in extra] == [
        ("status", "none")
    ]


def test_preview_reports_errors_per_column_without_stopping():
    source = CATALOG.mapper("erp_generic", Entity.CONTACT)
    targets = {"crm": CATALOG.mapper("hubspot", Entity.CONTACT)}
    erp_refs = DictRefs({(Entity.CUSTOMER, "5"): "cust-5"})
    crm_refs = DictRefs({(Entity.CUSTOMER, "hs-1"): "cust-1"})  # cust-5 is not in the CRM yet
    record = native({"customer_id": 5, "last_name": "Li"})
    result = preview(record, source, targets, erp_refs, {"crm": crm_refs})
    assert "crm" in result.errors and "not synced yet" in result.errors["crm"]
    assert [row.path for row in result.rows] == ["customer", "last_name"]
    broken = preview(native({"customer_id": 6}), source, targets, erp_refs)
    assert broken.record is None and SOURCE in broken.errors
