"""status_update: what a Job or Pod event does to the GoImageBuild's status.

The Jobs and Pods are test_status's (shaped as the Job controller and the
kubelet write them); the GoImageBuild is as the goimagebuilds index keeps it:
its metadata and its status. A sequence of events is played as the handler
plays it: derive from the status as last written, write, remember.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit import factories
from tests.unit.test_failures import KANIKO_FULL_LOG, KANIKO_USAGE_TAIL
from tests.unit.test_status import (
    DIGEST,
    LATER,
    NOW,
    job_complete,
    job_failed,
    job_running,
    make_pod,
    pod_build_failed,
    pod_succeeded,
    running,
    waiting,
)

from goimage.core import naming, status, status_update
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.status_update import BuildEvent, Transition

PENDING = {
    "phase": "Pending",
    "buildId": "3",
    "jobName": "gitback-3",
    "conditions": [{"type": "Ready", "status": "False", "reason": "Pending"}],
}


def owner(*, generation: int = 3, rebuild: str = "", **status_: Any) -> dict[str, Any]:
    """The GoImageBuild as the goimagebuilds index keeps it."""
    annotations = {naming.ANNOTATION_REBUILD: rebuild} if rebuild else None
    body = factories.body(generation=generation, annotations=annotations)
    return {"metadata": body["metadata"], "status": status_}


def pod_building() -> dict[str, Any]:
    return make_pod("Running", running(), waiting("PodInitializing"))


def play(events: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """The patches written for `events` (job, pod), each derived from the last write."""
    known: dict[str, Any] = copy.deepcopy(PENDING)
    written = []
    for job, pod in events:
        patch = status_update.status_update(job=job, pod=pod, known=known, now=NOW)
        if patch is not None:
            written.append(patch)
            known = apply_merge_patch(known, patch)
    return written


# --- which pod, which build -------------------------------------------------------------------


def test_newest_is_the_pod_created_last() -> None:
    first, second = make_pod("Failed", None, None), make_pod("Running", None, None)
    first["metadata"]["creationTimestamp"] = "2025-11-20T10:00:01Z"
    second["metadata"]["creationTimestamp"] = "2025-11-20T10:00:07Z"
    assert status_update.newest([second, first]) is second
    assert status_update.newest([first]) is first
    assert status_update.newest([]) is None


def test_the_current_build_is_the_generation_and_the_rebuild_token() -> None:
    assert status_update.current_build_id(owner(generation=3)) == "3"
    rebuilt = status_update.current_build_id(owner(generation=3, rebuild="now"))
    assert rebuilt == naming.build_id(3, "now")
    assert rebuilt != "3"


def test_only_the_current_build_writes_the_status() -> None:
    job = job_running()  # build 3
    assert status_update.runs_current_build(job, owner(generation=3))
    assert not status_update.runs_current_build(job, owner(generation=4))
    assert not status_update.runs_current_build(job, owner(generation=3, rebuild="now"))


# --- whether an event is a write ---------------------------------------------------------------


def test_an_event_that_changes_the_status_is_a_write() -> None:
    patch = status_update.status_update(
        job=job_running(), pod=pod_building(), known=PENDING, now=NOW
    )
    assert patch is not None
    assert patch["phase"] == "Building"
    assert patch == status.status_from_build(
        job=job_running(), pod=pod_building(), previous=PENDING, now=NOW
    )


def test_the_same_event_again_is_no_write() -> None:
    job, pod = job_complete(), pod_succeeded()
    patch = status_update.status_update(job=job, pod=pod, known=PENDING, now=NOW)
    assert patch is not None
    known = apply_merge_patch(PENDING, patch)
    assert status_update.status_update(job=job, pod=pod, known=known, now=LATER) is None


def test_a_build_seen_to_the_end_writes_each_phase_once() -> None:
    job_done, pod_done = job_complete(), pod_succeeded()
    events: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        (
            job_running(),
            make_pod("Pending", waiting("PodInitializing"), waiting("PodInitializing")),
        ),
        (job_running(), pod_building()),
        (job_running(), pod_building()),
        (job_running(), pod_done),
        (job_done, pod_done),
        (job_done, pod_done),
        (job_done, None),  # the pod deleted later (history, a cleanup)
    ]
    assert [patch["phase"] for patch in play(events)] == ["Pending", "Building", "Succeeded"]


def test_a_pod_gone_after_the_build_finished_changes_nothing() -> None:
    known = apply_merge_patch(
        PENDING,
        status.status_from_build(job=job_complete(), pod=pod_succeeded(), previous={}, now=NOW),
    )
    assert known["digest"] == DIGEST
    assert status_update.status_update(job=job_complete(), pod=None, known=known, now=LATER) is None


def test_a_pod_gone_before_a_result_was_read_is_still_derived() -> None:
    # a Job that failed (its pod deleted) while the status still says Pending
    patch = status_update.status_update(
        job=job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        pod=None,
        known=PENDING,
        now=NOW,
    )
    assert patch is not None
    assert patch["phase"] == "Failed"


def test_a_finished_status_of_another_job_does_not_hide_a_missing_pod() -> None:
    known = dict(PENDING, phase="Succeeded", jobName="gitback-2")
    patch = status_update.status_update(job=job_running(), pod=None, known=known, now=NOW)
    assert patch is not None
    assert patch["phase"] == "Pending"
    assert patch["jobName"] == "gitback-3"


# --- the build step's error hidden by Kaniko's usage text ---------------------------------------


def test_a_usage_only_message_hides_the_build_error() -> None:
    hidden = pod_build_failed(KANIKO_USAGE_TAIL)
    assert status_update.hides_build_error(hidden)
    assert not status_update.hides_build_error(pod_build_failed("error building image: x"))
    assert not status_update.hides_build_error(pod_building())
    assert not status_update.hides_build_error(make_pod("Pending", None, None))


def test_the_error_from_the_log_replaces_the_usage_text() -> None:
    hidden = pod_build_failed(KANIKO_USAGE_TAIL)
    before = copy.deepcopy(hidden)
    fixed = status_update.with_build_error(hidden, KANIKO_FULL_LOG)
    assert hidden == before  # the index's pod is not changed
    (build,) = fixed["status"]["initContainerStatuses"]
    message = build["state"]["terminated"]["message"]
    assert "invalid branch: no-such-branch" in message
    assert "executor [flags]" not in message
    patch = status.status_from_build(job=job_running(), pod=fixed, previous=PENDING, now=NOW)
    assert patch["failure"]["reason"] == "SourceFailed"
    assert "invalid branch: no-such-branch" in patch["failure"]["message"]


@pytest.mark.parametrize("log", ["", "Usage:\n  executor [flags]\n", "\n  \n"])
def test_a_log_without_an_error_leaves_the_pod_as_it_is(log: str) -> None:
    hidden = pod_build_failed(KANIKO_USAGE_TAIL)
    assert status_update.with_build_error(hidden, log) is hidden


# --- transitions and their events -----------------------------------------------------------------


def written_patch(job: dict[str, Any], pod: dict[str, Any] | None) -> dict[str, Any]:
    return status.status_from_build(job=job, pod=pod, previous=PENDING, now=NOW)


def test_no_transition_while_the_phase_stays() -> None:
    patch = written_patch(job_running(), make_pod("Pending", None, None))
    assert patch["phase"] == "Pending"
    assert status_update.transition(patch, PENDING) is None


def test_building_is_told_as_a_normal_event() -> None:
    patch = written_patch(job_running(), pod_building())
    assert status_update.transition(patch, PENDING) == Transition(
        build_id="3",
        phase="Building",
        message="Kaniko is building the image",
        event=BuildEvent("Normal", "Building", "Kaniko is building the image"),
    )


def test_success_is_told_with_the_image() -> None:
    patch = written_patch(job_complete(), pod_succeeded())
    change = status_update.transition(patch, {"phase": "Building"})
    assert change is not None
    assert change.phase == "Succeeded"
    assert change.event is not None
    assert change.event.type == "Normal"
    assert change.event.reason == "BuildSucceeded"
    assert DIGEST in change.event.message


def test_failure_is_a_warning_with_the_reason_and_a_bounded_message() -> None:
    tail = "".join(f"./main.go:{n}:2: undefined: fmt.Printn{n}\n" for n in range(200))
    patch = written_patch(job_running(), pod_build_failed(tail + "error building image: exit 1\n"))
    change = status_update.transition(patch, {"phase": "Building"})
    assert change is not None
    assert change.event is not None
    assert change.event.type == "Warning"
    assert change.event.reason == "BuildFailed"
    assert len(change.message) > status_update.EVENT_MESSAGE_LIMIT
    assert change.event.message == change.message[: status_update.EVENT_MESSAGE_LIMIT]


def test_back_to_pending_is_logged_but_no_event() -> None:
    # a new build of the same resource after a finished one
    patch = written_patch(job_running(), None)
    change = status_update.transition(patch, {"phase": "Succeeded"})
    assert change is not None
    assert change.phase == "Pending"
    assert change.event is None
