"""The collector is tuned for the length of a run and handed back as it was found."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from connector import gctune


@pytest.fixture(autouse=True)
def own_settings() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gctune._for_good = False
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_run_tunes_the_collector_and_restores_it() -> None:
    frozen_before = gc.get_freeze_count()
    with gctune.fewer_collections():
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == frozen_before


def test_overlapping_runs_restore_only_when_the_last_one_ends() -> None:
    frozen_before = gc.get_freeze_count()
    first = gctune.fewer_collections()
    second = gctune.fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # not in nesting order: routes end when they end
    assert gc.get_threshold() == gctune.THRESHOLDS
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == frozen_before


def test_a_failing_run_restores_too() -> None:
    with pytest.raises(RuntimeError), gctune.fewer_collections():
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_process_tuned_for_good_is_left_alone_by_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    gctune.for_process()
    # The calls, not `gc.get_freeze_count()`: the count falls whenever any thread frees an
    # object frozen with the rest (pytest-xdist's worker has one of its own).
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    with gctune.fewer_collections():
        pass
    assert gc.get_threshold() == gctune.THRESHOLDS
    assert calls == []
