"""Faults a cluster sees every week, against a real control plane (issue 13).

The API server's ResourceQuota admission, the Job controller, the Eviction API
and the taint-eviction controller are real; the kubelet's part (a pod that
runs, is evicted for disk, cannot be scheduled) is played by kubelet_standin.
Each fault ends in a definite status whose reason says what happened.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from testkit import kubelet_standin as kubelet
from testkit.builds import (
    DIGEST,
    REPOSITORY,
    apply,
    build,
    condition,
    current_job,
    items,
    status_of,
    wait_for,
    wait_job_complete,
    wait_phase,
)
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess

# The Job controller retries a refused pod with its own backoff (up to a minute).
POD_QUOTA_WAIT_S = 150


def ready_of(kubectl: Kubectl, namespace: str, name: str) -> dict[str, object]:
    status = status_of(kubectl, namespace, name)
    return condition(status, "Ready") if status.get("conditions") else {}


def set_quota(
    kubectl: Kubectl, namespace: str, hard: dict[str, str], operator: OperatorProcess
) -> None:
    """A ResourceQuota `builds`, applied, and waited for until the quota controller counted it
    (before that, admission refuses with "status unknown for quota")."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "builds", "namespace": namespace},
        "spec": {"hard": hard},
    }
    kubectl("apply", "-f", "-", input=json.dumps(quota))

    def counted() -> bool:
        out = kubectl("get", "resourcequota", "builds", "-n", namespace, "-o", "json").stdout
        status = json.loads(out).get("status") or {}
        return bool(status.get("hard") == hard)

    wait_for(f"quota in {namespace} counted", counted, operator)


def tries_of(operator: OperatorProcess, namespace: str) -> list[float]:
    """When the operator tried to create the build's Job and a quota refused it (its log)."""
    times = []
    for line in operator.full_log().splitlines():
        if line.startswith("{") and "waits for quota" in line and namespace in line:
            stamp = json.loads(line)["timestamp"]
            times.append(datetime.fromisoformat(stamp).timestamp())
    return times


def wait_reason(
    kubectl: Kubectl, namespace: str, name: str, reason: str, operator: OperatorProcess,
    timeout: float = 60,
) -> dict[str, object]:  # fmt: skip
    return wait_for(  # type: ignore[no-any-return]
        f"{name}'s Ready reason {reason}",
        lambda: (ready := ready_of(kubectl, namespace, name)).get("reason") == reason and ready,
        operator,
        timeout,
    )


def succeed_current(
    kubectl: Kubectl, namespace: str, name: str, operator: OperatorProcess, timeout: float = 60
) -> None:
    job = current_job(kubectl, namespace, name, operator)["metadata"]["name"]
    pod = kubelet.pod_of(kubectl, namespace, job, timeout=timeout)
    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=1234)
    status = wait_phase(kubectl, namespace, name, "Succeeded", operator)
    assert status["digest"] == DIGEST


# --- quotas -------------------------------------------------------------------------------------


def building(kubectl: Kubectl, namespace: str, operator: OperatorProcess) -> dict[str, Any]:
    """A build of examples' hello whose Kaniko step runs (as the kubelet would say); its pod."""
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)["metadata"]["name"]
    pod = kubelet.pod_of(kubectl, namespace, job)
    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, namespace, "hello", "Building", operator)
    return pod


def test_job_refused_by_quota_waits_then_starts_by_itself(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    set_quota(kubectl, namespace, {"count/jobs.batch": "0"}, operator)
    apply(kubectl, namespace, build("hello"))

    ready = wait_reason(kubectl, namespace, "hello", "WaitingForQuota", operator)
    status = status_of(kubectl, namespace, "hello")
    assert status["phase"] == "Pending"
    assert ready["status"] == "False"
    message = str(ready["message"])
    assert message.startswith("build 1 is waiting for quota: the API server refused its Job: ")
    # The API server's words.
    assert "exceeded quota: builds" in message
    assert "count/jobs.batch" in message
    assert "jobName" not in status
    assert items(kubectl, namespace, "jobs") == []

    # Not a hot loop: tried again after 5 s, then after 10 s (then 20 s, 40 s, 60 s at most).
    tries = wait_for(
        "two retries",
        lambda: len(tries_of(operator, namespace)) >= 3 and tries_of(operator, namespace),
        operator,
        90,
    )
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries[:3])]
    assert gaps[0] >= 4.5, tries
    assert gaps[1] >= gaps[0] + 4, tries

    set_quota(kubectl, namespace, {"count/jobs.batch": "1"}, operator)
    succeed_current(kubectl, namespace, "hello", operator)
    assert len(items(kubectl, namespace, "jobs")) == 1


@pytest.mark.parametrize(
    ("hard", "words"),
    [
        ({"pods": "0"}, "pods=1"),
        ({"requests.memory": "256Mi"}, "requests.memory=512Mi"),
    ],
)
def test_pod_refused_by_quota_says_so_then_starts_by_itself(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, hard: dict[str, str], words: str
) -> None:
    set_quota(kubectl, namespace, hard, operator)
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)

    ready = wait_reason(kubectl, namespace, "hello", "WaitingForQuota", operator)
    message = str(ready["message"])
    assert message.startswith("waiting for quota: the API server refused the build pod: pods ")
    assert "exceeded quota: builds" in message
    assert words in message
    assert status_of(kubectl, namespace, "hello")["jobName"] == job["metadata"]["name"]

    # The quota allows it: the Job controller makes the pod by itself.
    kubectl("delete", "resourcequota", "builds", "-n", namespace)
    succeed_current(kubectl, namespace, "hello", operator, timeout=POD_QUOTA_WAIT_S)


# --- the result, or the pod, gone -------------------------------------------------------------


def test_operator_down_while_the_build_ends_and_its_pod_goes(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    pod = building(kubectl, namespace, operator)

    operator.stop(kill=True)
    try:
        kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=1234)
        job = pod["metadata"]["labels"]["batch.kubernetes.io/job-name"]
        wait_job_complete(kubectl, namespace, job, operator)
        kubectl("delete", "pod", pod["metadata"]["name"], "-n", namespace, "--wait=true")
    finally:
        operator.start()

    status = wait_phase(kubectl, namespace, "hello", "Failed", operator)
    assert status["failure"]["reason"] == "ResultLost"
    assert "pod was deleted before the operator read its result" in status["failure"]["message"]
    assert "goimage.dev/rebuild" in status["failure"]["message"]
    assert condition(status, "Stalled")["status"] == "True"


def test_running_build_pod_deleted(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    pod = building(kubectl, namespace, operator)

    kubelet.delete(kubectl, pod)
    status = wait_phase(kubectl, namespace, "hello", "Failed", operator)
    assert status["failure"]["reason"] == "BuildPodDeleted", status["failure"]
    message = status["failure"]["message"]
    assert "deleted while the build ran" in message
    assert "rebuild" in message
    assert pod["metadata"]["name"] not in message


def test_build_pod_evicted_by_a_drain(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    pod = building(kubectl, namespace, operator)

    kubelet.evict_through_api(kubectl, pod)
    status = wait_phase(kubectl, namespace, "hello", "Failed", operator)
    assert status["failure"]["reason"] == "BuildPodEvicted", status["failure"]
    assert "Eviction API" in status["failure"]["message"]
    assert "kubectl logs" not in status["failure"]["message"]
    assert "kubectl gib logs" not in status["failure"]["message"]


def test_build_pod_evicted_for_the_nodes_disk(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    pod = building(kubectl, namespace, operator)

    kubelet.evict(
        kubectl,
        pod,
        message="The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, "
        "available: 400Mi. Container build was using 9Gi, request is 2Gi, has larger consumption "
        "of ephemeral-storage.",
    )
    status = wait_phase(kubectl, namespace, "hello", "Failed", operator)
    assert status["failure"]["reason"] == "BuildPodEvicted", status["failure"]
    message = status["failure"]["message"]
    assert message.startswith("the build pod was evicted: its node ran low on disk")
    assert "requests.ephemeral-storage" in message


@pytest.fixture
def tainted_node(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """A Node that a NoExecute taint empties at once (as a node found broken would be)."""
    name = f"lost-{namespace}"[:63]
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"taints": [{"key": "goimage.dev/broken", "effect": "NoExecute"}]},
    }
    kubectl("create", "-f", "-", input=json.dumps(node))
    yield name
    kubectl("delete", "node", name, "--wait=false", check=False)


def test_build_pod_lost_with_its_node(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, tainted_node: str
) -> None:
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)["metadata"]["name"]
    pod = kubelet.pod_of(kubectl, namespace, job)
    # The taint-eviction controller deletes a pod bound to the tainted node.
    kubelet.bind(kubectl, pod, tainted_node)

    status = wait_phase(kubectl, namespace, "hello", "Failed", operator)
    assert status["failure"]["reason"] == "NodeLost", status["failure"]
    assert "NoExecute" in status["failure"]["message"]
    assert "rebuild" in status["failure"]["message"]


# --- what the build itself says ---------------------------------------------------------------


def test_disk_full_reads_as_such(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)["metadata"]["name"]
    pod = kubelet.pod_of(kubectl, namespace, job)
    no_space = (
        "error building image: error building stage: failed to get filesystem from image: "
        "write /usr/local/go/pkg/tool/linux_amd64/compile: no space left on device"
    )
    kubelet.fail_build(
        kubectl,
        pod,
        log_tail="\n".join(
            [
                "INFO[0003] Retrieving image manifest golang:1.26",
                "INFO[0004] Unpacking rootfs",
                no_space,
            ]
        ),
    )
    status = wait_phase(kubectl, namespace, "hello", "Failed", operator)
    assert status["failure"]["reason"] == "OutOfDisk"
    message = status["failure"]["message"]
    assert message.splitlines()[0] == no_space
    assert "INFO[" not in message


def test_unschedulable_pod_says_it_waits_for_the_scheduler(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("hello"))
    job = current_job(kubectl, namespace, "hello", operator)["metadata"]["name"]
    pod = kubelet.pod_of(kubectl, namespace, job)
    words = "0/1 nodes are available: 1 Insufficient ephemeral-storage."
    kubelet.unschedulable(kubectl, pod, words)

    wait_for(
        "waiting to be scheduled",
        lambda: (
            ready_of(kubectl, namespace, "hello").get("message")
            == f"waiting to be scheduled: {words}"
        ),
        operator,
    )
    assert status_of(kubectl, namespace, "hello")["phase"] == "Pending"
    # ... and then it runs, and succeeds: a pod that waits for the scheduler does not fail.
    kubelet.start_build(kubectl, pod)
    wait_phase(kubectl, namespace, "hello", "Building", operator)
    succeed_current(kubectl, namespace, "hello", operator)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", status_of(kubectl, namespace, "hello")["digest"])
