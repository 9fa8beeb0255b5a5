"""A pull runs the cycle collector rarely and leaves its thresholds as it found them, whatever happens."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sync_service.pull.run import PULL_GC_THRESHOLDS, collecting_rarely


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_the_collector_runs_rarely_during_a_pull_and_as_before_after(thresholds: tuple[int, int, int]) -> None:
    with collecting_rarely():
        assert gc.get_threshold() == PULL_GC_THRESHOLDS
    assert gc.get_threshold() == thresholds


def test_a_pull_that_raises_leaves_the_thresholds_as_they_were(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError, match="the org went away"), collecting_rarely():
        raise RuntimeError("the org went away")
    assert gc.get_threshold() == thresholds


def test_higher_thresholds_set_by_the_process_are_kept() -> None:
    before = gc.get_threshold()
    gc.set_threshold(10**6, 10, 10)
    try:
        with collecting_rarely():
            assert gc.get_threshold() == (10**6, PULL_GC_THRESHOLDS[1], PULL_GC_THRESHOLDS[2])
    finally:
        gc.set_threshold(*before)
