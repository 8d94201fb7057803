"""WrittenStatuses: what the operator last wrote per GoImageBuild, bounded, in write order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from goimage.core.status_cache import DEFAULT_LIMIT, WrittenStatuses

INDEXED = {"buildId": "3", "phase": "Pending"}


def written(build_id: str = "3", phase: str = "Building") -> dict[str, Any]:
    return {"buildId": build_id, "phase": phase}


def test_nothing_written_the_index_tells() -> None:
    cache = WrittenStatuses()
    assert cache.known("uid-a", INDEXED, "3") is INDEXED
    assert len(cache) == 0


def test_the_last_write_of_the_same_build_wins_over_the_index() -> None:
    cache = WrittenStatuses()
    cache.remember("uid-a", written(phase="Building"))
    cache.remember("uid-a", written(phase="Succeeded"))
    assert cache.known("uid-a", INDEXED, "3") == written(phase="Succeeded")
    assert len(cache) == 1


@pytest.mark.parametrize("build_id", ["4", "3-r1", ""])
def test_a_write_of_another_build_says_nothing_of_this_one(build_id: str) -> None:
    # a new generation or a rebuild: the index (which started it) is newer
    cache = WrittenStatuses()
    cache.remember("uid-a", written("3", "Succeeded"))
    indexed = {"buildId": build_id, "phase": "Pending"}
    assert cache.known("uid-a", indexed, build_id) is indexed


def test_a_write_without_build_id_is_never_taken() -> None:
    cache = WrittenStatuses()
    cache.remember("uid-a", {"phase": "Failed"})
    assert cache.known("uid-a", INDEXED, "3") is INDEXED


def test_writes_are_kept_per_uid() -> None:
    cache = WrittenStatuses()
    cache.remember("uid-a", written(phase="Building"))
    cache.remember("uid-b", written(phase="Failed"))
    assert cache.known("uid-a", INDEXED, "3")["phase"] == "Building"
    assert cache.known("uid-b", INDEXED, "3")["phase"] == "Failed"
    assert cache.known("uid-c", INDEXED, "3") is INDEXED


def test_bounded_the_least_recently_written_goes_first() -> None:
    cache = WrittenStatuses(limit=3)
    for uid in ("a", "b", "c"):
        cache.remember(uid, written())
    cache.remember("a", written(phase="Succeeded"))  # a is now the newest write
    cache.remember("d", written())
    assert len(cache) == 3
    assert "b" not in cache
    assert all(uid in cache for uid in ("a", "c", "d"))
    cache.remember("e", written())
    assert "c" not in cache
    assert cache.known("c", INDEXED, "3") is INDEXED
    assert cache.known("a", INDEXED, "3")["phase"] == "Succeeded"


def test_the_default_bound() -> None:
    cache = WrittenStatuses()
    for n in range(DEFAULT_LIMIT + 10):
        cache.remember(f"uid-{n}", written())
    assert len(cache) == DEFAULT_LIMIT
    assert "uid-9" not in cache
    assert f"uid-{DEFAULT_LIMIT + 9}" in cache


@pytest.mark.parametrize(("limit", "stripes"), [(0, 64), (-1, 64), (10, 0)])
def test_limits_must_be_positive(limit: int, stripes: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        WrittenStatuses(limit=limit, stripes=stripes)


def test_ordered_holds_the_uid_until_its_write_is_done() -> None:
    cache = WrittenStatuses()
    entered = threading.Event()

    def second_event() -> None:
        with cache.ordered("uid-a"):
            entered.set()

    with cache.ordered("uid-a"):
        thread = threading.Thread(target=second_event)
        thread.start()
        assert not entered.wait(0.2)
    assert entered.wait(5)
    thread.join(5)


def test_ordered_derivations_lose_no_write() -> None:
    # Each "event" derives from the last write and writes one more step: with
    # the uid held from derive to write, none of the steps is lost.
    cache = WrittenStatuses()
    start = {"buildId": "3", "steps": 0}

    def event() -> None:
        with cache.ordered("uid-a"):
            steps = cache.known("uid-a", start, "3")["steps"]
            time.sleep(0.001)  # the API call between derive and write
            cache.remember("uid-a", {"buildId": "3", "steps": steps + 1})

    threads = [threading.Thread(target=event) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert cache.known("uid-a", start, "3")["steps"] == 20
