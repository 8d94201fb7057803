"""records_from_jobs: a GoImageBuild's Jobs, as the jobs index holds them, to build records.

The Jobs are the ones build_kaniko_job makes, with the metadata the API server
adds and the conditions the Job controller writes; the index keeps their
metadata, spec and status (a Job just created has no status yet).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit import factories

from goimage.core import kaniko_job
from goimage.core.history import BuildRecord, builds_to_remove, records_from_jobs
from goimage.core.settings import Settings


def indexed_job(
    generation: int, created: str | None, conditions: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """Build `generation`'s Job as the index keeps it; no conditions: still running."""
    job = kaniko_job.build_kaniko_job(factories.plan(generation=generation), Settings())
    if created is not None:
        job["metadata"]["creationTimestamp"] = created
    job_status: dict[str, Any] | None = {"active": 1}
    if conditions is not None:
        job_status = {"conditions": conditions}
    return {"metadata": job["metadata"], "spec": job["spec"], "status": job_status}


def condition(type_: str, value: str = "True") -> dict[str, str]:
    return {"type": type_, "status": value, "reason": "x", "message": ""}


def test_a_record_per_job_in_the_order_given() -> None:
    jobs = [
        indexed_job(2, "2025-11-20T10:05:00Z", [condition("Complete")]),
        indexed_job(1, "2025-11-20T10:00:00Z", [condition("Failed")]),
        indexed_job(3, "2025-11-20T10:09:00Z"),
    ]
    assert records_from_jobs(jobs) == [
        BuildRecord(name="gitback-2", created="2025-11-20T10:05:00Z", finished=True),
        BuildRecord(name="gitback-1", created="2025-11-20T10:00:00Z", finished=True),
        BuildRecord(name="gitback-3", created="2025-11-20T10:09:00Z", finished=False),
    ]


def test_no_jobs_no_records() -> None:
    assert records_from_jobs([]) == []


@pytest.mark.parametrize(
    ("conditions", "finished"),
    [
        ([condition("Complete")], True),
        ([condition("Failed")], True),
        ([condition("SuccessCriteriaMet"), condition("Complete")], True),
        # FailureTarget comes before the pod is gone: the Job is not finished yet
        ([condition("FailureTarget")], False),
        ([condition("SuccessCriteriaMet")], False),
        ([condition("Complete", "False"), condition("Failed", "Unknown")], False),
        ([], False),
    ],
)
def test_finished_only_once_the_job_controller_says_so(
    conditions: list[dict[str, str]], finished: bool
) -> None:
    (record,) = records_from_jobs([indexed_job(1, "2025-11-20T10:00:00Z", conditions)])
    assert record.finished is finished


def test_a_job_without_status_or_creation_time_is_running_and_sorts_first() -> None:
    job = indexed_job(1, None)
    job["status"] = None
    (record,) = records_from_jobs([job])
    assert record == BuildRecord(name="gitback-1", created="", finished=False)


def test_records_feed_the_history() -> None:
    done = [condition("Complete")]
    jobs = [
        indexed_job(4, "2025-11-20T10:04:00Z"),
        indexed_job(1, "2025-11-20T10:01:00Z", done),
        indexed_job(3, "2025-11-20T10:03:00Z", done),
        indexed_job(2, "2025-11-20T10:02:00Z", done),
        indexed_job(5, "2025-11-20T10:05:00Z"),
    ]
    removed = builds_to_remove(records_from_jobs(jobs), current="gitback-5", keep=2)
    assert removed == ["gitback-1", "gitback-4"]
