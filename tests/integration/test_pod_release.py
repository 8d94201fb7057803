"""Finished builds' pods deleted once their result is recorded (issue 13: a kept build must
not keep Kaniko's writable layer), against the real API server and Job controller.

The kubelet's part (a pod that runs, succeeds, fails) is played by kubelet_standin, with
the containers' end at the real time, so the retention (2 s here) runs from it. The
Jobs and the statuses stay; a restarted operator rewrites nothing; a running pod and
a pod that is not ours are never deleted.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from testkit import kubelet_standin as kubelet
from testkit.builds import (
    DIGEST,
    REPOSITORY,
    apply,
    build,
    current_job,
    get,
    status_of,
    wait_for,
    wait_job_complete,
    wait_phase,
)
from testkit.control_plane import ControlPlane
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess, operator_env

RETENTION_S = 2
COMPILE_ERROR = (
    "cmd/hello/main.go:7:2: undefined: fmt.Printn\n"
    "error building image: error building stage: failed to execute command: exit status 1"
)


@pytest.fixture(scope="module")
def operator(
    crd: None, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator with finishedPodRetention 2s."""
    env = operator_env(control_plane.env) | {"GOIMAGE_FINISHED_POD_RETENTION": f"{RETENTION_S}s"}
    process = OperatorProcess(
        env=env, log_path=tmp_path_factory.mktemp("operator") / "operator.log"
    )
    process.start()
    yield process
    process.stop()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pods(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    out = kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
    return {p["metadata"]["name"]: p for p in json.loads(out)["items"]}


def _started(kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess) -> Any:
    apply(kubectl, namespace, build(name))
    job = current_job(kubectl, namespace, name, operator)["metadata"]["name"]
    pod = kubelet.pod_of(kubectl, namespace, job)
    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, namespace, name, "Building", operator)
    return job, pod


def _deleted_at(operator: OperatorProcess, namespace: str, pod: str) -> datetime:
    """When the operator's log says it deleted `pod`."""
    for line in operator.full_log().splitlines():
        if line.startswith("{") and "deleted the finished build pod" in line:
            entry = json.loads(line)
            if f"{namespace}/{pod}" in entry["message"]:
                return datetime.fromisoformat(entry["timestamp"])
    raise AssertionError(f"no deletion of {namespace}/{pod} in the log:\n{operator.log()}")


def test_finished_pods_go_after_the_retention_and_the_records_stay(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    good_job, good_pod = _started(kubectl, namespace, "good", operator)
    bad_job, bad_pod = _started(kubectl, namespace, "bad", operator)

    # The stand-in's containers end now (not at its fixed past time).
    ended = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(kubelet, "NOW", _stamp())
    kubelet.succeed(kubectl, good_pod, repository=REPOSITORY, digest=DIGEST, size=1234)
    kubelet.fail_build(kubectl, bad_pod, log_tail=COMPILE_ERROR)

    good = wait_phase(kubectl, namespace, "good", "Succeeded", operator)
    bad = wait_phase(kubectl, namespace, "bad", "Failed", operator)
    assert good["digest"] == DIGEST
    assert bad["failure"]["reason"] == "BuildFailed"
    # The hint names the build, and says how long its pod (with the log) is kept.
    assert bad["failure"]["message"].endswith(
        f'More: kubectl gib logs -n {namespace} bad --build 1, step "build" '
        f"(the build's pod, and its log, is kept for {RETENTION_S}s after the build ends)"
    )
    wait_job_complete(kubectl, namespace, good_job, operator)

    names = {good_pod["metadata"]["name"], bad_pod["metadata"]["name"]}
    wait_for(
        "both finished pods to be deleted",
        lambda: not names & set(_pods(kubectl, namespace)),
        operator,
        timeout=60,
    )
    # Not before the retention had passed since the pod's containers ended.
    deleted = _deleted_at(operator, namespace, good_pod["metadata"]["name"])
    assert (deleted - ended).total_seconds() >= RETENTION_S - 1

    # The records stay: both Jobs, and both statuses as written while the pods lived.
    assert get(kubectl, namespace, "job", good_job)["metadata"]["name"] == good_job
    assert get(kubectl, namespace, "job", bad_job)["metadata"]["name"] == bad_job
    time.sleep(2)  # the pods' deletion events have been handled by now
    assert status_of(kubectl, namespace, "good") == good
    assert status_of(kubectl, namespace, "bad") == bad

    # A restarted operator finds the Jobs without pods, and rewrites nothing.
    before = {n: get(kubectl, namespace, "goimagebuild", n) for n in ("good", "bad")}
    operator.stop()
    operator.start()
    time.sleep(5)
    for name in ("good", "bad"):
        after = get(kubectl, namespace, "goimagebuild", name)
        assert after["status"] == before[name]["status"]
        assert "ResultLost" not in json.dumps(after["status"])
        assert after["metadata"]["resourceVersion"] == before[name]["metadata"]["resourceVersion"]


def test_a_running_pod_and_a_pod_not_ours_are_never_deleted(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, running = _started(kubectl, namespace, "running", operator)
    # A finished pod that copies a build pod's labels (and its owner's uid), but that no
    # Job of ours controls: nobody's build, never the operator's to delete. (Without the
    # Job controller's own labels, which would make the Job adopt it.)
    labels = {
        k: v for k, v in running["metadata"]["labels"].items() if "job-name" not in k and
        "controller-uid" not in k
    }  # fmt: skip
    stranger = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stranger", "labels": labels},
        "spec": copy.deepcopy(running["spec"]),
    }
    for key in ("nodeName",):
        stranger["spec"].pop(key, None)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(stranger))
    made = json.loads(kubectl("get", "pod", "stranger", "-n", namespace, "-o", "json").stdout)
    assert not made["metadata"].get("ownerReferences")
    monkeypatch.setattr(kubelet, "NOW", _stamp())
    kubelet.succeed(kubectl, made, repository=REPOSITORY, digest=DIGEST, size=1)

    time.sleep(RETENTION_S + 6)
    pods = _pods(kubectl, namespace)
    assert running["metadata"]["name"] in pods
    assert not pods[running["metadata"]["name"]]["metadata"].get("deletionTimestamp")
    assert "stranger" in pods
    assert not pods["stranger"]["metadata"].get("deletionTimestamp")
    assert status_of(kubectl, namespace, "running")["phase"] == "Building"


def test_builds_that_end_while_the_operator_is_down_are_recorded_and_their_pods_released(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted operator indexes the first listing's build Jobs and Pods without their
    event handlers: each GoImageBuild's resume (or, for one changed meanwhile, its update)
    writes what they say and releases the finished pods."""
    started = {
        name: _started(kubectl, namespace, name, operator) for name in ("away", "relabelled")
    }

    operator.stop(kill=True)
    try:
        monkeypatch.setattr(kubelet, "NOW", _stamp())
        for job, pod in started.values():
            kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=1234)
            wait_job_complete(kubectl, namespace, job, operator)
        # A change while away: kopf sees an update of this one, not a resume.
        kubectl("label", "goimagebuild", "relabelled", "-n", namespace, "team=a")
    finally:
        operator.start()

    for name in started:
        status = wait_phase(kubectl, namespace, name, "Succeeded", operator)
        assert status["digest"] == DIGEST
        assert status["size"] == 1234
    names = {pod["metadata"]["name"] for _, pod in started.values()}
    wait_for(
        "the pods that finished while the operator was down to be deleted",
        lambda: not names & set(_pods(kubectl, namespace)),
        operator,
        timeout=60,
    )
    for name in started:
        out = kubectl(
            "get", "events", "-n", namespace, "-o", "json",
            "--field-selector", f"involvedObject.kind=GoImageBuild,involvedObject.name={name}",
        ).stdout  # fmt: skip
        reasons = [event["reason"] for event in json.loads(out)["items"]]
        assert reasons.count("BuildSucceeded") == 1, reasons
    assert get(kubectl, namespace, "job", started["away"][0])["status"]["succeeded"] == 1
