"""A run of binds flushed by `BindingTx._flush_binds` ends as its binds one at a time would.

On SQLite a run with no key and no external id twice is written without the savepoint that
undoes a cut-short first pass (`bindings._needs_savepoint`): the second pass then runs over
what the first wrote. Checked here against a model of one bind at a time, over random runs of
moves, swaps through free ids, new keys taking ids freed earlier in the run, conflicts, and
runs that bind a key or an id twice (which keep the savepoint).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from connector.state import schema
from connector.state.store import StateStore, StoreConflict, open_store

KEYS = [f"k{n}" for n in range(4)]
IDS = [f"x{n}" for n in range(5)]


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateStore]:
    folder: Path = tmp_path_factory.mktemp("passes")
    store = open_store(f"sqlite:///{folder / 'state.db'}", folder)
    yield store
    store.close()


def _one_at_a_time(before: dict[str, str], run: list[tuple[str, str]]) -> dict[str, str] | None:
    """The bindings after each bind of `run` in turn, or None if one takes an id another key
    holds at that moment (the store refuses the whole transaction)."""
    state = dict(before)
    for key, external_id in run:
        holder = next((k for k, x in state.items() if x == external_id), None)
        if holder is not None and holder != key:
            return None
        state[key] = external_id
    return state


@st.composite
def _cases(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[str, str]]]:
    bound = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
    ids = draw(st.permutations(IDS))
    before = dict(zip(bound, ids, strict=False))
    # Half the runs with no key and no id twice (the engine's), half with repeats.
    repeats = draw(st.booleans())
    size = draw(st.integers(1, 6 if repeats else len(KEYS)))
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=size, max_size=size, unique=not repeats))
    targets = draw(st.lists(st.sampled_from(IDS), min_size=size, max_size=size, unique=not repeats))
    return before, list(zip(keys, targets, strict=True))


@settings(max_examples=400, deadline=None)
@given(case=_cases(), remote=st.booleans())
def test_a_run_with_no_key_or_id_twice_ends_as_one_bind_at_a_time(
    sqlite_store: StateStore,
    case: tuple[dict[str, str], list[tuple[str, str]]],
    remote: bool,
) -> None:
    store = sqlite_store
    before, run = case
    with store.engine.begin() as conn:
        conn.execute(delete(schema.bindings))
    with store.transaction() as tx:
        for key, external_id in before.items():
            tx.bind("customer", key, "crm", external_id, snapshot={"was": key})
    expected = _one_at_a_time(before, run)
    extra = {"remote_updated_at": dt.datetime(2026, 5, 1, tzinfo=dt.UTC) if remote else None}
    try:
        with store.transaction() as tx:
            for index, (key, external_id) in enumerate(run):
                tx.bind("customer", key, "crm", external_id, snapshot={"now": index}, **extra)
    except StoreConflict:
        assert expected is None
        found = store.bindings_for("customer", "crm", KEYS)
        assert {k: b.external_id for k, b in found.items()} == before
        return
    assert expected is not None
    found = store.bindings_for("customer", "crm", KEYS)
    assert {k: b.external_id for k, b in found.items()} == expected
    last = {key: index for index, (key, _) in enumerate(run)}
    for key, binding in found.items():
        assert binding.snapshot == ({"now": last[key]} if key in last else {"was": key})
