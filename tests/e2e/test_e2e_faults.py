"""Faults a cluster sees every week, on the real node, each ending in a definite, truthful
status: Succeeded with the digest the registry serves, or Failed with the reason that
says what happened and a message a user can act on; never stuck, never a second Job for
one build, and the operator still building afterwards (the next test's build is built by
the same operator).

Faults are injected into the node's own processes through the pid files it keeps
(`testkit.node.kill_daemon`), never by process name, and healed by `cluster.sh up`,
which starts again whatever of the node is not running. The operator's own pods are
deleted, or rolled by a `helm upgrade` of its release, as a cluster's admin would.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from testkit import commands, node
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import Cluster
from testkit.paths import REPO_ROOT, TOOLS_BIN
from tests.e2e.e2e_helpers import (
    BUILD_TIMEOUT_S,
    assert_status_matches_registry,
    get_json,
    kaniko_log,
    publish,
    settle,
)

OPERATOR_NAMESPACE = "goimage-system"
OPERATOR_SELECTOR = "app.kubernetes.io/name=goimage-operator"
# The release cluster/deploy.sh installs (in OPERATOR_NAMESPACE), and its chart.
OPERATOR_RELEASE = "goimage-operator"
CHART = REPO_ROOT / "charts" / "goimage-operator"
# Two pods, one at a time: each new one Ready once kopf runs, each old one given its
# handlers' shutdownTimeout and kopf's goodbye (30 s) after SIGTERM.
ROLLOUT_TIMEOUT_S = 300
# Kaniko's log line of the program's own compile, the build's last RUN: the base images
# are pulled and unpacked by then, and the push is next.
FINAL_COMPILE = "RUN go build -trimpath -buildvcs=false"


def jobs_of(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    listed = get_json(kubectl, "jobs", "-n", namespace, "-l", f"goimage.dev/goimagebuild={name}")
    return sorted(job["metadata"]["name"] for job in listed["items"])


def build_pod(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    listed = get_json(kubectl, "pods", "-n", namespace, "-l", f"goimage.dev/goimagebuild={name}")
    return listed["items"][0] if listed["items"] else None


def wait_for_kaniko(
    kubectl: Kubectl, namespace: str, name: str, log_line: str = "", timeout: float = 300
) -> str:
    """The build's Job once its Kaniko step runs (and, with `log_line`, has logged it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = build_pod(kubectl, namespace, name)
        statuses = (pod or {}).get("status", {}).get("initContainerStatuses", [])
        if any("running" in s.get("state", {}) for s in statuses):
            job = str(pod["metadata"]["labels"]["job-name"])  # type: ignore[index]
            if not log_line or log_line in kaniko_log(kubectl, namespace, job):
                return job
        time.sleep(0.5)
    state = kubectl("get", "gib,jobs,pods", "-n", namespace, "-o", "wide", check=False).stdout
    raise AssertionError(f"{namespace}/{name}: Kaniko did not get to {log_line!r}\n{state}")


def apply_build(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp: Path, repo: str, **overrides: Any
) -> None:
    publish(cluster, tmp, "hello", repo)
    body = example_spec("hello", cluster, repo, **overrides)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def apply_named_build(
    cluster: Cluster, kubectl: Kubectl, namespace: str, repo: str, name: str, cache: str
) -> None:
    """GoImageBuild `name`: examples/hello from the published `repo`, as image
    <registry>/e2e/<name>, with the layer cache `cache` (several builds share one)."""
    body = example_spec("hello", cluster, repo, **{"builder.cache.repo": cache})
    body["metadata"]["name"] = name
    body["spec"]["output"]["image"] = f"{cluster.registry}/e2e/{name}"
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def assert_builds_succeeded(
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    names: list[str],
    timeout: float = BUILD_TIMEOUT_S,
) -> dict[str, dict[str, Any]]:
    """Each build's status, once every one is Succeeded with what the registry serves and
    made exactly one Job: none lost, none started twice."""
    statuses = settle(kubectl, namespace, names, timeout)
    for name in names:
        assert_status_matches_registry(cluster, statuses[name])
        assert jobs_of(kubectl, namespace, name) == [statuses[name]["jobName"]]
    return statuses


def assert_one_build_succeeded(
    cluster: Cluster, kubectl: Kubectl, namespace: str, name: str
) -> dict[str, Any]:
    return assert_builds_succeeded(cluster, kubectl, namespace, [name])[name]


def operator_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    """The operator's pods, terminating ones included."""
    return list(
        get_json(kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l", OPERATOR_SELECTOR)["items"]
    )


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def roll_operator(
    cluster: Cluster, kubectl: Kubectl, annotation: str, value: str
) -> list[dict[str, Any]]:
    """`helm upgrade` of the operator's release with the values it has (`--reuse-values`:
    only the pod template changes, by one pod annotation), which rolls its pods one at a
    time; the operator pods once the rollout is over: as many as the Deployment's replicas,
    all of the new template and Ready, and no old one left, not even terminating."""
    before = {pod["metadata"]["uid"] for pod in operator_pods(kubectl)}
    helm = [str(TOOLS_BIN / "helm"), "upgrade", OPERATOR_RELEASE, str(CHART)]
    helm += ["--namespace", OPERATOR_NAMESPACE, "--reuse-values"]
    helm += ["--set-string", f"podAnnotations.{annotation}={value}"]
    helm += ["--wait", "--timeout", f"{ROLLOUT_TIMEOUT_S}s"]
    commands.run(helm, timeout=ROLLOUT_TIMEOUT_S + 60, env=cluster.env)
    deployment = get_json(kubectl, "deployment", OPERATOR_RELEASE, "-n", OPERATOR_NAMESPACE)
    replicas = deployment["spec"]["replicas"]
    deadline = time.monotonic() + ROLLOUT_TIMEOUT_S
    while time.monotonic() < deadline:
        pods = operator_pods(kubectl)
        rolled = [
            pod
            for pod in pods
            if pod["metadata"]["uid"] not in before
            and pod["metadata"].get("annotations", {}).get(annotation) == value
            and "deletionTimestamp" not in pod["metadata"]
            and is_ready(pod)
        ]
        if len(rolled) == len(pods) == replicas:
            return pods
        time.sleep(1)
    state = kubectl("get", "deploy,rs,pods", "-n", OPERATOR_NAMESPACE, "-o", "wide").stdout
    raise AssertionError(f"the operator's rollout did not end in {ROLLOUT_TIMEOUT_S}s\n{state}")


@pytest.mark.parametrize("daemon", ["kube-apiserver", "etcd", "kubelet", "containerd"])
def test_a_build_survives_a_daemon_killed_mid_build(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path: Path,
    daemon: str,
) -> None:
    apply_build(cluster, kubectl, namespace, tmp_path, git_repo)
    job = wait_for_kaniko(kubectl, namespace, git_repo)
    node.kill_daemon(daemon)
    time.sleep(3)
    node.up()
    status = assert_one_build_succeeded(cluster, kubectl, namespace, git_repo)
    assert status["jobName"] == job


def test_builds_survive_the_operator_pods_deleted_while_six_run(
    operator: str, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    names = [f"six-{index}-{secrets.token_hex(3)}" for index in range(6)]
    try:
        for name in names:
            apply_build(cluster, kubectl, namespace, tmp_path, name)
        for name in names:
            wait_for_kaniko(kubectl, namespace, name, timeout=600)
        kubectl("delete", "pods", "-n", OPERATOR_NAMESPACE, "-l", OPERATOR_SELECTOR, "--wait=false")
        assert_builds_succeeded(cluster, kubectl, namespace, names)
    finally:
        for name in names:
            shutil.rmtree(node.CLUSTER_DIR / "git" / f"{name}.git", ignore_errors=True)


def test_registry_down_during_the_push_is_push_failed_and_a_rebuild_succeeds(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    # No layer cache: Kaniko would push cache layers as it goes, and this test is about
    # the image's push.
    apply_build(cluster, kubectl, namespace, tmp_path, git_repo, **{"builder.cache.enabled": False})
    wait_for_kaniko(kubectl, namespace, git_repo, FINAL_COMPILE)
    node.kill_daemon("registry")
    try:
        status = settle(kubectl, namespace, [git_repo])[git_repo]
    finally:
        node.up()
    assert status["phase"] == "Failed", status
    failure = status["failure"]
    assert failure["reason"] == "PushFailed", failure
    assert cluster.registry in failure["message"], failure
    kubectl("annotate", "-n", namespace, "gib", git_repo, "goimage.dev/rebuild=after-outage")
    deadline = time.monotonic() + 60
    while (
        get_json(kubectl, "gib", git_repo, "-n", namespace)["status"]["jobName"]
        == status["jobName"]
    ):
        assert time.monotonic() < deadline, "the rebuild did not start"
        time.sleep(1)
    settle(kubectl, namespace, [git_repo])
    again = get_json(kubectl, "gib", git_repo, "-n", namespace)["status"]
    assert_status_matches_registry(cluster, again)
    assert len(jobs_of(kubectl, namespace, git_repo)) == 2


def test_git_server_down_is_source_failed(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    publish(cluster, tmp_path, "hello", git_repo)
    node.kill_daemon("git-server")
    try:
        body = example_spec("hello", cluster, git_repo)
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
        # No commit, no Job: the operator gives git two minutes, then says so.
        status = settle(kubectl, namespace, [git_repo], with_job=False)[git_repo]
    finally:
        node.up()
    assert status["phase"] == "Failed", status
    failure = status["failure"]
    assert failure["reason"] == "SourceFailed", failure
    assert cluster.git_server.split("://", 1)[1] in failure["message"], failure
    assert "could not be asked" in failure["message"], failure
    assert jobs_of(kubectl, namespace, git_repo) == []


def test_a_burst_larger_than_the_node_all_succeeds(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    """Thirty builds at once: more than the node's CPU and disk requests allow together, so
    pods wait for the scheduler; none fails. One commit and one layer cache for all of them,
    warmed by one build first, keep the test's own cost to one compile."""
    count = 30
    publish(cluster, tmp_path, "hello", git_repo)
    cache = f"{cluster.registry}/e2e/{git_repo}-cache"
    names = [f"{git_repo}-{index}" for index in ("warm", *range(count))]
    for name in names:
        if name == names[1]:
            settle(kubectl, namespace, names[:1])
        apply_named_build(cluster, kubectl, namespace, git_repo, name, cache)
    statuses = assert_builds_succeeded(cluster, kubectl, namespace, names, timeout=1800)
    digests = {status["digest"] for status in statuses.values()}
    # One commit, one Dockerfile: one image, whatever the order the builds ran in.
    assert len(digests) == 1, digests


def test_builds_survive_a_rolling_upgrade_of_the_chart(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    """Four builds in Kaniko while `helm upgrade` rolls the operator's pods (a new one Ready
    before an old one stops; the active one finishes its handlers and hands over as it
    goes): each ends Succeeded with exactly one Job, and the new pods build the next one.
    One commit and one layer cache keep it to one compile's cost."""
    publish(cluster, tmp_path, "hello", git_repo)
    cache = f"{cluster.registry}/e2e/{git_repo}-cache"
    names = [f"{git_repo}-{index}" for index in range(4)]
    for name in names:
        apply_named_build(cluster, kubectl, namespace, git_repo, name, cache)
    for name in names:
        wait_for_kaniko(kubectl, namespace, name, timeout=600)
    before = operator_pods(kubectl)
    after = roll_operator(cluster, kubectl, "e2e-rollout", secrets.token_hex(4))
    for identity in ("name", "uid"):
        old = {pod["metadata"][identity] for pod in before}
        assert not old & {pod["metadata"][identity] for pod in after}, (before, after)
    assert_builds_succeeded(cluster, kubectl, namespace, names)
    # The new pods, and no old one, act now: a build applied after the rollout is built.
    late = f"{git_repo}-after-upgrade"
    apply_named_build(cluster, kubectl, namespace, git_repo, late, cache)
    assert_builds_succeeded(cluster, kubectl, namespace, [late])
