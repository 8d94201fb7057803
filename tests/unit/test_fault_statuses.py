"""Faults a cluster sees every week (issue 13), as the status tells them.

A quota that refuses the build's Job or pod, a finished Job whose pod is gone,
a build pod deleted, evicted or lost with its node, a full disk, a pod the
scheduler cannot place: each ends in a definite status whose reason says what
happened, and whose message says whether a rebuild helps. The objects are the
ones test_status.py builds (the Job of build_kaniko_job, the kubelet's pod).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit import factories
from tests.unit.test_status import (
    COMPILE_TAIL,
    LOGS_HINT,
    NOW,
    POD_NAME,
    from_build,
    job_complete,
    job_failed,
    job_running,
    make_pod,
    pod_build_failed,
    pod_succeeded,
    ready,
    running,
    terminated,
    waiting,
)

from goimage.core import failures, status, status_update
from goimage.core.conditions import Reason

BACKOFF = "Job has reached the specified backoff limit"
QUOTA_WORDS = (
    'pods "gitback-3-x7k2p" is forbidden: exceeded quota: builds, requested: pods=1, '
    "used: pods=1, limited: pods=1"
)
DISK_TAIL = """\
INFO[0030] RUN go build -trimpath -o /out/gitback .
INFO[0031] Taking snapshot of full filesystem...
error building image: error building stage: failed to take snapshot: \
write /kaniko/stages/1/usr/local/go/pkg/tool/linux_amd64/compile: no space left on device
"""


def failed(patch: dict[str, Any], reason: Reason) -> str:
    assert patch["phase"] == "Failed", patch
    assert patch["failure"]["reason"] == str(reason), patch["failure"]
    assert ready(patch)["reason"] == str(reason)
    message: str = patch["failure"]["message"]
    assert len(message) <= failures.MESSAGE_LIMIT
    return message


def killed_pod(**extra_status: Any) -> dict[str, Any]:
    """The build pod whose Kaniko got SIGTERM mid-build (the kubelet killed it)."""
    return make_pod(
        "Failed",
        terminated(143, "Error", COMPILE_TAIL.split("# github")[0]),
        waiting("PodInitializing"),
        **extra_status,
    )


def disruption_target(reason: str, message: str = "") -> list[dict[str, Any]]:
    return [
        {"type": "PodScheduled", "status": "True"},
        {"type": "DisruptionTarget", "status": "True", "reason": reason, "message": message},
    ]


# --- a finished Job without its pod -----------------------------------------------------------


class TestResultLost:
    def test_complete_job_without_a_pod_fails_with_result_lost(self) -> None:
        message = failed(from_build(job_complete(), None), Reason.RESULT_LOST)
        assert message == status.RESULT_LOST
        assert "goimage.dev/rebuild" in message

    def test_failed_job_without_a_pod_says_the_reason_went_with_it(self) -> None:
        message = failed(
            from_build(job_failed("BackoffLimitExceeded", BACKOFF), None), Reason.RESULT_LOST
        )
        assert message.startswith(f"the build failed ({BACKOFF}), but its pod was deleted")

    def test_timeout_without_a_pod_stays_a_timeout(self) -> None:
        job = job_failed("DeadlineExceeded", "Job was active longer than specified deadline")
        failed(from_build(job, None), Reason.TIMEOUT)

    def test_operator_back_after_the_pod_went_resolves_a_building_status(self) -> None:
        building = from_build(
            job_running(), make_pod("Pending", running(), waiting("PodInitializing"))
        )
        patch = status_update.status_update(job=job_complete(), pod=None, known=building, now=NOW)
        assert patch is not None
        failed(patch, Reason.RESULT_LOST)

    def test_a_result_read_while_the_pod_lived_is_kept(self) -> None:
        done = from_build(job_complete(), pod_succeeded())
        assert (
            status_update.status_update(job=job_complete(), pod=None, known=done, now=NOW) is None
        )

    def test_an_older_view_of_the_job_or_pod_does_not_undo_a_result(self) -> None:
        # Job and pod events race across handler threads: a running view read after the
        # result was written must leave it alone.
        done = from_build(job_complete(), pod_succeeded())
        stale_pod = make_pod("Running", running(), waiting("PodInitializing"))
        assert (
            status_update.status_update(job=job_running(), pod=stale_pod, known=done, now=NOW)
            is None
        )

    def test_running_job_without_a_pod_still_waits(self) -> None:
        patch = from_build(job_running(), None)
        assert patch["phase"] == "Pending"
        assert ready(patch)["message"] == status.WAITING_FOR_POD


# --- a pod stopped from outside ---------------------------------------------------------------


class TestDisruptions:
    def test_deleted_pod_is_not_a_build_failure(self) -> None:
        pod = killed_pod()
        pod["metadata"]["deletionTimestamp"] = NOW
        message = failed(
            from_build(job_failed("BackoffLimitExceeded", BACKOFF), pod), Reason.BUILD_POD_DELETED
        )
        assert "deleted while the build ran" in message
        assert "rebuild" in message
        assert "kubectl logs" not in message
        assert "kubectl gib logs" not in message
        assert POD_NAME not in message

    def test_deleted_pod_seen_before_the_job_fails(self) -> None:
        pod = make_pod(
            "Pending",
            terminated(143, "Error", "INFO[0040] RUN go mod download\n"),
            waiting("PodInitializing"),
        )
        pod["metadata"]["deletionTimestamp"] = NOW
        failed(from_build(job_running(), pod), Reason.BUILD_POD_DELETED)

    def test_a_pod_being_deleted_mid_build_fails_at_once(self) -> None:
        pod = make_pod("Pending", running(), waiting("PodInitializing"))
        pod["metadata"]["deletionTimestamp"] = NOW
        failed(from_build(job_running(), pod), Reason.BUILD_POD_DELETED)

    def test_a_succeeded_pod_deleted_afterwards_keeps_its_result(self) -> None:
        pod = pod_succeeded()
        pod["metadata"]["deletionTimestamp"] = NOW
        assert from_build(job_complete(), pod)["phase"] == "Succeeded"

    def test_pod_deleted_at_the_deadline_before_the_job_says_so_is_a_timeout(self) -> None:
        # The Job controller deletes the pod at activeDeadlineSeconds (1800 s after
        # startTime); the pod's event can come before the Job's FailureTarget.
        pod = make_pod("Pending", running(), waiting("PodInitializing"))
        pod["metadata"]["deletionTimestamp"] = "2025-11-20T10:30:31Z"
        pod["metadata"]["deletionGracePeriodSeconds"] = 30
        failed(from_build(job_running(), pod), Reason.TIMEOUT)
        pod["metadata"]["deletionTimestamp"] = "2025-11-20T10:30:30Z"
        failed(from_build(job_running(), pod), Reason.BUILD_POD_DELETED)

    def test_deleted_pod_at_the_deadline_is_a_timeout(self) -> None:
        pod = killed_pod()
        pod["metadata"]["deletionTimestamp"] = NOW
        job = job_failed("DeadlineExceeded", "Job was active longer than specified deadline")
        failed(from_build(job, pod), Reason.TIMEOUT)

    @pytest.mark.parametrize(
        ("cause", "reason", "words"),
        [
            ("EvictionByEvictionAPI", Reason.BUILD_POD_EVICTED, "Eviction API"),
            ("PreemptionByScheduler", Reason.BUILD_POD_EVICTED, "preempted"),
            ("DeletionByTaintManager", Reason.NODE_LOST, "NoExecute"),
            ("DeletionByPodGC", Reason.NODE_LOST, "its node is gone"),
        ],
    )
    def test_disruption_target_says_who(self, cause: str, reason: Reason, words: str) -> None:
        pod = killed_pod(conditions=disruption_target(cause))
        pod["metadata"]["deletionTimestamp"] = NOW
        message = failed(from_build(job_failed("BackoffLimitExceeded", BACKOFF), pod), reason)
        assert words in message
        assert failures.REBUILD in message
        assert "kubectl logs" not in message
        assert "kubectl gib logs" not in message

    def test_evicted_for_node_memory(self) -> None:
        words = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi."
        pod = killed_pod(
            reason="Evicted",
            message=words,
            conditions=disruption_target("TerminationByKubelet", words),
        )
        message = failed(from_build(job_running(), pod), Reason.BUILD_POD_EVICTED)
        assert message.startswith("the build pod was evicted: its node ran low on memory")
        assert "requests.memory" in message
        assert failures.REBUILD in message

    def test_evicted_for_node_disk(self) -> None:
        words = (
            "The node was low on resource: ephemeral-storage. "
            "Threshold quantity: 1Gi, available: 512Mi."
        )
        pod = killed_pod(reason="Evicted", message=words)
        message = failed(from_build(job_running(), pod), Reason.BUILD_POD_EVICTED)
        assert "ran low on disk" in message
        assert "requests.ephemeral-storage" in message

    def test_evicted_over_its_own_disk_limit_is_out_of_disk(self) -> None:
        words = 'Container build exceeded its local ephemeral storage limit "20Gi". '
        pod = killed_pod(reason="Evicted", message=words)
        message = failed(from_build(job_running(), pod), Reason.OUT_OF_DISK)
        assert "limits.ephemeral-storage" in message

    def test_node_shutdown_loses_the_pod(self) -> None:
        words = "Pod was terminated in response to imminent node shutdown."
        pod = killed_pod(
            reason="Terminated",
            message=words,
            conditions=disruption_target("TerminationByKubelet", words),
        )
        message = failed(from_build(job_running(), pod), Reason.NODE_LOST)
        assert "node shutdown" in message

    def test_node_lost_reason(self) -> None:
        pod = killed_pod(
            reason="NodeLost", message="Node worker-3 which was running pod is unresponsive"
        )
        message = failed(from_build(job_running(), pod), Reason.NODE_LOST)
        assert "unresponsive" in message

    def test_a_compile_failure_stays_build_failed(self) -> None:
        pod = pod_build_failed(COMPILE_TAIL)
        message = failed(
            from_build(job_failed("BackoffLimitExceeded", BACKOFF), pod), Reason.BUILD_FAILED
        )
        assert LOGS_HINT in message


# --- a full disk --------------------------------------------------------------------------------


class TestOutOfDisk:
    def test_no_space_left_reads_as_such_and_leads(self) -> None:
        pod = pod_build_failed(DISK_TAIL)
        message = failed(
            from_build(job_failed("BackoffLimitExceeded", BACKOFF), pod), Reason.OUT_OF_DISK
        )
        first, second = message.splitlines()[:2]
        assert first.endswith("no space left on device")
        assert second.startswith("the build ran out of disk space")
        assert "requests.ephemeral-storage" in message
        assert message.endswith(LOGS_HINT)
        assert "INFO[" not in message

    def test_a_very_long_disk_line_is_cut(self) -> None:
        tail = "x" * 3000 + ": no space left on device\n"
        result = failures.disk_full(tail, hint="More: here")
        assert result.reason is Reason.OUT_OF_DISK
        assert len(result.message) <= failures.MESSAGE_LIMIT
        assert result.message.endswith("More: here")

    def test_no_space_in_the_report_step(self) -> None:
        pod = make_pod(
            "Failed",
            terminated(0, "Completed"),
            terminated(1, "Error", "report: write /goimage/out/x: No space left on device\n"),
        )
        failed(from_build(job_failed("BackoffLimitExceeded", BACKOFF), pod), Reason.OUT_OF_DISK)


class TestErrorLeads:
    def test_kaniko_info_lines_are_dropped(self) -> None:
        message = failed(
            from_build(job_failed("BackoffLimitExceeded", BACKOFF), pod_build_failed(COMPILE_TAIL)),
            Reason.BUILD_FAILED,
        )
        assert message.startswith("# github.com/flarexes/gitback\n./main.go:14:2")

    def test_only_info_lines_are_kept_rather_than_nothing(self) -> None:
        assert failures.summarize("INFO[0001] RUN go build\n") == "INFO[0001] RUN go build"


# --- waiting: for the scheduler, for quota ----------------------------------------------------


class TestWaiting:
    def test_unschedulable_pod_says_the_schedulers_words(self) -> None:
        pod = make_pod("Pending", None, None)
        pod["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient ephemeral-storage.",
            }
        ]
        patch = from_build(job_running(), pod)
        assert patch["phase"] == "Pending"
        assert ready(patch)["message"] == (
            "waiting to be scheduled: 0/1 nodes are available: 1 Insufficient ephemeral-storage."
        )

    def test_scheduled_pod_not_started_yet(self) -> None:
        patch = from_build(job_running(), make_pod("Pending", None, None))
        assert ready(patch)["message"] == "the build pod is starting"

    def test_pod_refused_by_quota(self) -> None:
        patch = status.status_from_build(
            job=job_running(), pod=None, previous={}, now=NOW, pod_refused=QUOTA_WORDS
        )
        assert patch["phase"] == "Pending"
        assert ready(patch)["reason"] == "WaitingForQuota"
        assert ready(patch)["status"] == "False"
        assert QUOTA_WORDS in ready(patch)["message"]
        assert status.waits_for_pod(patch)
        assert not status.waits_for_quota(patch)

    def test_a_pod_made_after_all_wins_over_the_refusal(self) -> None:
        pod = make_pod("Pending", running(), waiting("PodInitializing"))
        patch = status.status_from_build(
            job=job_running(), pod=pod, previous={}, now=NOW, pod_refused=QUOTA_WORDS
        )
        assert patch["phase"] == "Building"

    def test_job_refused_by_quota(self) -> None:
        words = (
            'jobs.batch "gitback-3" is forbidden: exceeded quota: jobs, requested: '
            "count/jobs.batch=1, used: count/jobs.batch=1, limited: count/jobs.batch=1"
        )
        patch = status.status_for_quota(
            factories.plan(), refused=f"Job: {words}", previous={}, now=NOW
        )
        assert patch["phase"] == "Pending"
        assert patch["jobName"] is None
        assert ready(patch)["reason"] == "WaitingForQuota"
        assert ready(patch)["status"] == "False"
        assert ready(patch)["message"] == (
            f"build 3 is waiting for quota: the API server refused its Job: {words}; "
            "it starts by itself once the quota allows"
        )
        assert status.waits_for_quota(patch)
        assert not status.waits_for_pod(patch)

    def test_waits_for_pod_only_while_pending_without_a_pod(self) -> None:
        assert status.waits_for_pod(from_build(job_running(), None))
        assert not status.waits_for_pod(from_build(job_running(), make_pod("Pending", None, None)))
        assert not status.waits_for_pod(from_build(job_complete(), pod_succeeded()))
        assert not status.waits_for_pod({})
