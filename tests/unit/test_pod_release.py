"""When a finished build's pod is deleted (core.pod_release), and that deleting it changes
no status (core.status_update): the records stay, the pod's disk goes."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.unit import factories
from tests.unit.test_status import (
    COMPILE_TAIL,
    LATER,
    NOW,
    T_DONE,
    job_complete,
    job_failed,
    job_running,
    make_pod,
    pod_build_failed,
    pod_succeeded,
    running,
    waiting,
)

from goimage.config import load_settings
from goimage.core import naming, pod_release, status, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.handlers.pod_release import PodReleases

BACKOFF_FAILED = "Job has reached the specified backoff limit"
JOB_UID = "6a1f0f1e-2f0c-4b0e-8a52-0d4b9d3c1a77"
POD_UID = "9d0c4b1e-1111-4c2a-9e0f-5a6b7c8d9e0f"
RETENTION = timedelta(minutes=5)
FINISHED = datetime(2025, 11, 20, 10, 2, 33, tzinfo=UTC)  # T_DONE: the report step's end


def owned(pod: dict[str, Any], job_uid: str = JOB_UID) -> dict[str, Any]:
    """The pod as the Job controller makes it: controlled by the Job."""
    pod = copy.deepcopy(pod)
    pod["metadata"]["uid"] = POD_UID
    pod["metadata"]["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "gitback-3", "uid": job_uid,
         "controller": True, "blockOwnerDeletion": True},
    ]  # fmt: skip
    return pod


def owner(generation: int = 3) -> dict[str, Any]:
    return {
        "metadata": {
            "name": factories.NAME,
            "namespace": factories.NAMESPACE,
            "uid": factories.UID,
            "generation": generation,
        }
    }


def recorded(job: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The status as written from `job` and `pod`."""
    return apply_merge_patch({}, status.status_from_build(job=job, pod=pod, previous={}, now=NOW))


def decide(
    pod: dict[str, Any],
    job: dict[str, Any],
    status_: dict[str, Any],
    *,
    now: datetime,
    build_owner: dict[str, Any] | None = None,
    retention: timedelta = RETENTION,
) -> pod_release.Release:
    return pod_release.decide(
        pod=pod,
        job=job,
        owner=owner() if build_owner is None else build_owner,
        status=status_,
        jobs=[job],
        retention=retention,
        now=now,
    )


def test_a_recorded_success_goes_once_the_retention_has_passed() -> None:
    job, pod = job_complete(), owned(pod_succeeded())
    known = recorded(job, pod)
    assert known["phase"] == "Succeeded"
    before = decide(pod, job, known, now=FINISHED + timedelta(minutes=1))
    assert before == pod_release.Release(delete=False, at=FINISHED + RETENTION)
    after = decide(pod, job, known, now=FINISHED + RETENTION)
    assert after == pod_release.Release(delete=True, at=FINISHED + RETENTION)


def test_a_recorded_failure_goes_too() -> None:
    job = job_failed("BackoffLimitExceeded", BACKOFF_FAILED)
    pod = owned(pod_build_failed(COMPILE_TAIL))
    known = recorded(job, pod)
    assert known["phase"] == "Failed"
    assert decide(pod, job, known, now=FINISHED + timedelta(hours=1)).delete


def test_retention_zero_is_at_once() -> None:
    job, pod = job_complete(), owned(pod_succeeded())
    release = decide(pod, job, recorded(job, pod), now=FINISHED, retention=timedelta(0))
    assert release.delete


def test_a_result_not_yet_recorded_keeps_the_pod() -> None:
    job, pod = job_complete(), owned(pod_succeeded())
    building = recorded(job_running(), owned(make_pod("Pending", running(), waiting("x"))))
    assert building["phase"] == "Building"
    assert decide(pod, job, building, now=FINISHED + timedelta(days=1)) == pod_release.KEEP
    # The status names another Job (the build before): not this one's result.
    other = recorded(job, pod) | {"jobName": "gitback-2"}
    assert decide(pod, job, other, now=FINISHED + timedelta(days=1)) == pod_release.KEEP


def test_a_running_pod_or_job_is_never_deleted() -> None:
    job = job_running()
    pod = owned(make_pod("Pending", running(), waiting("PodInitializing")))
    known = recorded(job, pod)
    later = FINISHED + timedelta(days=1)
    assert decide(pod, job, known, now=later) == pod_release.KEEP
    # A finished pod whose Job has not counted it yet waits for the Job.
    done = owned(pod_succeeded())
    assert decide(done, job, recorded(job_complete(), done), now=later) == pod_release.KEEP
    # Superseded (history) does not make a running pod deletable either.
    assert decide(pod, job, {}, now=later, build_owner=owner(generation=4)) == pod_release.KEEP


def test_a_pod_not_ours_is_never_deleted() -> None:
    job, pod = job_complete(), owned(pod_succeeded())
    known = recorded(job, pod)
    later = FINISHED + timedelta(days=1)
    # Its controller is another Job.
    stranger = owned(pod_succeeded(), job_uid="another-job")
    assert decide(stranger, job, known, now=later) == pod_release.KEEP
    # No controller at all (a pod that copies a build's labels).
    orphan = copy.deepcopy(pod)
    del orphan["metadata"]["ownerReferences"]
    assert decide(orphan, job, known, now=later) == pod_release.KEEP
    # The Job is not controlled by the GoImageBuild its labels name.
    foreign_job = copy.deepcopy(job)
    foreign_job["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    assert decide(pod, foreign_job, known, now=later) == pod_release.KEEP


def test_a_build_no_longer_current_goes_without_its_result_on_record() -> None:
    # Superseded by generation 4: this build's pod never reaches the status.
    job, pod = job_complete(), owned(pod_succeeded())
    newer = {"jobName": "gitback-4", "phase": "Building", "buildId": "4"}
    later = FINISHED + RETENTION
    assert decide(pod, job, newer, now=later, build_owner=owner(generation=4)).delete
    # The GoImageBuild gone (its children go with it): nothing to keep either.
    release = pod_release.decide(
        pod=pod, job=job, owner=None, status={}, jobs=[job], retention=RETENTION, now=later
    )
    assert release.delete


def test_a_pod_already_being_deleted_is_left_alone() -> None:
    job, pod = job_complete(), owned(pod_succeeded())
    pod["metadata"]["deletionTimestamp"] = LATER
    assert decide(pod, job, recorded(job, pod), now=FINISHED + RETENTION) == pod_release.KEEP


def test_finished_at_is_the_last_container_end() -> None:
    assert pod_release.finished_at(pod_succeeded()) == FINISHED
    # A pod that failed before any container ran: its conditions' last change.
    pod = make_pod("Failed", None, None)
    assert pod_release.finished_at(pod) == datetime(2025, 11, 20, 10, 0, 1, tzinfo=UTC)
    assert T_DONE.startswith("2025-11-20T10:02:33")


def test_deleting_a_finished_pod_never_rewrites_its_status() -> None:
    """The operator's own delete: the pod is first seen with a deletionTimestamp, then gone;
    neither changes the result read while it lived (no BuildPodDeleted, no ResultLost)."""
    for job, pod in (
        (job_complete(), owned(pod_succeeded())),
        (job_failed("BackoffLimitExceeded", BACKOFF_FAILED), owned(pod_build_failed(COMPILE_TAIL))),
    ):
        known = recorded(job, pod)
        going = copy.deepcopy(pod)
        going["metadata"]["deletionTimestamp"] = LATER
        going["metadata"]["deletionGracePeriodSeconds"] = 30
        assert status_update.status_update(job=job, pod=going, known=known, now=LATER) is None
        assert status_update.status_update(job=job, pod=None, known=known, now=LATER) is None


def test_a_pod_deleted_while_it_runs_is_still_told() -> None:
    # The guard holds only for a result on record: a running build's deleted pod is news.
    job = job_running()
    pod = owned(make_pod("Pending", running(), waiting("PodInitializing")))
    known = recorded(job, pod)
    pod["metadata"]["deletionTimestamp"] = LATER
    patch = status_update.status_update(job=job, pod=pod, known=known, now=LATER)
    assert patch is not None
    assert patch["failure"]["reason"] == "BuildPodDeleted"


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ("5m", 300.0), ("90s", 90.0), ("1h30m", 5400.0)]
)
def test_retention_values(value: str, seconds: float) -> None:
    assert pod_release.retention_seconds(value) == seconds


@pytest.mark.parametrize("value", ["5", "five minutes", "-1m", "5d"])
def test_retention_refuses_what_is_no_duration(value: str) -> None:
    with pytest.raises(ValueError, match="GOIMAGE_FINISHED_POD_RETENTION"):
        pod_release.retention_seconds(value)


def test_the_setting_from_the_environment() -> None:
    assert load_settings({}).finished_pod_retention == "5m"
    assert load_settings({"GOIMAGE_FINISHED_POD_RETENTION": "0"}).finished_pod_retention == "0"
    assert load_settings({"GOIMAGE_FINISHED_POD_RETENTION": "2s"}).finished_pod_retention == "2s"
    with pytest.raises(ValueError, match="GOIMAGE_FINISHED_POD_RETENTION"):
        load_settings({"GOIMAGE_FINISHED_POD_RETENTION": "soon"})


def test_the_failure_hint_tells_the_retention() -> None:
    job = job_failed("BackoffLimitExceeded", BACKOFF_FAILED)
    pod = owned(pod_build_failed(COMPILE_TAIL))
    message = status.status_from_build(job=job, pod=pod, previous={}, now=NOW, retention="1h")[
        "failure"
    ]["message"]
    assert message.endswith(
        'More: kubectl gib logs -n team-a gitback --build 3, step "build" '
        "(the build's pod, and its log, is kept for 1h after the build ends)"
    )
    assert naming.LABEL_BUILD_ID not in message


# --- handlers.pod_release.PodReleases: one delete per pod ----------------------------------


def run_releases(steps: Any) -> list[str]:
    """Drive a PodReleases on a real event loop: `steps(releases, calls)` schedules; the
    names of the releases that ran, in order."""
    calls: list[str] = []

    async def main() -> None:
        releases = PodReleases(asyncio.get_running_loop())
        await steps(releases, calls)
        await asyncio.sleep(0.2)

    asyncio.run(main())
    return calls


def release_named(calls: list[str], name: str, deleted: bool = True) -> Any:
    def release() -> bool:
        calls.append(name)
        return deleted

    return release


def test_a_pod_judged_twice_is_deleted_once_with_its_newest_view() -> None:
    async def steps(releases: Any, calls: list[str]) -> None:
        releases.schedule("pod-1", 0.05, release_named(calls, "from the job event"))
        releases.schedule("pod-1", 0.05, release_named(calls, "from the pod event"))
        await asyncio.sleep(0.1)
        releases.schedule("pod-1", 0, release_named(calls, "while deleting"))

    assert run_releases(steps) == ["from the pod event"]


def test_a_delete_that_failed_lets_the_next_event_try_again() -> None:
    async def steps(releases: Any, calls: list[str]) -> None:
        releases.schedule("pod-1", 0, release_named(calls, "refused", deleted=False))
        await asyncio.sleep(0.1)
        releases.schedule("pod-1", 0, release_named(calls, "again"))

    assert run_releases(steps) == ["refused", "again"]


def test_a_pod_gone_before_its_time_is_not_deleted() -> None:
    async def steps(releases: Any, calls: list[str]) -> None:
        releases.schedule("pod-1", 0.1, release_named(calls, "too late"))
        releases.forget("pod-1")

    assert run_releases(steps) == []
