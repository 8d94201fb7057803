"""reconcile.decide: start the current build or not, what to write first, what to remove.

Plans are made from GoImageBuild bodies (factories), Jobs as the jobs index
keeps them (test_build_records' indexed_job).
"""

from __future__ import annotations

from typing import Any

from tests.unit import factories
from tests.unit.test_build_records import condition, indexed_job

from goimage.core import reconcile, status
from goimage.core.plan import BuildPlan

NOW = "2025-11-20T10:30:00Z"
DONE = [condition("Complete")]


def decide(
    plan: BuildPlan,
    jobs: list[dict[str, Any]],
    current: dict[str, Any] | None = None,
    *,
    keep: int = 3,
) -> reconcile.Decision:
    return reconcile.decide(plan, jobs, current_status=current or {}, history_limit=keep, now=NOW)


def test_a_new_resource_starts_its_build_pending_first() -> None:
    plan = factories.plan()
    decision = decide(plan, [])
    assert decision.start
    assert decision.status == status.status_for_new_build(plan, previous={}, now=NOW)
    assert decision.status is not None
    assert decision.status["phase"] == "Pending"
    assert decision.remove == ()


def test_a_build_whose_job_exists_is_not_started_again() -> None:
    plan = factories.plan()  # generation 3: job gitback-3
    decision = decide(plan, [indexed_job(3, "2025-11-20T10:00:00Z")])
    assert not decision.start
    assert decision.status is None
    assert decision.remove == ()


def test_a_status_of_this_build_already_is_not_written_again() -> None:
    # a retry after the status was written but before the Job was made
    plan = factories.plan()
    decision = decide(plan, [], {"buildId": "3", "phase": "Pending"})
    assert decision.start
    assert decision.status is None


def test_a_new_generation_starts_and_stops_the_running_older_build() -> None:
    plan = factories.plan(generation=4)
    jobs = [indexed_job(3, "2025-11-20T10:00:00Z")]  # still running
    decision = decide(plan, jobs, {"buildId": "3", "phase": "Building"})
    assert decision.start
    assert decision.status is not None
    assert decision.status["buildId"] == "4"
    assert decision.remove == ("gitback-3",)


def test_a_rebuild_of_the_same_generation_is_a_new_build() -> None:
    plan = factories.plan(annotations={"goimage.dev/rebuild": "2025-11-20T10:29:00Z"})
    decision = decide(plan, [indexed_job(3, "2025-11-20T10:00:00Z", DONE)], {"buildId": "3"})
    assert decision.start
    assert decision.status is not None
    assert decision.status["buildId"] == plan.build_id != "3"
    assert decision.remove == ()  # the finished build is history


def test_history_beyond_the_limit_is_removed_oldest_first() -> None:
    plan = factories.plan(generation=6)
    jobs = [indexed_job(g, f"2025-11-20T10:0{g}:00Z", DONE) for g in (5, 1, 3, 2, 4)]
    assert decide(plan, jobs, keep=2).remove == ("gitback-1", "gitback-2", "gitback-3")


def test_the_current_build_is_never_removed() -> None:
    plan = factories.plan(generation=2)
    jobs = [indexed_job(2, "2025-11-20T10:02:00Z", DONE), indexed_job(1, "2025-11-20T10:01:00Z")]
    decision = decide(plan, jobs, keep=0)
    assert not decision.start
    assert decision.remove == ("gitback-1",)


def test_a_build_that_waited_for_a_slot_starts_with_a_new_build_status() -> None:
    plan = factories.plan()
    queued = status.status_for_queued(
        plan, position=1, waiting=1, limit=1, policy="p", previous={}, now=NOW
    )
    decision = decide(plan, [], queued)
    assert decision.start
    assert decision.status is not None
    assert decision.status["queuedSince"] is None
    assert decision.status["conditions"][0]["reason"] == "Pending"
