"""The integration tier's control plane is a real one.

The operator's integration tests rely on what these check: the binaries are
the pinned release (not v0.0.0), the Job controller turns a Job into a Pod,
and the garbage collector deletes what an owner leaves behind.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from testkit.kubectl import Kubectl

KUBE_GO_MOD = Path(__file__).resolve().parents[2] / "cluster" / "tools" / "kube" / "go.mod"
WAIT_S = 60.0

T = TypeVar("T")


def pinned_kube_version() -> str:
    """The k8s.io/kubernetes version the tool binaries are built from."""
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", KUBE_GO_MOD.read_text(), re.MULTILINE)
    assert match, f"no k8s.io/kubernetes requirement in {KUBE_GO_MOD}"
    return match.group(1)


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while (result := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)
    return result


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return result


def apply(kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create or update ``manifest`` in ``namespace``; return the object as stored."""
    stored: dict[str, Any] = json.loads(
        kubectl(
            "apply", "--namespace", namespace, "-f", "-", "-o", "json", input=json.dumps(manifest)
        ).stdout
    )
    return stored


def test_binaries_report_the_pinned_version(kubectl: Kubectl) -> None:
    versions = json.loads(kubectl("version", "-o", "json").stdout)

    expected = pinned_kube_version()
    major, minor = expected.removeprefix("v").split(".")[:2]
    for side in ("clientVersion", "serverVersion"):
        assert versions[side]["gitVersion"] == expected, side
        assert (versions[side]["major"], versions[side]["minor"]) == (major, minor), side


def test_job_controller_creates_the_pod(kubectl: Kubectl, namespace: str) -> None:
    job = apply(
        kubectl,
        namespace,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "hello"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        # Never pulled: there is no kubelet in this tier.
                        "containers": [{"name": "main", "image": "registry.invalid/hello:1"}],
                    }
                },
            },
        },
    )

    def job_pods() -> list[dict[str, Any]] | None:
        pods: list[dict[str, Any]] = get_json(
            kubectl, "pods", "--namespace", namespace, "-l", "batch.kubernetes.io/job-name=hello"
        )["items"]
        return pods or None

    pods = wait_until("the Job controller to create the Job's Pod", job_pods)
    assert len(pods) == 1
    (owner,) = pods[0]["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", "hello", job["metadata"]["uid"])
    assert owner["controller"] is True


def test_garbage_collector_deletes_dependents(kubectl: Kubectl, namespace: str) -> None:
    owner = apply(
        kubectl,
        namespace,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}},
    )
    apply(
        kubectl,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        },
    )

    kubectl("delete", "configmap", "owner", "--namespace", namespace)

    def dependent_gone() -> bool | None:
        found = kubectl(
            "get",
            "configmap",
            "dependent",
            "--namespace",
            namespace,
            "--ignore-not-found",
            "-o",
            "name",
        ).stdout
        return True if not found.strip() else None

    wait_until("the garbage collector to delete the dependent ConfigMap", dependent_gone)
