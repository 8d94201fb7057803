"""builds_to_remove: stop superseded builds, keep a bounded history, never the current one."""

from __future__ import annotations

import pytest

from goimage.core.history import BuildRecord, builds_to_remove


def record(name: str, minute: int, *, finished: bool = True) -> BuildRecord:
    return BuildRecord(name=name, created=f"2025-11-20T10:{minute:02d}:00Z", finished=finished)


def test_nothing_to_remove() -> None:
    assert builds_to_remove([], current="app-1", keep=3) == []
    assert builds_to_remove([record("app-1", 0)], current="app-1", keep=0) == []


def test_running_older_builds_are_stopped_even_within_keep() -> None:
    records = [record("app-1", 0, finished=False), record("app-2", 5, finished=False)]
    assert builds_to_remove(records, current="app-2", keep=3) == ["app-1"]


def test_finished_beyond_keep_removed_oldest_first() -> None:
    records = [record(f"app-{n}", n) for n in (4, 1, 3, 2, 5, 6)]
    assert builds_to_remove(records, current="app-6", keep=2) == ["app-1", "app-2", "app-3"]


def test_current_never_removed_even_if_oldest_or_running() -> None:
    records = [record("app-1", 0, finished=False), record("app-2", 1), record("app-3", 2)]
    assert builds_to_remove(records, current="app-1", keep=0) == ["app-2", "app-3"]


def test_mixed_running_and_finished() -> None:
    records = [
        record("app-1", 1),
        record("app-2", 2, finished=False),
        record("app-3", 3),
        record("app-4", 4),
        record("app-5", 5, finished=False),
    ]
    assert builds_to_remove(records, current="app-5", keep=1) == ["app-1", "app-2", "app-3"]


@pytest.mark.parametrize(("keep", "removed"), [(0, 3), (1, 2), (3, 0), (10, 0), (-1, 3)])
def test_keep_bounds_the_history(keep: int, removed: int) -> None:
    records = [record(f"app-{n}", n) for n in range(1, 5)]
    assert len(builds_to_remove(records, current="app-4", keep=keep)) == removed


def test_ties_on_time_break_by_name() -> None:
    records = [record("app-b", 1), record("app-a", 1), record("app-c", 2)]
    assert builds_to_remove(records, current="app-c", keep=1) == ["app-a"]
