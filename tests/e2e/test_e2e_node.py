"""The node itself: registered and Ready, running pods from the locally built images,
and reachable from them as a cluster is (the ``kubernetes`` Service)."""

from __future__ import annotations

from pathlib import Path

from testkit import commands
from testkit.kubectl import Kubectl
from testkit.node import CLUSTER_DIR, Cluster
from testkit.paths import CLUSTER_SCRIPTS
from tests.e2e.e2e_helpers import get_json, run_pod


def test_node_is_ready(cluster: Cluster, kubectl: Kubectl) -> None:
    assert_node_ready(cluster, kubectl)


def assert_node_ready(cluster: Cluster, kubectl: Kubectl) -> None:
    node = get_json(kubectl, "node", cluster.node_name)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True", conditions
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.34."), info
    assert info["containerRuntimeVersion"].startswith("containerd://"), info
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == cluster.gateway, addresses


def test_golang_image_runs_go(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    phase, log = run_pod(
        kubectl,
        namespace,
        "go-version",
        cluster.golang_image,
        ["sh", "-c", "go version && go env GOTOOLCHAIN GOPATH GOROOT"],
    )
    assert phase == "Succeeded", log
    version, toolchain, gopath, goroot = log.splitlines()
    assert version.startswith("go version go1.26"), log
    assert (toolchain, gopath, goroot) == ("local", "/go", "/usr/local/go"), log


# What an in-cluster client does (kopf's, the kubernetes package's): the
# Service's address from the environment, the mounted token and CA.
IN_CLUSTER_CLIENT = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
with open(f"{sa}/token") as f:
    token = f.read()
review = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
request = urllib.request.Request(
    f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews",
    data=review.encode(),
    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
)
with urllib.request.urlopen(request, context=context, timeout=10) as response:
    print(json.load(response)["status"]["userInfo"]["username"])
"""


def test_pods_reach_the_apiserver(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    assert_pods_reach_the_apiserver(cluster, kubectl, namespace)


def assert_pods_reach_the_apiserver(cluster: Cluster, kubectl: Kubectl, namespace: str) -> None:
    phase, log = run_pod(
        kubectl,
        namespace,
        "in-cluster",
        cluster.python_base_image,
        ["python3", "-c", IN_CLUSTER_CLIENT],
        service_account_token=True,
    )
    assert phase == "Succeeded", log
    assert log.strip() == f"system:serviceaccount:{namespace}:default"


def test_a_second_checkout_refuses_to_start_a_node_and_touches_nothing(
    cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """One node per machine: another state dir's `up` names the node that is up, and stops."""
    second = tmp_path / "second-checkout" / ".cluster"
    env = {**cluster.env, "GOIMAGE_CLUSTER_DIR": str(second)}
    result = commands.run(
        [str(CLUSTER_SCRIPTS / "cluster.sh"), "up"], env=env, timeout=600, check=False
    )
    assert result.returncode != 0
    assert "the node of another checkout is up on this machine" in result.stderr
    assert str(CLUSTER_DIR) in result.stderr
    assert not (second / "control-plane").exists()
    assert not (second / "containerd").exists()
    # The node is untouched: still Ready, and pods still reach its API server
    # through the `kubernetes` Service rule the second checkout did not rewrite.
    assert_node_ready(cluster, kubectl)
    assert_pods_reach_the_apiserver(cluster, kubectl, namespace)
