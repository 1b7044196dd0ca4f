"""The engine's pure decisions, alone."""

from __future__ import annotations

import datetime as dt

from connector.engine.decide import (
    advance_watermark,
    chunked,
    dedupe_latest,
    merged_snapshot,
    plan_write,
    pull_since,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def no_owner(path: str) -> None:
    return None


def test_pull_starts_an_overlap_before_the_cursor():
    assert pull_since(None, dt.timedelta(minutes=5)) is None
    assert pull_since(T0, dt.timedelta(minutes=5)) == T0 - dt.timedelta(minutes=5)


def test_watermark_takes_the_newest_handled_time_but_never_passes_the_signpost():
    assert advance_watermark(None, [T0, T0 + SECOND], T0 + 10 * SECOND) == T0 + SECOND
    assert advance_watermark(T0, [T0 + 99 * SECOND], T0 + 10 * SECOND) == T0 + 10 * SECOND
    assert advance_watermark(T0 + 5 * SECOND, [T0], T0 + 10 * SECOND) == T0 + 5 * SECOND
    assert advance_watermark(T0, [], T0 + SECOND) == T0


def test_unchanged_values_are_not_written_and_changed_ones_are():
    incoming = {"name": "Acme", "phone": "+49 1", "industry": "Tools"}
    snapshot = {"name": "Acme", "phone": "+49 0", "industry": "Tools"}
    plan = plan_write(
        incoming,
        target_paths={"name", "phone", "industry"},
        snapshot=snapshot,
        bound=True,
        source_names={"erp"},
        owner_of=no_owner,
    )
    assert plan.paths == {"phone"} and not plan.create


def test_echo_of_our_own_write_is_empty():
    values = {"name": "Acme", "credit_limit": "100"}
    plan = plan_write(
        values,
        target_paths=set(values),
        snapshot=dict(values),
        bound=True,
        source_names={"crm"},
        owner_of=no_owner,
    )
    assert plan.empty


def test_only_paths_the_target_maps_are_candidates():
    plan = plan_write(
        {"name": "A", "custom.x": 1},
        target_paths={"name"},
        snapshot=None,
        bound=False,
        source_names={"erp"},
        owner_of=no_owner,
    )
    assert plan.paths == {"name"} and plan.create


def test_the_owner_wins_conflicts_but_creates_carry_every_field():
    owners = {"credit_limit": "erp_generic", "industry": "hubspot"}
    incoming = {"credit_limit": "500", "industry": "Retail"}
    from_crm = plan_write(
        incoming,
        target_paths=set(incoming),
        snapshot={},
        bound=True,
        source_names={"crm", "hubspot"},
        owner_of=owners.get,
    )
    assert from_crm.paths == {"industry"}
    from_erp = plan_write(
        incoming,
        target_paths=set(incoming),
        snapshot={},
        bound=True,
        source_names={"erp", "erp_generic"},
        owner_of=owners.get,
    )
    assert from_erp.paths == {"credit_limit"}
    create = plan_write(
        incoming,
        target_paths=set(incoming),
        snapshot=None,
        bound=False,
        source_names={"crm", "hubspot"},
        owner_of=owners.get,
    )
    assert create.paths == {"credit_limit", "industry"}


def test_an_older_source_does_not_overwrite_unowned_fields():
    plan = plan_write(
        {"name": "Old"},
        target_paths={"name"},
        snapshot={"name": "New"},
        bound=True,
        source_names={"erp"},
        owner_of=no_owner,
        source_is_newer=False,
    )
    assert plan.empty


def test_snapshot_merges_written_paths_only():
    merged = merged_snapshot({"a": 1, "b": 2}, {"a": 9, "b": 8, "c": 7}, {"a", "c"})
    assert merged == {"a": 9, "b": 2, "c": 7}


def test_chunks_and_dedupe():
    assert [list(c) for c in chunked([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    latest = dedupe_latest([("a", 1), ("b", 1), ("a", 2)], lambda item: item[0])
    assert latest == [("b", 1), ("a", 2)]


def test_create_when_needs_every_condition():
    from connector.engine.decide import may_create

    assert may_create({"stage": "won"}, {"stage": ["won"]})
    assert not may_create({"stage": "open"}, {"stage": ["won"]})
    assert not may_create({}, {"stage": ["won"]})
    assert may_create({"stage": "open"}, {})
