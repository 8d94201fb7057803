"""GoImageBuildPolicy as the operator enforces it, against a real control plane.

No admission policy is installed here: these are the resources that reach the
operator anyway (made before their policy, or on a cluster without admission).
The operator runs as its own process; the kubelet is played by the test.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
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
    get,
    items,
    status_of,
    wait_for,
    wait_phase,
)
from testkit.kubectl import Kubectl
from testkit.operator_process import OperatorProcess

SELECTOR_LABEL = "policy-test.goimage.dev/id"


@pytest.fixture
def governed(kubectl: Kubectl, namespace: str) -> Iterator[tuple[str, str]]:
    """The test's namespace, labelled so that only the test's own policy governs it."""
    policy_id = secrets.token_hex(4)
    kubectl("label", "namespace", namespace, f"{SELECTOR_LABEL}={policy_id}")
    name = f"policy-{policy_id}"
    yield namespace, name
    kubectl("delete", "gibp", name, "--ignore-not-found", check=False)


def write_policy(kubectl: Kubectl, name: str, policy_id: str, spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "goimage.dev/v1alpha1",
        "kind": "GoImageBuildPolicy",
        "metadata": {"name": name},
        "spec": {"namespaceSelector": {"matchLabels": {SELECTOR_LABEL: policy_id}}, **spec},
    }
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body))


def policy_id(name: str) -> str:
    return name.removeprefix("policy-")


def test_a_resource_from_before_its_policy_ends_policy_violation_without_a_job(
    kubectl: Kubectl, governed: tuple[str, str], operator: OperatorProcess
) -> None:
    namespace, name = governed
    write_policy(
        kubectl, name, policy_id(name), {"output": {"imagePrefixes": ["registry.acme.dev/"]}}
    )
    time.sleep(1)  # the operator's policy index follows its watch
    apply(kubectl, namespace, build("outside"))
    status = wait_phase(kubectl, namespace, "outside", "Failed", operator)
    assert status["failure"]["reason"] == "PolicyViolation"
    message = status["failure"]["message"]
    assert message.startswith(f'spec.output.image "{REPOSITORY}" is not allowed by ')
    assert f'GoImageBuildPolicy "{name}"' in message
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PolicyViolation")
    assert items(kubectl, namespace, "jobs") == []
    # The Event is posted after the status, from the operator's queue of Events.
    wait_for(
        "the PolicyViolation Event",
        lambda: "PolicyViolation" in kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
        operator,
    )


def test_forced_placement_and_resources_land_on_the_build_pod(
    kubectl: Kubectl, governed: tuple[str, str], operator: OperatorProcess
) -> None:
    namespace, name = governed
    write_policy(
        kubectl,
        name,
        policy_id(name),
        {
            "builder": {
                "nodeSelector": {"pool": "builds"},
                "tolerations": [{"key": "builds", "operator": "Exists", "effect": "NoSchedule"}],
                "runtimeClassName": "gvisor",
                "defaultResources": {"requests": {"cpu": "1"}, "limits": {"memory": "3Gi"}},
                "maxResources": {"memory": "2Gi"},
            }
        },
    )
    time.sleep(1)
    apply(kubectl, namespace, build("placed"))
    job = current_job(kubectl, namespace, "placed", operator)
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "builds"}
    assert pod["tolerations"] == [{"key": "builds", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["runtimeClassName"] == "gvisor"
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    build_container = pod["initContainers"][0]
    # The policy's defaults, the memory limit lowered to its maximum.
    assert build_container["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}
    assert build_container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_requests_over_limits_end_invalid_spec_once(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(
        kubectl,
        namespace,
        build(
            "greedy",
            builder={"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}},
        ),
    )
    status = wait_phase(kubectl, namespace, "greedy", "Failed", operator)
    assert status["failure"]["reason"] == "InvalidSpec"
    assert "the API server refused the build's Job" in status["failure"]["message"]
    assert "must be less than or equal to memory limit" in status["failure"]["message"]
    assert items(kubectl, namespace, "jobs") == []
    # Refused once, never retried: kopf logs no retry, and one Event tells it.
    time.sleep(12)  # past kopf's retry backoff of 10 s
    retries = [
        line
        for line in operator.full_log().splitlines()
        if "greedy" in line and "retry" in line.lower()
    ]
    assert retries == []
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    assert [e["reason"] for e in events if e["involvedObject"]["name"] == "greedy"] == [
        "InvalidSpec"
    ]


def test_pods_the_job_did_not_make_from_its_template_do_not_write_the_status(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, build("honest"))
    job = current_job(kubectl, namespace, "honest", operator)
    real = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    kubelet.start_build(kubectl, real)
    wait_phase(kubectl, namespace, "honest", "Building", operator)
    labels = dict(real["metadata"]["labels"])
    controller_label = "batch.kubernetes.io/controller-uid"

    # The build's own labels, but no controller: nobody's build pod.
    orphan = {k: v for k, v in labels.items() if k != controller_label}
    forge(kubectl, namespace, "forged-labels", orphan, real["spec"])
    time.sleep(3)
    assert status_of(kubectl, namespace, "honest")["phase"] == "Building"

    # Every label: the Job controller adopts it. Its report step is another image,
    # so it is not the build the Job's template describes.
    spec = json.loads(json.dumps(real["spec"]))
    spec["containers"][0]["image"] = "evil.invalid/report:latest"
    forge(kubectl, namespace, "forged-adopted", labels, spec)
    wait_for(
        "the Job controller to adopt the forged pod",
        lambda: get(kubectl, namespace, "pod", "forged-adopted")["metadata"].get("ownerReferences"),
        operator,
    )
    time.sleep(3)
    status = status_of(kubectl, namespace, "honest")
    assert status["phase"] != "Succeeded"
    assert status.get("digest") is None


def forge(
    kubectl: Kubectl, namespace: str, name: str, labels: dict[str, str], spec: dict[str, Any]
) -> None:
    """A pod made by hand, which then 'succeeds' with a digest of its own."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}}
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body | {"spec": spec}))
    pod = get(kubectl, namespace, "pod", name)
    kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest="sha256:" + "ee" * 32, size=1)


def queued_place(status: dict[str, Any]) -> str:
    ready = condition(status, "Ready")
    return ready["message"] if ready["reason"] == "Queued" else ""


def test_the_queue_runs_builds_one_at_a_time_oldest_first_across_a_restart(
    kubectl: Kubectl, governed: tuple[str, str], operator: OperatorProcess
) -> None:
    namespace, name = governed
    write_policy(kubectl, name, policy_id(name), {"maxConcurrentBuilds": 1})
    process = operator
    try:
        time.sleep(1)
        for app in ("first", "second", "third"):
            apply(kubectl, namespace, build(app))
            time.sleep(1.1)  # queuedSince has a resolution of one second
        first = current_job(kubectl, namespace, "first", process)
        # Each waiting build's message says its place; a place taken by a build that
        # came later is told at the next look for a slot (every 15 s).
        second = wait_for(
            "second queued first",
            lambda: (
                "number 1 of 2 waiting" in queued_place(status_of(kubectl, namespace, "second"))
                and queued_place(status_of(kubectl, namespace, "second"))
            ),
            process,
        )
        wait_for(
            "third queued second",
            lambda: (
                "number 2 of 2 waiting" in queued_place(status_of(kubectl, namespace, "third"))
                and queued_place(status_of(kubectl, namespace, "third"))
            ),
            process,
        )
        assert f'maxConcurrentBuilds of GoImageBuildPolicy "{name}"' in second
        assert status_of(kubectl, namespace, "second")["phase"] == "Pending"
        assert [j["metadata"]["name"] for j in items(kubectl, namespace, "jobs")] == [
            first["metadata"]["name"]
        ]

        # The operator goes away while the first build runs and ends.
        process.stop()
        pod = kubelet.pod_of(kubectl, namespace, first["metadata"]["name"])
        kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=1)
        process.start()

        wait_phase(kubectl, namespace, "first", "Succeeded", process)
        second_job = current_job(kubectl, namespace, "second", process)
        assert queued_place(status_of(kubectl, namespace, "third"))
        assert (
            len(
                [
                    j
                    for j in items(kubectl, namespace, "jobs")
                    if not j.get("status", {}).get("succeeded")
                ]
            )
            == 1
        )

        pod = kubelet.pod_of(kubectl, namespace, second_job["metadata"]["name"])
        kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=2)
        third_job = current_job(kubectl, namespace, "third", process)
        pod = kubelet.pod_of(kubectl, namespace, third_job["metadata"]["name"])
        kubelet.succeed(kubectl, pod, repository=REPOSITORY, digest=DIGEST, size=3)
        for app in ("second", "third"):
            status = wait_phase(kubectl, namespace, app, "Succeeded", process)
            assert status.get("queuedSince") is None
        starts = sorted(
            (j["metadata"]["creationTimestamp"], j["metadata"]["name"])
            for j in items(kubectl, namespace, "jobs")
        )
        assert [n for _, n in starts] == [
            first["metadata"]["name"],
            second_job["metadata"]["name"],
            third_job["metadata"]["name"],
        ]
    finally:
        if process.process is None:
            process.start()


def test_build_pods_are_admitted_under_pod_security_baseline(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    """The Pod Security level build namespaces need (docs/multi-tenancy.md): baseline."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline")
    apply(kubectl, namespace, build("baseline"))
    job = current_job(kubectl, namespace, "baseline", operator)
    pod = kubelet.pod_of(kubectl, namespace, job["metadata"]["name"])
    assert pod["spec"]["initContainers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_build_pods_are_refused_under_pod_security_restricted(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    """Why baseline and not restricted: Kaniko's root and its three capabilities."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    apply(kubectl, namespace, build("restricted"))
    current_job(kubectl, namespace, "restricted", operator)

    def refusal() -> str:
        events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
        return next((e["message"] for e in events["items"] if e["reason"] == "FailedCreate"), "")

    message = wait_for("the Job controller's FailedCreate", refusal, operator)
    assert 'violates PodSecurity "restricted:latest"' in message
    assert 'must not include "CHOWN", "DAC_OVERRIDE", "FOWNER" in securityContext' in message
