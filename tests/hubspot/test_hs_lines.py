"""Line items as records: matching wanted lines to a deal's line items (pure)."""

from __future__ import annotations

from adapters.hubspot.writes import plan_line_items, same_in_hubspot

KEY = "erp_line_no"


def test_values_compare_in_hubspots_terms():
    assert same_in_hubspot("10.50", "10.5") and same_in_hubspot("2", "2.000")
    assert same_in_hubspot("", None) and not same_in_hubspot("1", None)
    assert not same_in_hubspot("Widget", "widget") and not same_in_hubspot("abc", "1")


def test_a_line_item_without_a_key_is_adopted_not_recreated():
    # A line created in HubSpot has no ERP line number yet: it pairs with the wanted line no
    # line item has, is updated (gaining the key) and keeps its id.
    current = [("71", {KEY: "1", "name": "A"}), ("72", {"name": "made in HubSpot"})]
    wanted = [{KEY: "1", "name": "A"}, {KEY: "2", "name": "made in HubSpot"}]
    plan = plan_line_items(wanted, current, KEY)
    assert plan.updates == [("72", {KEY: "2"})]
    assert plan.creates == [] and plan.archives == []


def test_nothing_to_do_when_everything_matches():
    current = [("71", {KEY: "1.0", "price": "9.5", "amount": "19"})]
    assert plan_line_items([{KEY: "1", "price": "9.50"}], current, KEY).empty


def test_removing_every_line_archives_the_ones_the_product_wrote():
    # 73 has no key: added in HubSpot and not yet in the ERP. It is not ours to delete.
    current = [("71", {KEY: "1"}), ("72", {KEY: "2"}), ("73", {})]
    assert plan_line_items([], current, KEY).archives == ["71", "72"]


def test_without_line_keys_in_the_mapping_lines_pair_by_position():
    current = [("71", {"name": "A"}), ("72", {"name": "B"})]
    plan = plan_line_items([{"name": "A2"}], current, KEY)
    assert plan.updates == [("71", {"name": "A2"})] and plan.archives == ["72"]
