"""The kubelet's part, played by the tests: write a build pod's status as a kubelet would.

The integration tier and the benchmarks have no node, so the Job controller's
pods stay unscheduled until a test (or the benchmark) writes their status
through the pods/status subresource, with the container states and
termination messages a kubelet would report. Everything downstream is real:
the Job controller reads these pods and finishes the Job, and the operator
derives the GoImageBuild's status from both.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testkit.kubectl import Kubectl

BUILD = "build"
REPORT = "report"
NOW = "2026-01-01T00:00:00Z"
INITIALIZING = {"waiting": {"reason": "PodInitializing"}}


def pod_of(kubectl: Kubectl, namespace: str, job: str, timeout: float = 60) -> dict[str, Any]:
    """The pod the Job controller made for `job` (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = json.loads(
            kubectl(
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                f"batch.kubernetes.io/job-name={job}",
                "-o",
                "json",
            ).stdout
        )["items"]
        if pods:
            return pods[0]  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"the Job controller made no pod for job {namespace}/{job} in {timeout}s")


def _status(name: str, image: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": f"{image}@sha256:{'0' * 64}",
        "ready": False,
        "restartCount": 0,
        "state": state,
    }


def _terminated(code: int, message: str = "", reason: str = "") -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "message": message,
            "startedAt": NOW,
            "finishedAt": NOW,
        }
    }


def _write(kubectl: Kubectl, pod: dict[str, Any], status: dict[str, Any]) -> None:
    meta = pod["metadata"]
    kubectl(
        "patch", "pod", meta["name"], "-n", meta["namespace"], "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip


def _images(pod: dict[str, Any]) -> tuple[str, str]:
    spec = pod["spec"]
    return spec["initContainers"][0]["image"], spec["containers"][0]["image"]


def start_build(kubectl: Kubectl, pod: dict[str, Any]) -> None:
    """Kaniko is running."""
    kaniko, reporter = _images(pod)
    _write(kubectl, pod, {
        "phase": "Pending",
        "startTime": NOW,
        "initContainerStatuses": [_status(BUILD, kaniko, {"running": {"startedAt": NOW}})],
        "containerStatuses": [_status(REPORT, reporter, INITIALIZING)],
    })  # fmt: skip


def succeeded_status(
    pod: dict[str, Any], *, repository: str, digest: str, size: int
) -> dict[str, Any]:
    """The pod status of a build whose Kaniko pushed and whose report step wrote its
    termination message (the benchmarks write it too)."""
    kaniko, reporter = _images(pod)
    message = json.dumps({"digest": digest, "size": size, "image": f"{repository}@{digest}"})
    return {
        "phase": "Succeeded",
        "startTime": NOW,
        "initContainerStatuses": [_status(BUILD, kaniko, _terminated(0))],
        "containerStatuses": [_status(REPORT, reporter, _terminated(0, message))],
    }


def succeed(
    kubectl: Kubectl, pod: dict[str, Any], *, repository: str, digest: str, size: int
) -> None:
    """Kaniko pushed and the report step wrote its termination message."""
    _write(kubectl, pod, succeeded_status(pod, repository=repository, digest=digest, size=size))


def fail_build(kubectl: Kubectl, pod: dict[str, Any], *, log_tail: str, reason: str = "") -> None:
    """Kaniko exited non-zero; the kubelet put its log's tail in the termination message."""
    kaniko, reporter = _images(pod)
    _write(kubectl, pod, {
        "phase": "Failed",
        "startTime": NOW,
        "initContainerStatuses": [_status(BUILD, kaniko, _terminated(1, log_tail, reason))],
        "containerStatuses": [_status(REPORT, reporter, INITIALIZING)],
    })  # fmt: skip


def unschedulable(kubectl: Kubectl, pod: dict[str, Any], message: str) -> None:
    """The scheduler found no node for the pod (it writes PodScheduled False, Unschedulable)."""
    _write(kubectl, pod, {
        "phase": "Pending",
        "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastTransitionTime": NOW, "lastProbeTime": None,
        }],
    })  # fmt: skip


def evict(kubectl: Kubectl, pod: dict[str, Any], *, message: str) -> None:
    """The kubelet's node-pressure eviction: Kaniko killed, the pod Failed with reason Evicted,
    its DisruptionTarget condition TerminationByKubelet (as the kubelet writes them)."""
    kaniko, reporter = _images(pod)
    _write(kubectl, pod, {
        "phase": "Failed",
        "reason": "Evicted",
        "message": message,
        "startTime": NOW,
        "conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
            "message": message, "lastTransitionTime": NOW,
        }],
        "initContainerStatuses": [_status(BUILD, kaniko, _terminated(137, "", "Error"))],
        "containerStatuses": [_status(REPORT, reporter, INITIALIZING)],
    })  # fmt: skip


def delete(kubectl: Kubectl, pod: dict[str, Any]) -> None:
    """Someone deletes the build pod (a person, a cleanup tool); does not wait for it to go."""
    meta = pod["metadata"]
    kubectl("delete", "pod", meta["name"], "-n", meta["namespace"], "--wait=false")


def evict_through_api(kubectl: Kubectl, pod: dict[str, Any]) -> None:
    """A drain's eviction (the real Eviction API: the API server adds the DisruptionTarget
    condition, EvictionByEvictionAPI, and deletes the pod)."""
    meta = pod["metadata"]
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/eviction"
    kubectl("create", "--raw", path, "-f", "-", input=json.dumps(eviction))


def bind(kubectl: Kubectl, pod: dict[str, Any], node: str) -> None:
    """The scheduler's part: bind the pod to `node` (the pods/binding subresource)."""
    meta = pod["metadata"]
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding"
    kubectl("create", "--raw", path, "-f", "-", input=json.dumps(binding))
