"""The engine's pure decisions, alone."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.batching import chunked
from connector.engine import prepare
from connector.engine.decide import (
    LINES,
    UNWRITTEN,
    WritePlan,
    advance_watermark,
    changed_lines,
    dedupe_latest,
    lines_equal,
    merge_lines,
    merged_snapshot,
    observation_replaces,
    observed_snapshot,
    plan_write,
    pull_since,
    same_value,
)
from connector.engine.prepare import new_key, new_keys, paths_by_native, unrepresentable
from connector.model import Entity

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
    # Each id once: the records as they came, whatever the identities' order.
    assert dedupe_latest([("b", 1), ("a", 2)], lambda item: item[0]) == [("b", 1), ("a", 2)]
    assert dedupe_latest(iter([("a", 1), ("a", 2), ("a", 3)]), lambda item: item[0]) == [("a", 3)]


def test_create_when_needs_every_condition():
    from connector.engine.decide import may_create

    assert may_create({"stage": "won"}, {"stage": ["won"]})
    assert not may_create({"stage": "open"}, {"stage": ["won"]})
    assert may_create({"stage": "open"}, {})  # no condition: always
    assert not may_create({}, {"stage": ["won"]})
    assert may_create({"stage": "open"}, {})


# -- the rule: write only what differs, never clear with an absent value ----------------------


def plan(incoming, snapshot=None, source_snapshot=None, owner=None, bound=True, newer=True):
    return plan_write(
        incoming,
        target_paths=set(incoming),
        snapshot=snapshot,
        bound=bound,
        source_names={"crm"},
        owner_of=lambda path: owner,
        source_is_newer=newer,
        source_snapshot=source_snapshot,
    )


def test_an_empty_value_the_source_never_held_is_withheld_not_written():
    # The CRM never had the owner (it could not take it): its empty owner erases nothing.
    p = plan({"owner": None}, snapshot={"owner": "bob@example.com"}, source_snapshot={})
    assert p.empty and p.withheld == {"owner"}
    p = plan({"lines": []}, snapshot={"lines": [{"number": 1}]}, source_snapshot={"lines": None})
    assert p.empty and p.withheld == {"lines"}
    # Where the target's value is unknown nothing is written either, and nothing reported.
    assert plan({"phone": None}, snapshot={}, source_snapshot=None).withheld == frozenset()
    assert plan({"phone": None}, snapshot={}, source_snapshot=None).empty


def test_a_deliberate_clear_in_the_source_does_reach_the_target():
    p = plan({"phone": None}, snapshot={"phone": "+49 1"}, source_snapshot={"phone": "+49 1"})
    assert p.paths == {"phone"} and not p.withheld


def test_an_unowned_value_the_source_did_not_change_never_overwrites_the_target():
    # The echo of an old value must not undo an edit made in the target meanwhile.
    p = plan({"name": "Old"}, snapshot={"name": "Edited there"}, source_snapshot={"name": "Old"})
    assert p.empty
    # The owner's unchanged value still restores its field (the owner wins).
    p = plan(
        {"number": "C1"}, snapshot={"number": "typo"}, source_snapshot={"number": "C1"}, owner="crm"
    )
    assert p.paths == {"number"}


def test_a_value_the_target_refused_is_not_offered_again_until_it_changes():
    snapshot = merged_snapshot({"name": "A"}, {"owner": "dave@x", "name": "B"}, {"name"}, {"owner"})
    assert "owner" not in snapshot and snapshot["name"] == "B"
    assert plan({"owner": "dave@x"}, snapshot=snapshot).empty
    assert plan({"owner": "erin@x"}, snapshot=snapshot).paths == {"owner"}
    # Once written, the memory of the refusal goes.
    assert merged_snapshot(snapshot, {"owner": "erin@x"}, {"owner"}) == {
        "name": "B",
        "owner": "erin@x",
    }


def test_lines_compare_by_key_and_only_over_the_fields_the_source_provides():
    known = [
        {"number": 1, "sku": "A", "quantity": "2", "line_total": "20"},
        {"number": 2, "sku": "B", "quantity": "1", "line_total": "5"},
    ]
    # The CRM does not provide the line total (it computes its own): no difference.
    same = [{"number": 2, "sku": "B", "quantity": "1"}, {"number": 1, "sku": "A", "quantity": "2"}]
    assert lines_equal(known, same)
    assert plan({"lines": same}, snapshot={"lines": known}).empty
    edited = [{"number": 1, "sku": "A", "quantity": "3"}, {"number": 2, "sku": "B"}]
    assert not lines_equal(known, edited)
    assert changed_lines(known, edited) == ([], ["1"], [])
    assert changed_lines(known, [{"number": 3, "sku": "C"}]) == (["3"], [], ["1", "2"])
    # The merged snapshot keeps the fields the source does not carry.
    assert merge_lines(known, edited) == [
        {"number": 1, "sku": "A", "quantity": "3", "line_total": "20"},
        {"number": 2, "sku": "B", "quantity": "1", "line_total": "5"},
    ]


def test_observing_a_system_keeps_what_it_does_not_return():
    previous = {"name": "A", "history.lifetime_revenue": "10", UNWRITTEN + "owner": "dave@x"}
    assert observed_snapshot(previous, {"name": "B", "owner": None}) == {
        "name": "B",
        "owner": None,
        "history.lifetime_revenue": "10",
        UNWRITTEN + "owner": "dave@x",
    }


def test_an_observation_that_returns_every_path_replaces_the_snapshot():
    previous = {"name": "A", "phone": None}
    assert observation_replaces(previous, {"name": "B", "phone": "1", "email": "x"})
    assert observation_replaces({}, {"name": "B"})
    assert not observation_replaces({**previous, "history.x": "1"}, {"name": "B", "phone": "1"})
    assert not observation_replaces({UNWRITTEN + "owner": "dave@x"}, {"owner": "erin@x"})
    # Lines merge with what the snapshot held (fields the source does not return stay).
    lines = [{"number": 1, "quantity": "2"}]
    assert not observation_replaces({LINES: [{"number": 1, "total": "9"}]}, {LINES: lines})
    assert observation_replaces({LINES: None}, {LINES: lines})


_PATHS = ("name", "phone", "owner", LINES)
_VALUES = st.one_of(
    st.sampled_from([None, "", [], "a", "b", 1]),
    st.lists(
        st.fixed_dictionaries(
            {"number": st.sampled_from([1, 2])}, optional={"sku": st.sampled_from(["A", "B"])}
        ),
        max_size=2,
    ),
)
_FLATS = st.dictionaries(st.sampled_from(_PATHS), _VALUES, max_size=len(_PATHS))


@given(previous=_FLATS, observed=_FLATS)
def test_observation_replaces_only_when_the_merged_snapshot_is_the_observation(previous, observed):
    if observation_replaces(previous, observed):
        assert observed_snapshot(previous, observed) == observed


@given(
    incoming=_FLATS,
    snapshot=_FLATS,
    source_snapshot=st.none() | _FLATS,
    owners=st.dictionaries(st.sampled_from(_PATHS), st.sampled_from(["crm", "erp"])),
    newer=st.booleans(),
)
def test_a_value_equal_to_the_snapshot_plays_no_part_in_an_update(
    incoming, snapshot, source_snapshot, owners, newer
):
    """Dropping the paths whose value the snapshot holds changes nothing in the plan: they
    are neither written nor withheld, and every other path is decided on its own."""

    def planned(values):
        return plan_write(
            values,
            target_paths=set(_PATHS) - {"phone"},
            snapshot=snapshot,
            bound=True,
            source_names={"crm"},
            owner_of=owners.get,
            source_is_newer=newer,
            source_snapshot=source_snapshot,
        )

    plan = planned(incoming)
    differing = {path: v for path, v in incoming.items() if snapshot.get(path, "?") != v}
    assert planned(differing) == plan
    assert plan.paths | plan.withheld <= differing.keys() - {"phone"}
    assert not plan.paths & plan.withheld
    for path, value in differing.items():
        if path in ("name", "owner") and path not in snapshot and value not in (None, "", []):
            # New there and not empty: written when the source owns it or, unowned, is newer.
            expected = owners.get(path) == "crm" or (path not in owners and newer)
            assert (path in plan.paths) == expected


def test_a_value_the_target_mapping_cannot_represent_is_found():
    flat = {"industry": "Widgets", "name": "Acme", "customer": "k1", "phone": None}
    fields = {"industry": None, "name": "Acme", "associations.company": None, "phone": None}
    natives = {"industry": "industry", "name": "name", "customer": "associations.company"}
    paths_of = paths_by_native(flat, natives.get)
    lost = unrepresentable(flat, frozenset(flat), fields, paths_of, {"customer": Entity.CUSTOMER})
    assert lost == {"industry"}, "a reference written empty is deliberate; None was None"
    unplanned = unrepresentable(flat, frozenset({"name"}), fields, paths_of, {})
    assert unplanned == frozenset(), "a path not planned for this write is not reported"
    # An empty text counts as empty as None does; a write with neither loses nothing.
    blank = dict(fields, industry="", phone="+1")
    references = {"customer": Entity.CUSTOMER}
    assert unrepresentable(flat, frozenset(flat), blank, paths_of, references) == {"industry"}
    full = dict(blank, industry="Widgets", **{"associations.company": "c1"})
    assert unrepresentable(flat, frozenset(flat), full, paths_of, {}) == frozenset()


_NATIVE_VALUES = st.one_of(
    st.none(), st.just(""), st.text(max_size=3), st.integers(-1, 1), st.booleans(),
    st.just([]), st.just([1]), st.decimals(allow_nan=False, places=1, max_value=1, min_value=-1),
)  # fmt: skip


@settings(max_examples=300)
@given(data=st.data())
def test_unrepresentable_finds_exactly_the_planned_paths_written_empty(data: Any):
    """Held to the rule itself on any values: a planned path whose native field came out None
    or "" while its canonical value was not empty (None, "", []), and that is no reference or
    the lines. False values that are not empty (0, False, [], Decimal 0) lose nothing."""
    paths = ["name", "industry", "customer", "lines", "phone", "owner"]
    natives = {"name": "n", "industry": "i", "customer": "c", "lines": "l", "phone": "p"}
    natives["owner"] = "p"  # two paths written to one field
    flat = {path: data.draw(_NATIVE_VALUES) for path in paths}
    fields = {native: data.draw(_NATIVE_VALUES) for native in set(natives.values())}
    planned = frozenset(data.draw(st.sets(st.sampled_from(paths))))
    references = {"customer": Entity.CUSTOMER}
    paths_of = paths_by_native(paths, natives.get)
    expected = {
        path
        for path in planned
        if fields[natives[path]] is None or fields[natives[path]] == ""
        if path not in references and path != "lines"
        if flat[path] not in (None, "", [])
    }
    assert unrepresentable(flat, planned, fields, paths_of, references) == expected


def test_a_first_write_or_read_snapshots_exactly_what_went_through():
    incoming = {"a": 1, "b": None, "c": [{"number": 1}]}
    first = merged_snapshot(None, incoming, {"a", "c"})
    assert first == {"a": 1, "c": [{"number": 1}]}
    refused = merged_snapshot({}, incoming, {"a"}, {"b"})
    assert refused == {"a": 1, UNWRITTEN + "b": None}
    observed = observed_snapshot(None, incoming)
    assert observed == incoming and observed is not incoming  # the caller's dict stays its own


def test_a_create_plans_every_path_the_target_writes_whatever_the_owner():
    plan = plan_write(
        {"name": "A", "credit_limit": "5", "email": None, "history.x": "1"},
        target_paths=frozenset({"name", "credit_limit", "email"}),
        snapshot=None,
        bound=False,
        source_names={"crm"},
        owner_of=lambda path: "erp",
        source_is_newer=False,
    )
    assert plan == WritePlan(frozenset({"name", "credit_limit", "email"}), True)


def test_new_keys_are_version_7_uuids_random_within_a_millisecond(monkeypatch):
    monkeypatch.setattr(prepare.time, "time_ns", lambda: 1_765_000_000_123_456_789)
    keys = {new_key() for _ in range(100)} | set(new_keys(100)) | set(new_keys(0))
    assert len(keys) == 200
    for key in keys:
        parsed = uuid.UUID(hex=key)
        assert (parsed.version, parsed.variant, parsed.hex) == (7, uuid.RFC_4122, key)
        assert parsed.int >> 80 == 1_765_000_000_123  # the first 48 bits: Unix milliseconds


def test_keys_made_later_sort_after_keys_made_earlier(monkeypatch):
    """So a page's new bindings land together in the store's key index (not timed: the clock
    is set)."""
    clock = iter([1_765_000_000_000_000_000, 1_765_000_000_001_000_000])
    monkeypatch.setattr(prepare.time, "time_ns", lambda: next(clock))
    earlier, later = new_keys(500), new_keys(500)
    assert max(earlier) < min(later)


def _plan_path_by_path(
    incoming, *, target_paths, snapshot, source_names, owner_of, newer, source_snapshot
):
    """The update rules of `plan_write`, spelled out path by path with no shortcut: the
    specification its one-pass filter must keep to."""
    paths, withheld = set(), set()
    for path in incoming.keys() & target_paths:
        value, owner = incoming[path], owner_of(path)
        if owner is not None and owner not in source_names:
            continue
        if owner is None and not newer:
            continue
        unowned_echo = (
            owner is None
            and source_snapshot is not None
            and snapshot is not None
            and path in snapshot
            and same_value(path, source_snapshot.get(path, "?missing"), value)
        )
        if unowned_echo:
            continue
        if snapshot is not None and (
            (path in snapshot and same_value(path, snapshot[path], value))
            or (UNWRITTEN + path in snapshot and snapshot[UNWRITTEN + path] == value)
        ):
            continue
        if value in (None, "", []) and (
            source_snapshot is None or source_snapshot.get(path) in (None, "", [])
        ):
            if snapshot is not None and snapshot.get(path) not in (None, "", []):
                withheld.add(path)
            continue
        paths.add(path)
    return WritePlan(frozenset(paths), False, frozenset(withheld))


@given(
    incoming=_FLATS,
    snapshot=st.none() | _FLATS.map(lambda flat: {**flat, UNWRITTEN + "owner": "a"}) | _FLATS,
    source_snapshot=st.none() | _FLATS,
    owners=st.dictionaries(st.sampled_from(_PATHS), st.sampled_from(["crm", "erp"])),
    newer=st.booleans(),
)
def test_an_update_is_planned_as_the_rules_say_path_by_path(
    incoming, snapshot, source_snapshot, owners, newer
):
    """`plan_write` drops the paths equal to the snapshot in one pass before the rules: the
    same plan as deciding every path by the rules alone."""
    rules = {
        "target_paths": set(_PATHS) - {"phone"},
        "snapshot": snapshot,
        "source_names": {"crm"},
        "owner_of": owners.get,
    }
    plan = plan_write(
        incoming, bound=True, source_is_newer=newer, source_snapshot=source_snapshot, **rules
    )
    assert plan == _plan_path_by_path(
        incoming, newer=newer, source_snapshot=source_snapshot, **rules
    )


# -- plan_write against the rule written plainly ------------------------------------------------


@given(
    incoming=_FLATS,
    snapshot=st.none() | _FLATS,
    unwritten=st.dictionaries(st.sampled_from(_PATHS), _VALUES, max_size=2),
    source_snapshot=st.none() | _FLATS,
    owners=st.dictionaries(st.sampled_from(_PATHS), st.sampled_from(["crm", "erp"])),
    bound=st.booleans(),
    newer=st.booleans(),
    targets=st.sampled_from(["frozenset", "set", "all"]),
)
def test_plan_write_decides_as_the_rule_written_plainly(
    incoming, snapshot, unwritten, source_snapshot, owners, bound, newer, targets
):
    """Its shortcuts (the mapper's frozenset intersected once on a create, plans made as tuples,
    the common comparisons written out) change no plan."""
    if snapshot is not None:
        snapshot = {**snapshot, **{UNWRITTEN + path: value for path, value in unwritten.items()}}
    paths = set(_PATHS) - {"phone"} if targets != "all" else set(_PATHS)
    arguments = dict(
        target_paths=frozenset(paths) if targets == "frozenset" else paths,
        snapshot=snapshot,
        bound=bound,
        source_names={"crm"},
        owner_of=owners.get,
        source_is_newer=newer,
        source_snapshot=source_snapshot,
    )
    plan = plan_write(incoming, **arguments)
    if bound:
        del arguments["bound"]
        arguments["newer"] = arguments.pop("source_is_newer")
        assert plan == _plan_path_by_path(incoming, **arguments)
    else:  # a create: everything the target's mapping writes, no snapshot, no owner
        assert plan == WritePlan(frozenset(incoming.keys() & paths), True)
    assert type(plan) is WritePlan and type(plan.paths) is frozenset
    assert type(plan.withheld) is frozenset
