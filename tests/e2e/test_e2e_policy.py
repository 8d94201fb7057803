"""GoImageBuildPolicy on the real node: forced placement, the queue, and admission.

The node gets a label and a NoSchedule taint, as a platform's build pool would;
a policy for one namespace forces both onto its build pods and lets one build
run at a time. Both examples must build there, hardened (seccomp RuntimeDefault,
every capability dropped but Kaniko's), one after the other, and a build outside
the policy's registry prefix must be refused by the chart's admission policy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import Cluster
from tests.e2e.e2e_helpers import BUILD_TIMEOUT_S, get_json, manifest_size, publish

from goimage.core.kaniko_job import KANIKO_CAPABILITIES

POOL_LABEL = "builds.goimage.dev/pool"
TAINT_KEY = "builds.goimage.dev/dedicated"
TENANT_LABEL = "goimage.dev/e2e-policy"
POLICY = "e2e-build-pool"
PREFIX = "e2e-policy"


@pytest.fixture(scope="module")
def build_pool(operator: str, cluster: Cluster, kubectl: Kubectl) -> Iterator[str]:
    """The node, labelled and tainted as a dedicated build pool; both removed after."""
    node = cluster.node_name
    kubectl("label", "node", node, f"{POOL_LABEL}=e2e", "--overwrite")
    kubectl("taint", "node", node, f"{TAINT_KEY}=true:NoSchedule", "--overwrite")
    try:
        yield node
    finally:
        kubectl("taint", "node", node, f"{TAINT_KEY}=true:NoSchedule-", check=False)
        kubectl("label", "node", node, f"{POOL_LABEL}-", check=False)


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, kubectl: Kubectl, build_pool: str) -> Iterator[str]:
    """A namespace governed by a policy that forces the build pool and one build at a time."""
    namespace = f"e2e-policy-{int(time.time())}"
    policy = {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuildPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "namespaceSelector": {"matchLabels": {TENANT_LABEL: "true"}},
            "source": {"urlPrefixes": [f"{cluster.git_server}/"]},
            "output": {"imagePrefixes": [f"{cluster.registry}/{PREFIX}/"]},
            "builder": {
                "nodeSelector": {POOL_LABEL: "e2e"},
                "tolerations": [
                    {"key": TAINT_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
                ],
                "maxTimeout": "30m",
            },
            "maxConcurrentBuilds": 1,
        },
    }
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(policy))
    kubectl("create", "namespace", namespace)
    kubectl("label", "namespace", namespace, f"{TENANT_LABEL}=true")
    try:
        yield namespace
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        kubectl("delete", "gibp", POLICY, "--ignore-not-found", check=False)


def pods_of(kubectl: Kubectl, namespace: str, job: str) -> list[dict[str, Any]]:
    selector = f"batch.kubernetes.io/job-name={job}"
    return get_json(kubectl, "pods", "-n", namespace, "-l", selector)["items"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pool_builds(
    cluster: Cluster, kubectl: Kubectl, tenant: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Both examples applied at once in the governed namespace, followed to their end."""
    tmp: Path = tmp_path_factory.mktemp("policy-repos")
    names = {example: f"pool-{example}-{int(time.time())}" for example in ("hello", "uuidgen")}
    for example, name in names.items():
        publish(cluster, tmp, example, name)
        body = example_spec(example, cluster, name, prefix=PREFIX)
        kubectl("apply", "-n", tenant, "-f", "-", input=json.dumps(body))
    seen: dict[str, set[str]] = {name: set() for name in names.values()}
    pods: dict[str, list[dict[str, Any]]] = {}
    running_at_once = 0
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(names) and time.monotonic() < deadline:
        active = 0
        for name in names.values():
            status = get_json(kubectl, "gib", name, "-n", tenant).get("status") or {}
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
            seen[name].add(str(ready.get("reason")))
            if status.get("jobName"):
                found = pods_of(kubectl, tenant, status["jobName"])
                pods[name] = found or pods.get(name, [])
                active += sum(
                    1 for p in found if p["status"].get("phase") in ("Pending", "Running")
                )
            if status.get("phase") in ("Succeeded", "Failed") and status.get("jobName"):
                done[name] = status
        running_at_once = max(running_at_once, active)
        time.sleep(0.5)
    assert len(done) == len(names), kubectl(
        "get", "gib,jobs,pods", "-n", tenant, "-o", "wide"
    ).stdout
    return {"names": names, "status": done, "seen": seen, "pods": pods, "at_once": running_at_once}


def test_both_examples_build_on_the_forced_build_pool(
    cluster: Cluster, pool_builds: dict[str, Any], build_pool: str
) -> None:
    for name in pool_builds["names"].values():
        status = pool_builds["status"][name]
        assert status["phase"] == "Succeeded", status
        assert status["size"] == manifest_size(cluster, status["image"])
        (pod,) = pool_builds["pods"][name]
        spec = pod["spec"]
        assert spec["nodeName"] == build_pool
        assert spec["nodeSelector"] == {POOL_LABEL: "e2e"}
        assert {
            "key": TAINT_KEY,
            "operator": "Equal",
            "value": "true",
            "effect": "NoSchedule",
        } in spec["tolerations"]


def test_build_pods_run_hardened(pool_builds: dict[str, Any]) -> None:
    for name in pool_builds["names"].values():
        (pod,) = pool_builds["pods"][name]
        spec = pod["spec"]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        build = spec["initContainers"][0]["securityContext"]
        assert build["capabilities"] == {"drop": ["ALL"], "add": list(KANIKO_CAPABILITIES)}
        assert build["allowPrivilegeEscalation"] is False
        assert build["privileged"] is False
        resources = spec["initContainers"][0]["resources"]
        assert "ephemeral-storage" in resources["requests"]
        assert "ephemeral-storage" in resources["limits"]


def test_one_build_at_a_time_the_other_queued(pool_builds: dict[str, Any]) -> None:
    assert pool_builds["at_once"] == 1
    queued = [name for name, reasons in pool_builds["seen"].items() if "Queued" in reasons]
    assert len(queued) == 1, pool_builds["seen"]


def test_admission_refuses_a_build_outside_the_policy(
    cluster: Cluster, kubectl: Kubectl, tenant: str
) -> None:
    body = example_spec("hello", cluster, "outside", prefix="elsewhere")
    result = kubectl("apply", "-n", tenant, "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert f'spec.output.image "{cluster.registry}/elsewhere/outside" is not allowed' in (
        result.stderr
    )
    assert f'GoImageBuildPolicy "{POLICY}"' in result.stderr
