"""What the e2e tests share beyond the test kit: waiting on real pods, one-shot pods,
and examples served from the node's git server."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testkit.examples import copy_example
from testkit.kubectl import Kubectl
from testkit.node import Cluster

BUILD_TIMEOUT_S = 900

# Waiting reasons a container does not get out of by itself here: every image
# is local, so a failed pull is a wrong name, not a slow network.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerError",
        "CreateContainerConfigError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)  # type: ignore[no-any-return]


def describe(kubectl: Kubectl, namespace: str, kind: str, name: str) -> str:
    return kubectl("describe", kind, name, "-n", namespace, check=False).stdout


def stuck_container(pod: Mapping[str, Any]) -> str | None:
    """'container: reason: message' for a container that waits on what will not come."""
    status = pod.get("status", {})
    for entry in (*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])):
        waiting = entry.get("state", {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            return f"{entry['name']}: {waiting['reason']}: {waiting.get('message', '')}"
    return None


def wait_for_pod(
    kubectl: Kubectl, namespace: str, name: str, timeout: float = 120
) -> dict[str, Any]:
    """The pod once it has Succeeded or Failed; fails at once on a stuck container."""
    deadline = time.monotonic() + timeout
    pod: dict[str, Any] = {}
    while time.monotonic() < deadline:
        pod = get_json(kubectl, "pod", name, "-n", namespace)
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return pod
        stuck = stuck_container(pod)
        if stuck:
            raise AssertionError(
                f"pod {namespace}/{name} is stuck: {stuck}\n"
                f"{describe(kubectl, namespace, 'pod', name)}"
            )
        time.sleep(0.5)
    raise AssertionError(
        f"pod {namespace}/{name} did not finish in {timeout}s "
        f"(phase {pod.get('status', {}).get('phase')})\n{describe(kubectl, namespace, 'pod', name)}"
    )


def run_pod(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    image: str,
    command: list[str] | None = None,
    timeout: float = 120,
    service_account_token: bool = False,
) -> tuple[str, str]:
    """Run ``command`` (default: the image's entrypoint) in a one-shot pod: its phase and log."""
    container: dict[str, Any] = {"name": "main", "image": image}
    if command is not None:
        container["command"] = command
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": service_account_token,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    finished = wait_for_pod(kubectl, namespace, name, timeout)
    log = kubectl("logs", "-n", namespace, name).stdout
    return finished["status"]["phase"], log


def publish(cluster: Cluster, tmp: Path, example: str, repo: str, edit: str = "") -> str:
    """Serve examples/<example> (optionally with main.go's `edit` applied) as repo; its commit."""
    source = copy_example(example, tmp / repo, edit)
    _, commit = cluster.publish(source, repo)
    return commit


def settle(
    kubectl: Kubectl,
    namespace: str,
    names: list[str],
    timeout: float = BUILD_TIMEOUT_S,
    *,
    with_job: bool = True,
) -> dict[str, dict[str, Any]]:
    """Each build's status once it is Succeeded or Failed at its current generation (and,
    `with_job`, names the build's Job: a build refused before its Job ends without one)."""
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(done) < len(names):
        for name in names:
            if name in done:
                continue
            body = get_json(kubectl, "goimagebuild", name, "-n", namespace)
            status = body.get("status") or {}
            current = status.get("observedGeneration") == body["metadata"]["generation"]
            finished = status.get("phase") in ("Succeeded", "Failed")
            if current and finished and (status.get("jobName") or not with_job):
                done[name] = status
        time.sleep(2)
    missing = sorted(set(names) - set(done))
    if missing:
        details = kubectl("get", "gib,jobs,pods", "-n", namespace, "-o", "wide", check=False).stdout
        raise AssertionError(f"builds not finished in {timeout}s: {missing}\n{details}")
    return done


def kaniko_log(kubectl: Kubectl, namespace: str, job: str) -> str:
    """The Kaniko step's log of a build's Job."""
    return kubectl("logs", "-n", namespace, f"job/{job}", "-c", "build", check=False).stdout


def manifest_size(cluster: Cluster, reference: str) -> int:
    manifest = json.loads(cluster.crane("manifest", reference))
    return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])


def assert_status_matches_registry(cluster: Cluster, status: Mapping[str, Any]) -> None:
    """A Succeeded status names what the registry serves: digest under every tag, size."""
    assert status["phase"] == "Succeeded", status
    repository = status["image"].split("@")[0]
    for tag in status["tags"]:
        assert cluster.crane("digest", f"{repository}:{tag}") == status["digest"], tag
    assert status["image"] == f"{repository}@{status['digest']}"
    assert status["size"] == manifest_size(cluster, status["image"])
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
