"""status: a build's Job and Pod, as the Job controller and the kubelet write them, to status.

The Job and Pod here are shaped like the API server's objects: the Job is the
one build_kaniko_job makes, with the status the Job controller adds; the Pod
has the init container `build` (Kaniko) and the container `report`, with the
states, exit codes, reasons and termination messages the kubelet reports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from tests.unit import factories
from tests.unit.factories import IMAGE

from goimage.core import failures, kaniko_job, naming, results, status
from goimage.core.conditions import Reason
from goimage.core.merge_patch import apply_merge_patch
from goimage.core.settings import Settings

T_CREATE = "2025-11-20T10:00:00Z"
T_START = "2025-11-20T10:00:01Z"
T_BUILD = "2025-11-20T10:00:09Z"
T_PUSHED = "2025-11-20T10:02:30Z"
T_DONE = "2025-11-20T10:02:33Z"
NOW = "2025-11-20T10:02:40Z"
LATER = "2025-11-20T10:09:00Z"

POD_NAME = "gitback-3-x7k2p"
# Where a failure sends the user for the whole log: the build, not its pod (which goes).
LOGS_HINT = (
    'More: kubectl gib logs -n team-a gitback --build 3, step "build" '
    "(the build's pod, and its log, is kept for 5m after the build ends)"
)
DIGEST = "sha256:4f1c9a0e3b2d5c6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
SIZE = 8123456
KANIKO = Settings().kaniko_image
REPORTER = Settings().reporter_image

COMPILE_TAIL = """\
INFO[0009] Retrieving image manifest golang:1.26
INFO[0011] Unpacking rootfs as cmd COPY go.mod go.sum* ./ requires it.
INFO[0041] RUN go mod download
INFO[0052] Taking snapshot of full filesystem...
INFO[0058] COPY . .
INFO[0058] RUN go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/gitback .
# github.com/flarexes/gitback
./main.go:14:2: undefined: fmt.Printn
error building image: error building stage: failed to execute command: \
waiting for process to exit: exit status 1
"""
SOURCE_TAIL = """\
Enumerating objects: 143, done.
error resolving source context: failed to clone repository: authentication required
"""
PUSH_TAIL = """\
INFO[0142] Pushing image to registry.example.com/team/gitback:latest
error pushing image: failed to push to destination registry.example.com/team/gitback:latest: \
PUT https://registry.example.com/v2/team/gitback/manifests/latest: \
UNAUTHORIZED: authentication required
"""


# --- the objects ----------------------------------------------------------------------------


def make_job(values: dict[str, Any] | None = None, **job_status: Any) -> dict[str, Any]:
    """The Job of build 3 as the API server returns it, with the given `.status`."""
    job = kaniko_job.build_kaniko_job(factories.plan(values), Settings())
    job["metadata"].update(
        uid="6a1f0f1e-2f0c-4b0e-8a52-0d4b9d3c1a77",
        creationTimestamp=T_CREATE,
        generation=1,
        resourceVersion="4242",
    )
    job["status"] = job_status
    return job


def job_running(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_job(values, startTime=T_START, active=1, ready=0, terminating=0)


def job_complete(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_job(
        values,
        startTime=T_START,
        completionTime=T_DONE,
        succeeded=1,
        ready=0,
        terminating=0,
        uncountedTerminatedPods={},
        conditions=[
            job_condition("SuccessCriteriaMet", "CompletionsReached", ""),
            job_condition("Complete", "CompletionsReached", ""),
        ],
    )


def job_failed(reason: str, message: str) -> dict[str, Any]:
    return make_job(
        startTime=T_START,
        failed=1,
        ready=0,
        terminating=0,
        uncountedTerminatedPods={},
        conditions=[
            job_condition("FailureTarget", reason, message),
            job_condition("Failed", reason, message),
        ],
    )


def job_condition(type_: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": T_DONE,
        "lastTransitionTime": T_DONE,
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message:
        state["message"] = message
    return {"waiting": state}


def running(since: str = T_BUILD) -> dict[str, Any]:
    return {"running": {"startedAt": since}}


def terminated(
    code: int, reason: str, message: str = "", finished: str = T_PUSHED
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": code,
        "reason": reason,
        "startedAt": T_BUILD,
        "finishedAt": finished,
        "containerID": "containerd://" + "c" * 64,
    }
    if message:
        state["message"] = message
    return {"terminated": state}


def container_status(name: str, image: str, state: dict[str, Any]) -> dict[str, Any]:
    done = "terminated" in state
    return {
        "name": name,
        "image": image,
        "imageID": "" if "waiting" in state else f"{image.split(':')[0]}@sha256:{'e' * 64}",
        "state": state,
        "lastState": {},
        "ready": done and state["terminated"]["exitCode"] == 0 if name == "build" else False,
        "restartCount": 0,
        "started": "running" in state,
    }


def make_pod(
    phase: str,
    build: dict[str, Any] | None,
    report: dict[str, Any] | None,
    **extra_status: Any,
) -> dict[str, Any]:
    """The build pod as the kubelet reports it; None for a container it has not reported yet."""
    labels = factories.plan().labels | {
        "batch.kubernetes.io/job-name": "gitback-3",
        "job-name": "gitback-3",
        "batch.kubernetes.io/controller-uid": "6a1f0f1e-2f0c-4b0e-8a52-0d4b9d3c1a77",
    }
    pod_status: dict[str, Any] = {
        "phase": phase,
        "hostIP": "10.0.0.12",
        "podIP": "10.244.1.17",
        "qosClass": "Burstable",
        "startTime": T_START,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": T_START},
        ],
    }
    if build is not None:
        pod_status["initContainerStatuses"] = [container_status("build", KANIKO, build)]
    if report is not None:
        pod_status["containerStatuses"] = [container_status("report", REPORTER, report)]
    pod_status.update(extra_status)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": POD_NAME,
            "namespace": "team-a",
            "labels": labels,
            "creationTimestamp": T_START,
        },
        "status": pod_status,
    }


def report_message(size: int = SIZE) -> str:
    return results.BuildResult(DIGEST, size).to_message(IMAGE)


def pod_succeeded(size: int = SIZE) -> dict[str, Any]:
    return make_pod(
        "Succeeded",
        terminated(0, "Completed"),
        terminated(0, "Completed", report_message(size), finished=T_DONE),
    )


def pod_build_failed(tail: str, *, code: int = 1, reason: str = "Error") -> dict[str, Any]:
    return make_pod("Failed", terminated(code, reason, tail), waiting("PodInitializing"))


def ready(patch: Mapping[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in patch["conditions"] if c["type"] == "Ready"]
    return condition  # type: ignore[no-any-return]


def conditions(patch: Mapping[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in patch["conditions"]}


def from_build(
    job: dict[str, Any],
    pod: dict[str, Any] | None,
    previous: Mapping[str, Any] | None = None,
    now: str = NOW,
) -> dict[str, Any]:
    return status.status_from_build(job=job, pod=pod, previous=previous or {}, now=now)


# --- where a build stands ---------------------------------------------------------------------


class TestPending:
    def test_no_pod_yet(self) -> None:
        patch = from_build(job_running(), None)
        assert patch["phase"] == "Pending"
        assert ready(patch)["status"] == "False"
        assert ready(patch)["reason"] == "Pending"
        assert conditions(patch) == {"Ready": "False", "Reconciling": "True", "Stalled": "False"}
        assert patch["completionTime"] is None
        assert patch["jobName"] == "gitback-3"

    def test_unscheduled_pod(self) -> None:
        pod = make_pod("Pending", None, None)
        pod["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory.",
            }
        ]
        patch = from_build(job_running(), pod)
        assert patch["phase"] == "Pending"
        # Issue 13: the scheduler's words, not "the build pod is starting".
        assert ready(patch)["message"] == (
            "waiting to be scheduled: 0/3 nodes are available: 3 Insufficient memory."
        )
        assert ready(patch)["reason"] == "Pending"

    def test_pod_initializing(self) -> None:
        pod = make_pod("Pending", waiting("PodInitializing"), waiting("PodInitializing"))
        assert from_build(job_running(), pod)["phase"] == "Pending"

    @pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "InvalidImageName"])
    def test_image_pull_backoff_shows_in_the_message(self, reason: str) -> None:
        pull = f'Back-off pulling image "{KANIKO}"'
        pod = make_pod("Pending", waiting(reason, pull), waiting("PodInitializing"))
        patch = from_build(job_running(), pod)
        assert patch["phase"] == "Pending"
        message = ready(patch)["message"]
        assert reason in message
        assert KANIKO in message
        assert message.startswith("build step cannot start")
        reconciling = next(c for c in patch["conditions"] if c["type"] == "Reconciling")
        assert reconciling["message"] == message

    def test_missing_config_shows_in_the_message(self) -> None:
        pod = make_pod(
            "Pending",
            waiting("CreateContainerConfigError", 'secret "git-auth" not found'),
            waiting("PodInitializing"),
        )
        assert 'secret "git-auth" not found' in ready(from_build(job_running(), pod))["message"]


class TestBuilding:
    def test_kaniko_running(self) -> None:
        pod = make_pod("Pending", running(), waiting("PodInitializing"))
        patch = from_build(job_running(), pod)
        assert patch["phase"] == "Building"
        assert ready(patch)["reason"] == "Building"
        assert conditions(patch) == {"Ready": "False", "Reconciling": "True", "Stalled": "False"}
        assert patch["startTime"] == T_START
        assert patch["digest"] is None

    def test_report_running_after_kaniko(self) -> None:
        pod = make_pod("Running", terminated(0, "Completed"), running(T_PUSHED))
        assert from_build(job_running(), pod)["phase"] == "Building"

    def test_report_image_pull_backoff_after_kaniko_is_shown(self) -> None:
        pull = f'Back-off pulling image "{REPORTER}"'
        pod = make_pod("Pending", terminated(0, "Completed"), waiting("ImagePullBackOff", pull))
        patch = from_build(job_running(), pod)
        assert patch["phase"] == "Building"
        assert "report step cannot start: ImagePullBackOff" in ready(patch)["message"]
        assert REPORTER in ready(patch)["message"]


class TestSucceeded:
    def test_digest_image_size_and_ready(self) -> None:
        patch = from_build(job_complete(), pod_succeeded())
        assert patch["phase"] == "Succeeded"
        assert patch["observedGeneration"] == 3
        assert patch["buildId"] == "3"
        assert patch["jobName"] == patch["configMapName"] == "gitback-3"
        assert patch["digest"] == DIGEST
        assert patch["image"] == f"{IMAGE}@{DIGEST}"
        assert patch["size"] == SIZE
        assert patch["sizeHuman"] == "7.7 MiB"
        assert patch["tags"] == ["latest"]
        assert patch["startTime"] == T_START
        assert patch["completionTime"] == T_DONE
        assert patch["failure"] is None
        assert conditions(patch) == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
        assert ready(patch)["reason"] == "Succeeded"
        assert ready(patch)["observedGeneration"] == 3
        assert ready(patch)["lastTransitionTime"] == NOW
        assert f"{IMAGE}@{DIGEST}" in ready(patch)["message"]

    def test_last_successful(self) -> None:
        patch = from_build(job_complete(), pod_succeeded())
        assert patch["lastSuccessful"] == {
            "image": f"{IMAGE}@{DIGEST}",
            "digest": DIGEST,
            "size": SIZE,
            "sizeHuman": "7.7 MiB",
            "generation": 3,
            "completionTime": T_DONE,
        }

    def test_before_the_job_controller_marks_it_complete(self) -> None:
        patch = from_build(job_running(), pod_succeeded())
        assert patch["phase"] == "Succeeded"
        assert patch["completionTime"] == NOW

    def test_tags_from_the_job(self) -> None:
        job = job_complete({"output.tags": ["v1.2.3", "latest"]})
        assert from_build(job, pod_succeeded())["tags"] == ["v1.2.3", "latest"]

    def test_within_budget(self) -> None:
        job = job_complete({"output.maxSize": "30Mi"})
        assert from_build(job, pod_succeeded())["phase"] == "Succeeded"

    def test_exactly_the_budget(self) -> None:
        job = job_complete({"output.maxSize": str(SIZE)})
        assert from_build(job, pod_succeeded())["phase"] == "Succeeded"


class TestImageTooLarge:
    def test_over_max_size_fails_but_shows_the_image(self) -> None:
        job = job_complete({"output.maxSize": "5Mi"})
        patch = from_build(job, pod_succeeded())
        assert patch["phase"] == "Failed"
        assert patch["failure"]["reason"] == "ImageTooLarge"
        assert "7.7 MiB" in patch["failure"]["message"]
        assert "5.0 MiB" in patch["failure"]["message"]
        assert "spec.output.maxSize" in patch["failure"]["message"]
        assert patch["digest"] == DIGEST
        assert patch["image"] == f"{IMAGE}@{DIGEST}"
        assert patch["size"] == SIZE
        assert patch["sizeHuman"] == "7.7 MiB"
        assert conditions(patch) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
        assert ready(patch)["reason"] == "ImageTooLarge"
        assert "lastSuccessful" not in patch

    def test_one_byte_over(self) -> None:
        job = job_complete({"output.maxSize": str(SIZE - 1)})
        assert from_build(job, pod_succeeded())["failure"]["reason"] == "ImageTooLarge"


class TestFailures:
    def assert_failed(self, patch: dict[str, Any], reason: str) -> str:
        assert patch["phase"] == "Failed"
        assert patch["failure"]["reason"] == reason
        assert ready(patch)["status"] == "False"
        assert ready(patch)["reason"] == reason
        assert ready(patch)["message"] == patch["failure"]["message"]
        assert conditions(patch) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
        assert patch["digest"] is None
        assert patch["image"] is None
        assert patch["size"] is None
        assert "lastSuccessful" not in patch
        message: str = patch["failure"]["message"]
        assert len(message) <= failures.MESSAGE_LIMIT
        return message

    def test_source_failed(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        message = self.assert_failed(from_build(job, pod_build_failed(SOURCE_TAIL)), "SourceFailed")
        assert "authentication required" in message
        assert LOGS_HINT in message
        assert POD_NAME not in message

    def test_build_failed_carries_the_compiler_line(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        message = self.assert_failed(from_build(job, pod_build_failed(COMPILE_TAIL)), "BuildFailed")
        assert "./main.go:14:2: undefined: fmt.Printn" in message
        assert "error building image" in message
        assert message.endswith(LOGS_HINT)
        assert "Taking snapshot" not in message

    def test_build_failed_before_the_job_controller_notices(self) -> None:
        # The kubelet reports the pod before the Job controller sets Failed.
        job = make_job(startTime=T_START, active=1)
        self.assert_failed(from_build(job, pod_build_failed(COMPILE_TAIL)), "BuildFailed")
        pod = make_pod("Pending", terminated(1, "Error", COMPILE_TAIL), waiting("PodInitializing"))
        self.assert_failed(from_build(job, pod), "BuildFailed")

    def test_long_log_tail_stays_under_the_limit(self) -> None:
        # FallbackToLogsOnError hands over up to 2048 bytes or 80 lines.
        noise = "".join(f"./pkg/file{n:02d}.go:{n}:1: undefined: thing{n}\n" for n in range(60))
        tail = (noise + COMPILE_TAIL)[-2048:]
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        message = self.assert_failed(from_build(job, pod_build_failed(tail)), "BuildFailed")
        assert "./main.go:14:2: undefined: fmt.Printn" in message
        assert LOGS_HINT in message

    def test_push_failed(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        message = self.assert_failed(from_build(job, pod_build_failed(PUSH_TAIL)), "PushFailed")
        assert "UNAUTHORIZED" in message

    def test_push_permission_failed(self) -> None:
        tail = (
            "error checking push permissions -- make sure you entered the correct tag name, "
            "and that you are authenticated correctly, and try again: checking push permission "
            'for "registry.example.com/team/gitback:latest": POST '
            "https://registry.example.com/v2/team/gitback/blobs/uploads/: DENIED\n"
        )
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        self.assert_failed(from_build(job, pod_build_failed(tail)), "PushFailed")

    def test_report_step_failed(self) -> None:
        pod = make_pod(
            "Failed",
            terminated(0, "Completed"),
            terminated(1, "Error", "report: no OCI layout at /goimage/out/oci: [Errno 2]\n"),
        )
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        message = self.assert_failed(from_build(job, pod), "PushFailed")
        assert "no OCI layout" in message
        assert 'kubectl gib logs -n team-a gitback --build 3, step "report"' in message

    def test_report_wrote_garbage(self) -> None:
        pod = make_pod(
            "Succeeded", terminated(0, "Completed"), terminated(0, "Completed", "not json")
        )
        message = self.assert_failed(from_build(job_complete(), pod), "PushFailed")
        assert "the image was pushed" in message

    def test_out_of_memory(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        pod = pod_build_failed(COMPILE_TAIL, code=137, reason="OOMKilled")
        message = self.assert_failed(from_build(job, pod), "OutOfMemory")
        assert "spec.builder.resources.limits.memory" in message
        assert LOGS_HINT in message
        assert POD_NAME not in message

    def test_timeout_without_a_pod(self) -> None:
        job = job_failed("DeadlineExceeded", "Job was active longer than specified deadline")
        message = self.assert_failed(from_build(job, None), "Timeout")
        assert "spec.builder.timeout" in message
        assert "1800s" in message

    def test_timeout_with_the_killed_pod(self) -> None:
        job = job_failed("DeadlineExceeded", "Job was active longer than specified deadline")
        pod = make_pod(
            "Failed",
            terminated(143, "Error", "INFO[1799] RUN go build\n"),
            waiting("PodInitializing"),
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
        )
        self.assert_failed(from_build(job, pod), "Timeout")

    def test_timeout_of_the_pod_before_the_job(self) -> None:
        pod = make_pod(
            "Failed",
            running(),
            waiting("PodInitializing"),
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
        )
        self.assert_failed(from_build(job_running(), pod), "Timeout")

    def test_evicted_pod(self) -> None:
        pod = make_pod(
            "Failed",
            running(),
            waiting("PodInitializing"),
            reason="Evicted",
            message="The node was low on resource: ephemeral-storage.",
        )
        # Issue 13: an eviction is not the compile's failure.
        message = self.assert_failed(from_build(job_running(), pod), "BuildPodEvicted")
        assert "ephemeral-storage" in message

    def test_failed_job_whose_pod_is_gone(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        # Issue 13: why it failed went with the pod; the status says so.
        message = self.assert_failed(from_build(job, None), "ResultLost")
        assert "backoff limit" in message

    def test_exit_code_without_a_log(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        message = self.assert_failed(from_build(job, pod_build_failed("")), "BuildFailed")
        assert message.startswith("exit code 1\n")
        assert LOGS_HINT in message

    def test_completion_time_from_the_failed_condition(self) -> None:
        job = job_failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        assert from_build(job, pod_build_failed(COMPILE_TAIL))["completionTime"] == T_DONE


# --- the status over time ---------------------------------------------------------------------


class TestOverTime:
    def test_transition_time_kept_while_nothing_changes(self) -> None:
        pod = make_pod("Pending", running(), waiting("PodInitializing"))
        first = from_build(job_running(), pod, now=NOW)
        current = apply_merge_patch({}, first)
        second = from_build(job_running(), pod, previous=current, now=LATER)
        assert second["conditions"] == first["conditions"]
        assert {c["lastTransitionTime"] for c in second["conditions"]} == {NOW}
        assert not status.would_change(second, current)

    def test_applying_the_same_patch_twice_changes_nothing(self) -> None:
        for job, pod in (
            (job_running(), None),
            (job_running(), make_pod("Pending", running(), waiting("PodInitializing"))),
            (job_complete(), pod_succeeded()),
            (job_complete({"output.maxSize": "1Mi"}), pod_succeeded()),
            (
                job_failed("BackoffLimitExceeded", "backoff"),
                pod_build_failed(COMPILE_TAIL),
            ),
            (job_failed("DeadlineExceeded", "deadline"), None),
        ):
            patch = from_build(job, pod)
            current = apply_merge_patch({"phase": "Pending"}, patch)
            assert not status.would_change(patch, current)
            again = from_build(job, pod, previous=current, now=LATER)
            assert again == patch
            assert not status.would_change(again, apply_merge_patch(current, again))

    def test_ready_moves_when_the_build_succeeds(self) -> None:
        building = from_build(job_running(), make_pod("Pending", running(), None), now=NOW)
        current = apply_merge_patch({}, building)
        done = from_build(job_complete(), pod_succeeded(), previous=current, now=LATER)
        assert status.would_change(done, current)
        times = {c["type"]: c["lastTransitionTime"] for c in done["conditions"]}
        assert times == {"Ready": LATER, "Reconciling": LATER, "Stalled": NOW}

    def test_last_successful_survives_a_later_failure(self) -> None:
        current = apply_merge_patch({}, from_build(job_complete(), pod_succeeded()))
        # Generation 4 starts, then fails.
        plan = factories.plan(generation=4)
        new = status.status_for_new_build(plan, previous=current, now=LATER)
        current = apply_merge_patch(current, new)
        assert current["lastSuccessful"]["generation"] == 3
        assert "image" not in current
        assert "digest" not in current
        failed_job = job_failed("BackoffLimitExceeded", "backoff")
        failed_job["metadata"]["labels"][naming.LABEL_GENERATION] = "4"
        failed = from_build(failed_job, pod_build_failed(COMPILE_TAIL), previous=current)
        assert "lastSuccessful" not in failed
        current = apply_merge_patch(current, failed)
        assert current["phase"] == "Failed"
        assert current["observedGeneration"] == 4
        assert current["lastSuccessful"] == {
            "image": f"{IMAGE}@{DIGEST}",
            "digest": DIGEST,
            "size": SIZE,
            "sizeHuman": "7.7 MiB",
            "generation": 3,
            "completionTime": T_DONE,
        }


class TestNewBuild:
    def test_pending_with_the_old_result_cleared(self) -> None:
        previous = apply_merge_patch({}, from_build(job_complete(), pod_succeeded()))
        plan = factories.plan({"output.tags": ["v2", "latest"]}, generation=4)
        patch = status.status_for_new_build(plan, previous=previous, now=LATER)
        assert patch["phase"] == "Pending"
        assert patch["observedGeneration"] == 4
        assert patch["buildId"] == "4"
        assert patch["jobName"] == patch["configMapName"] == "gitback-4"
        assert patch["tags"] == ["v2", "latest"]
        assert patch["startTime"] == LATER
        for key in ("image", "digest", "size", "sizeHuman", "failure", "completionTime"):
            assert patch[key] is None
        assert "lastSuccessful" not in patch
        assert conditions(patch) == {"Ready": "False", "Reconciling": "True", "Stalled": "False"}
        assert ready(patch)["observedGeneration"] == 4
        assert ready(patch)["lastTransitionTime"] == LATER
        applied = apply_merge_patch(previous, patch)
        assert "image" not in applied
        assert "digest" not in applied
        assert applied["lastSuccessful"]["generation"] == 3


class TestInvalidSpec:
    def test_names_the_field(self) -> None:
        patch = status.status_for_invalid_spec(
            generation=5,
            field="spec.runtime.packages",
            message="packages can only be installed on an alpine runtime image",
            previous={},
            now=NOW,
        )
        assert patch["phase"] == "Failed"
        assert patch["observedGeneration"] == 5
        assert patch["failure"] == {
            "reason": "InvalidSpec",
            "message": "spec.runtime.packages: packages can only be installed on an alpine "
            "runtime image",
        }
        assert ready(patch)["reason"] == "InvalidSpec"
        assert ready(patch)["message"].startswith("spec.runtime.packages: ")
        assert conditions(patch) == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
        assert patch["image"] is None

    def test_same_refusal_again_writes_nothing(self) -> None:
        args: dict[str, Any] = {"generation": 5, "field": "spec.go.cgo", "message": "needs libc"}
        first = status.status_for_invalid_spec(previous={}, now=NOW, **args)
        current = apply_merge_patch({}, first)
        again = status.status_for_invalid_spec(previous=current, now=LATER, **args)
        assert again["completionTime"] == NOW
        assert not status.would_change(again, current)

    def test_another_refusal_is_new(self) -> None:
        first = status.status_for_invalid_spec(
            generation=5, field="spec.go.cgo", message="x", previous={}, now=NOW
        )
        other = status.status_for_invalid_spec(
            generation=6,
            field="spec.go.cgo",
            message="x",
            previous=apply_merge_patch({}, first),
            now=LATER,
        )
        assert other["completionTime"] == LATER

    def test_keeps_last_successful(self) -> None:
        previous = apply_merge_patch({}, from_build(job_complete(), pod_succeeded()))
        patch = status.status_for_invalid_spec(
            generation=4, field="spec.output.image", message="bad", previous=previous, now=LATER
        )
        applied = apply_merge_patch(previous, patch)
        assert applied["lastSuccessful"]["digest"] == DIGEST
        assert "digest" not in applied


class TestWouldChange:
    @pytest.mark.parametrize(
        ("patch", "current", "changes"),
        [
            ({}, {"phase": "Failed"}, False),
            ({"phase": "Failed"}, {"phase": "Failed"}, False),
            ({"phase": "Succeeded"}, {"phase": "Failed"}, True),
            ({"image": None}, {}, False),
            ({"image": None}, {"image": "x"}, True),
            ({"tags": ["a"]}, {"tags": ["a"]}, False),
            ({"tags": ["a", "b"]}, {"tags": ["a"]}, True),
            ({"tags": []}, {}, False),
            ({"lastSuccessful": {"size": 1}}, {"lastSuccessful": {"size": 1, "x": 2}}, False),
            ({"lastSuccessful": {"size": 2}}, {"lastSuccessful": {"size": 1}}, True),
            ({"lastSuccessful": {"size": 2}}, {}, True),
            ({"size": 5}, {"size": 5}, False),
            ({"size": 5}, {"size": 6}, True),
        ],
    )
    def test_would_change(
        self, patch: dict[str, Any], current: dict[str, Any], changes: bool
    ) -> None:
        assert status.would_change(patch, current) is changes


def test_status_patch_is_json() -> None:
    # The patch goes to the API server as JSON: nothing in it may need a custom encoder.
    for job, pod in ((job_complete(), pod_succeeded()), (job_running(), None)):
        patch = from_build(job, pod)
        assert json.loads(json.dumps(patch)) == patch


def test_a_pod_killed_at_the_deadline_is_a_timeout_as_soon_as_the_job_knows() -> None:
    # The Job controller sets FailureTarget, then kills the pod; Failed comes last.
    target = {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded"}
    job = {
        "metadata": {"name": "gitback-3", "labels": {}, "annotations": {}},
        "spec": {"activeDeadlineSeconds": 15},
        "status": {"conditions": [target]},
    }
    killed = {
        "metadata": {"name": "gitback-3-x", "namespace": "ns"},
        "status": {
            "phase": "Failed",
            "initContainerStatuses": [
                {"name": "build", "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}
            ],
        },
    }
    seen = status.observe(job, killed)
    assert seen.reason is Reason.TIMEOUT
    assert "spec.builder.timeout (15s)" in seen.message


# --- several platforms ------------------------------------------------------------------------

TWO_PLATFORMS = {"output.platforms": ["linux/amd64", "linux/arm64"]}
INDEX = "sha256:" + "1d" * 32
AMD64 = results.PlatformResult("linux/amd64", "sha256:" + "a" * 64, 7_000_000)
ARM64 = results.PlatformResult("linux/arm64", "sha256:" + "b" * 64, 6_500_000)
STEPS = ("build-linux-amd64", "build-linux-arm64", "publish")


def multi_pod(
    phase: str, init: dict[str, dict[str, Any]], report: dict[str, Any] | None
) -> dict[str, Any]:
    """The multi-platform build pod: `init` maps each reported init container to its state."""
    pod = make_pod(phase, None, report)
    pod["status"]["initContainerStatuses"] = [
        container_status(name, REPORTER if name == "publish" else KANIKO, state)
        for name, state in init.items()
    ]
    return pod


def index_message() -> str:
    return results.index_result(INDEX, (AMD64, ARM64)).to_message(IMAGE)


def all_done() -> dict[str, dict[str, Any]]:
    return {name: terminated(0, "Completed") for name in STEPS}


class TestPlatforms:
    def test_status_from_an_index_result(self) -> None:
        pod = multi_pod("Succeeded", all_done(), terminated(0, "Completed", index_message()))
        patch = from_build(job_complete(TWO_PLATFORMS), pod)
        assert patch["phase"] == "Succeeded"
        assert patch["digest"] == INDEX
        assert patch["image"] == f"{IMAGE}@{INDEX}"
        assert patch["size"] == 7_000_000
        assert patch["sizeHuman"] == "6.7 MiB"
        assert patch["platforms"] == [
            {"platform": "linux/amd64", "digest": AMD64.digest, "size": 7_000_000},
            {"platform": "linux/arm64", "digest": ARM64.digest, "size": 6_500_000},
        ]
        assert patch["lastSuccessful"]["digest"] == INDEX

    def test_one_platform_writes_no_platforms(self) -> None:
        patch = from_build(job_complete(), pod_succeeded())
        assert patch["platforms"] is None

    def test_max_size_holds_for_each_platform(self) -> None:
        pod = multi_pod("Succeeded", all_done(), terminated(0, "Completed", index_message()))
        job = job_complete({**TWO_PLATFORMS, "output.maxSize": "6800000"})
        patch = from_build(job, pod)
        assert patch["failure"]["reason"] == "ImageTooLarge"
        assert "the linux/amd64 image of" in patch["failure"]["message"]
        assert "linux/arm64" not in patch["failure"]["message"]
        # The index stays pushed and shown.
        assert patch["digest"] == INDEX
        assert len(patch["platforms"]) == 2

    def test_within_budget_on_every_platform(self) -> None:
        pod = multi_pod("Succeeded", all_done(), terminated(0, "Completed", index_message()))
        patch = from_build(job_complete({**TWO_PLATFORMS, "output.maxSize": "7000000"}), pod)
        assert patch["phase"] == "Succeeded"

    @pytest.mark.parametrize(
        ("init", "message"),
        [
            pytest.param(
                {"build-linux-amd64": running()},
                "Kaniko is building the image for linux/amd64",
                id="first-platform",
            ),
            pytest.param(
                {"build-linux-amd64": terminated(0, "Completed"), "build-linux-arm64": running()},
                "Kaniko is building the image for linux/arm64",
                id="second-platform",
            ),
            pytest.param(
                {
                    "build-linux-amd64": terminated(0, "Completed"),
                    "build-linux-arm64": terminated(0, "Completed"),
                    "publish": running(),
                },
                "pushing the platform images and the image index, the SBOMs and the provenance",
                id="publish",
            ),
        ],
    )
    def test_building_says_which_step(self, init: dict[str, Any], message: str) -> None:
        patch = from_build(job_running(TWO_PLATFORMS), multi_pod("Pending", init, None))
        assert patch["phase"] == "Building"
        assert ready(patch)["message"] == message

    def test_a_platforms_compile_error_is_build_failed(self) -> None:
        init = {
            "build-linux-amd64": terminated(0, "Completed"),
            "build-linux-arm64": terminated(1, "Error", COMPILE_TAIL),
            "publish": waiting("PodInitializing"),
        }
        patch = from_build(job_running(TWO_PLATFORMS), multi_pod("Failed", init, None))
        assert patch["failure"]["reason"] == "BuildFailed"
        assert "undefined: fmt.Printn" in patch["failure"]["message"]

    def test_publish_failing_is_push_failed(self) -> None:
        init = {
            "build-linux-amd64": terminated(0, "Completed"),
            "build-linux-arm64": terminated(0, "Completed"),
            "publish": terminated(1, "Error", "publish: crane push failed (1): UNAUTHORIZED"),
        }
        patch = from_build(job_running(TWO_PLATFORMS), multi_pod("Failed", init, None))
        assert patch["failure"]["reason"] == "PushFailed"
        assert "UNAUTHORIZED" in patch["failure"]["message"]

    def test_publish_image_that_cannot_be_pulled_is_shown(self) -> None:
        init = {
            "build-linux-amd64": terminated(0, "Completed"),
            "build-linux-arm64": terminated(0, "Completed"),
            "publish": waiting("ImagePullBackOff", "Back-off pulling image"),
        }
        patch = from_build(job_running(TWO_PLATFORMS), multi_pod("Pending", init, None))
        assert "publish step cannot start: ImagePullBackOff" in ready(patch)["message"]

    def test_a_new_build_clears_the_platforms(self) -> None:
        plan = factories.plan(TWO_PLATFORMS)
        patch = status.status_for_new_build(plan, previous={"platforms": [{}]}, now=NOW)
        assert patch["platforms"] is None

    def test_pin_builder_running(self) -> None:
        pod = multi_pod("Pending", {"pin-builder": running()}, None)
        patch = from_build(job_running(TWO_PLATFORMS), pod)
        assert (
            ready(patch)["message"] == "resolving the builder image for the build node's platform"
        )

    def test_no_builder_for_the_node_is_build_failed(self) -> None:
        tail = "pin-builder: no linux/amd64 image of golang:1.26: ... no child with platform"
        init = {"pin-builder": terminated(1, "Error", tail), "build-linux-amd64": waiting("X")}
        patch = from_build(job_running(TWO_PLATFORMS), multi_pod("Failed", init, None))
        assert patch["failure"]["reason"] == "BuildFailed"
        assert "no child with platform" in patch["failure"]["message"]
