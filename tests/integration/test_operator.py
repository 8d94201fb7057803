"""The operator against a real control plane: builds start, finish, fail, move on, and clean up.

etcd, kube-apiserver and kube-controller-manager are real (the Job controller
makes the pods, the garbage collector deletes children); the operator runs as
its own process. Only the kubelet is played by the test (kubelet_standin).
"""

from __future__ import annotations

import json
import time

from testkit import kubelet_standin as kubelet
from testkit.builds import (
    COMMIT,
    DIGEST,
    REPOSITORY,
    apply,
    build,
    condition,
    current_job,
    get,
    items,
    status_of,
    wait_for,
    wait_job_complete,
    wait_phase,
)
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess


def test_apply_creates_configmap_and_job_owned_by_the_build(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)
    owner = get(kubectl, namespace, "goimagebuild", "hello")

    configmap = get(kubectl, namespace, "configmap", job["metadata"]["name"])
    dockerfile = configmap["data"]["Dockerfile"]
    assert "FROM golang:1.26 AS build" in dockerfile
    assert "RUN go mod download" in dockerfile
    assert "-trimpath" in dockerfile
    assert "./cmd/hello" in dockerfile
    assert "FROM gcr.io/distroless/static-debian12:nonroot" in dockerfile

    for child in (job, configmap):
        (ref,) = child["metadata"]["ownerReferences"]
        assert ref["uid"] == owner["metadata"]["uid"]
        assert ref["kind"] == "GoImageBuild"
        assert ref["controller"] is True

    args = job["spec"]["template"]["spec"]["initContainers"][0]["args"]
    # The commit pinned in Kaniko's context, and recorded on the Job.
    assert f"--context=git://git.invalid/team/hello.git#{COMMIT}" in args
    assert not [arg for arg in args if arg.startswith("--git=")]
    assert job["metadata"]["annotations"]["goimage.dev/commit"] == COMMIT
    assert f"--destination={REPOSITORY}:latest" in args
    assert f"--destination={REPOSITORY}:v1" in args
    assert "--reproducible" in args
    assert f"--cache-repo={REPOSITORY}/cache" in args
    assert job["spec"]["activeDeadlineSeconds"] == 1800
    assert job["spec"]["backoffLimit"] == 0

    status = status_of(kubectl, namespace, "hello")
    assert status["phase"] in ("Pending", "Building")
    assert status["observedGeneration"] == owner["metadata"]["generation"]
    assert condition(status, "Ready")["status"] == "False"
    assert condition(status, "Reconciling")["status"] == "True"
    assert len(items(kubectl, namespace, "jobs")) == 1


def test_completed_pod_gives_succeeded_with_digest_and_size(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello", output={"image": REPOSITORY, "maxSize": "30Mi"}))
    job = current_job(kubectl, namespace, "hello", operator)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])

    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, namespace, "hello", "Building", operator)

    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=8_123_456)
    waited = kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s", "goimagebuild/hello",
        check=False,
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr + operator.log()

    status = status_of(kubectl, namespace, "hello")
    generation = get(kubectl, namespace, "goimagebuild", "hello")["metadata"]["generation"]
    assert status["phase"] == "Succeeded"
    assert status["digest"] == DIGEST
    assert status["image"] == f"{REPOSITORY}@{DIGEST}"
    assert status["size"] == 8_123_456
    assert status["sizeHuman"] == "7.7 MiB"
    assert status["tags"] == ["latest"]
    assert status["observedGeneration"] == generation
    ready = condition(status, "Ready")
    assert ready["status"] == "True"
    assert ready["observedGeneration"] == generation
    assert condition(status, "Reconciling")["status"] == "False"
    assert condition(status, "Stalled")["status"] == "False"
    assert status["lastSuccessful"]["digest"] == DIGEST
    assert "failure" not in status
    # The Job controller saw the same pod and finished the Job.
    wait_job_complete(kubectl, namespace, job["metadata"]["name"], operator)
    printed = kubectl("get", "-n", namespace, "gib", "hello").stdout
    assert "Succeeded" in printed
    assert "7.7 MiB" in printed


def test_failed_pod_gives_failed_with_reason_and_compiler_message(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("broken"))
    job = current_job(kubectl, namespace, "broken", operator)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    log_tail = "\n".join(
        [
            "INFO[0012] RUN go build -trimpath -o /out/hello ./cmd/hello",
            "# example.com/hello/cmd/hello",
            "cmd/hello/main.go:7:2: undefined: fmt.Printn",
            "error building image: error building stage: failed to execute command: "
            "waiting for process to exit: exit status 1",
        ]
    )
    kubelet.fail_build(kubectl, pod, log_tail=log_tail)

    status = wait_phase(kubectl, namespace, "broken", "Failed", operator)
    assert status["failure"]["reason"] == "BuildFailed"
    assert "undefined: fmt.Printn" in status["failure"]["message"]
    # The hint names the build, not its pod (which the operator deletes after a while).
    assert status["failure"]["message"].endswith(
        f'More: kubectl gib logs -n {namespace} broken --build 1, step "build" '
        "(the build's pod, and its log, is kept for 1h after the build ends)"
    )
    assert pod["metadata"]["name"] not in status["failure"]["message"]
    ready = condition(status, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "BuildFailed"
    assert condition(status, "Stalled")["status"] == "True"
    assert "lastSuccessful" not in status


def test_source_failure_and_image_too_large(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("nosource"))
    apply(kubectl, namespace, build("toolarge", output={"image": REPOSITORY, "maxSize": "1Mi"}))
    nosource = kubelet.pod_of(
        kubectl,
        namespace,
        current_job(kubectl, namespace, "nosource", operator)["metadata"]["name"],
    )
    toolarge = kubelet.pod_of(
        kubectl,
        namespace,
        current_job(kubectl, namespace, "toolarge", operator)["metadata"]["name"],
    )
    kubelet.fail_build(
        kubectl,
        nosource,
        log_tail="error resolving source context: reference not found",
    )
    kubelet.succeed(kubectl, toolarge, repository=REPOSITORY, digest=DIGEST, size=3 * 1024 * 1024)

    status = wait_phase(kubectl, namespace, "nosource", "Failed", operator)
    assert status["failure"]["reason"] == "SourceFailed"
    assert "reference not found" in status["failure"]["message"]

    status = wait_phase(kubectl, namespace, "toolarge", "Failed", operator)
    assert status["failure"]["reason"] == "ImageTooLarge"
    assert status["digest"] == DIGEST  # the image stays pushed, and shown
    assert status["size"] == 3 * 1024 * 1024
    assert "3.0 MiB" in status["failure"]["message"]
    assert condition(status, "Ready")["status"] == "False"


def test_timeout_from_the_job_controller(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    body = build("slow")
    body["spec"]["builder"] = {"timeout": "3s"}
    apply(kubectl, namespace, body)
    job = current_job(kubectl, namespace, "slow", operator)
    assert job["spec"]["activeDeadlineSeconds"] == 3
    kubelet.start_build(kubectl, kubelet.pod_of(kubectl, namespace, job["metadata"]["name"]))

    status = wait_phase(kubectl, namespace, "slow", "Failed", operator)
    assert status["failure"]["reason"] == "Timeout"
    assert "spec.builder.timeout" in status["failure"]["message"]


def test_spec_change_starts_a_new_build_and_stops_the_old_one(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    first = current_job(kubectl, namespace, "hello", operator)["metadata"]["name"]

    apply(
        kubectl,
        namespace,
        build("hello", go={"package": "./cmd/hello", "ldflags": "-s -w -X main.v=2"}),
    )
    second = wait_for(
        "a new job",
        lambda: (n := status_of(kubectl, namespace, "hello").get("jobName")) != first and n,
        operator,
    )
    assert second.endswith("-2")
    status = status_of(kubectl, namespace, "hello")
    assert status["observedGeneration"] == 2
    assert status["phase"] in ("Pending", "Building")
    wait_for(
        "the old job to be stopped",
        lambda: [j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")] == [second],
        operator,
    )
    # Its ConfigMap goes with it, deleted by the uid its Job recorded (never read).
    wait_for(
        "the old build's ConfigMap to be removed",
        lambda: (
            first not in [c["metadata"]["name"] for c in items(kubectl, namespace, "configmaps")]
        ),
        operator,
    )
    configmap = get(kubectl, namespace, "configmap", second)
    assert "main.v=2" in configmap["data"]["Dockerfile"]


def test_rebuild_annotation_starts_a_new_build_of_the_same_spec(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    first = current_job(kubectl, namespace, "hello", operator)
    kubelet.succeed(
        kubectl,
        kubelet.pod_of(kubectl, namespace, first["metadata"]["name"]),
        repository=REPOSITORY,
        digest=DIGEST,
        size=1000,
    )
    wait_phase(kubectl, namespace, "hello", "Succeeded", operator)
    wait_job_complete(kubectl, namespace, first["metadata"]["name"], operator)

    kubectl("annotate", "-n", namespace, "gib", "hello", "goimage.dev/rebuild=first")
    second = wait_for(
        "the rebuild",
        lambda: (
            (n := status_of(kubectl, namespace, "hello").get("jobName"))
            != first["metadata"]["name"]
            and n
        ),
        operator,
    )
    status = status_of(kubectl, namespace, "hello")
    assert status["observedGeneration"] == 1
    assert "digest" not in status  # cleared for the new build ...
    assert status["lastSuccessful"]["digest"] == DIGEST  # ... but the last success stays
    # The finished first build is history: kept, not stopped.
    names = {j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")}
    assert names == {first["metadata"]["name"], second}


def test_history_is_bounded(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> None:
    apply(kubectl, namespace, build("hello"))
    made = []
    for round_ in range(4):
        job = current_job(kubectl, namespace, "hello", operator)
        made.append(job["metadata"]["name"])
        kubelet.succeed(
            kubectl,
            kubelet.pod_of(kubectl, namespace, job["metadata"]["name"]),
            repository=REPOSITORY,
            digest=DIGEST,
            size=1000,
        )
        wait_job_complete(kubectl, namespace, job["metadata"]["name"], operator)
        kubectl(
            "annotate",
            "--overwrite",
            "-n",
            namespace,
            "gib",
            "hello",
            f"goimage.dev/rebuild=r{round_}",
        )
        wait_for(
            "the next build",
            lambda: status_of(kubectl, namespace, "hello").get("jobName") not in made,
            operator,
        )
    current = status_of(kubectl, namespace, "hello")["jobName"]
    # The current build plus GOIMAGE_HISTORY_LIMIT=2 finished ones.
    expected = {current, *made[-2:]}
    wait_for(
        "history to be pruned",
        lambda: {j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")} == expected,
        operator,
    )
    wait_for(
        "configmaps to be pruned",
        lambda: (
            {c["metadata"]["name"] for c in items(kubectl, namespace, "configmaps")} == expected
        ),
        operator,
    )


def test_restart_mid_build_creates_no_duplicate_and_keeps_status(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    kubelet.start_build(kubectl, pod)
    before = wait_phase(kubectl, namespace, "hello", "Building", operator)

    operator.stop(kill=True)
    try:
        kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=4096)
        time.sleep(1)
        assert status_of(kubectl, namespace, "hello")["phase"] == "Building"  # nobody watching
    finally:
        operator.start()

    status = wait_phase(kubectl, namespace, "hello", "Succeeded", operator)
    assert status["jobName"] == before["jobName"]
    assert status["startTime"] == before["startTime"]
    assert status["digest"] == DIGEST
    assert [j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")] == [before["jobName"]]

    # A second restart, after the fact, changes nothing.
    version = get(kubectl, namespace, "goimagebuild", "hello")["metadata"]["resourceVersion"]
    operator.stop()
    operator.start()
    time.sleep(3)
    assert [j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")] == [before["jobName"]]
    assert (
        get(kubectl, namespace, "goimagebuild", "hello")["metadata"]["resourceVersion"] == version
    )


def test_delete_removes_job_and_configmap_through_the_garbage_collector(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)["metadata"]["name"]
    assert items(kubectl, namespace, "configmaps")

    kubectl("delete", "-n", namespace, "gib", "hello", "--wait=true")
    wait_for(
        "the garbage collector",
        lambda: (
            not items(kubectl, namespace, "jobs") and not items(kubectl, namespace, "configmaps")
        ),
        operator,
    )
    gone = kubectl("get", "-n", namespace, "job", job, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_invalid_spec_the_schema_cannot_see_is_failed_with_the_field(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    body = build("odd")
    # A resource quantity that parses as a quantity but is zero: only the operator refuses it.
    body["spec"]["builder"] = {"resources": {"limits": {"memory": "0"}}}
    apply(kubectl, namespace, body)
    status = wait_phase(kubectl, namespace, "odd", "Failed", operator)
    assert status["failure"]["reason"] == "InvalidSpec"
    assert "spec.builder.resources.limits.memory" in status["failure"]["message"]
    assert condition(status, "Ready")["reason"] == "InvalidSpec"
    assert items(kubectl, namespace, "jobs") == []


def test_events_and_metrics_show_build_transitions(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    apply(kubectl, namespace, build("broken"))
    for name in ("hello", "broken"):
        job = current_job(kubectl, namespace, name, operator)
        pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
        if name == "hello":
            kubelet.succeed(
                kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=5 * 1024 * 1024
            )
        else:
            kubelet.fail_build(kubectl, pod, log_tail="error pushing image: UNAUTHORIZED")
    wait_phase(kubectl, namespace, "hello", "Succeeded", operator)
    assert wait_phase(kubectl, namespace, "broken", "Failed", operator)["failure"]["reason"] == (
        "PushFailed"
    )

    def reasons(name: str) -> set[str]:
        out = kubectl(
            "get", "events", "-n", namespace, "-o", "json",
            "--field-selector", f"involvedObject.kind=GoImageBuild,involvedObject.name={name}",
        ).stdout  # fmt: skip
        return {event["reason"] for event in json.loads(out)["items"]}

    wait_for("events", lambda: {"BuildStarted", "BuildSucceeded"} <= reasons("hello"), operator)
    wait_for("events", lambda: {"BuildStarted", "PushFailed"} <= reasons("broken"), operator)

    scraped = operator.metrics()
    assert f'goimage_builds_started_total{{namespace="{namespace}"}} 2.0' in scraped
    assert f'goimage_builds_succeeded_total{{namespace="{namespace}"}} 1.0' in scraped
    assert (
        f'goimage_builds_failed_total{{namespace="{namespace}",reason="PushFailed"}} 1.0' in scraped
    )
    assert "goimage_image_size_bytes_bucket" in scraped
    assert "goimage_build_duration_seconds_count" in scraped


def test_operator_logs_are_json_without_tracebacks(operator: OperatorProcess) -> None:
    lines = [line for line in operator.full_log().splitlines() if line.strip()]
    assert lines
    errors = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"a log line that is not JSON: {line!r}") from None
        # kopf's own request retries (a CRD just established answers 429 for a
        # moment) are logged as errors and then succeed; anything else is ours.
        retried = "will retry" in record["message"]
        if record.get("severity") in ("error", "critical") and not retried:
            errors.append(line)
    assert not errors
    assert "Traceback" not in operator.full_log()
