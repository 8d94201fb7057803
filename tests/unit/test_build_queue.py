"""The build queue: which waiting build starts, and its place."""

from __future__ import annotations

from goimage.core import build_queue
from goimage.core.build_queue import Decision, Waiting

A = Waiting("a", "2026-01-01T00:00:01Z")
B = Waiting("b", "2026-01-01T00:00:02Z")
C = Waiting("c", "2026-01-01T00:00:03Z")


def test_oldest_first() -> None:
    assert build_queue.decide(A, [B, C], running=0, limit=1) == Decision(True, 1, 3)
    assert build_queue.decide(B, [A, C], running=0, limit=1) == Decision(False, 2, 3)
    assert build_queue.decide(C, [A, B], running=0, limit=2) == Decision(False, 3, 3)


def test_running_builds_take_slots() -> None:
    assert build_queue.decide(A, [], running=1, limit=1) == Decision(False, 1, 1)
    assert build_queue.decide(B, [A], running=1, limit=3) == Decision(True, 2, 2)


def test_same_time_by_name_and_self_counted_once() -> None:
    twin = Waiting("a2", A.since)
    assert build_queue.decide(twin, [A, twin], running=0, limit=1) == Decision(False, 2, 2)


def test_queued_status() -> None:
    queued = {
        "queuedSince": A.since,
        "conditions": [{"type": "Ready", "status": "False", "reason": "Queued"}],
    }
    assert build_queue.is_queued(queued)
    assert not build_queue.is_queued({"conditions": queued["conditions"]})
    assert not build_queue.is_queued(
        {"queuedSince": A.since, "conditions": [{"type": "Ready", "reason": "Pending"}]}
    )


def test_running_counts_unfinished_jobs() -> None:
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    active = {"status": {"active": 1}}
    assert build_queue.running([done, failed, active, {}]) == 2
