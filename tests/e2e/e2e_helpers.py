"""What the e2e tests share: the node's addresses, kubectl, and waiting on real pods."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from tests.kubectl import Kubectl

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CLUSTER_DIR = Path(os.environ.get("GOIMAGE_CLUSTER_DIR", REPO_ROOT / ".cluster"))
GIT_SERVE = REPO_ROOT / "cluster" / "git-serve.sh"
EXAMPLES = REPO_ROOT / "examples"

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


class Cluster:
    """The running node, as ``cluster/cluster.sh up`` describes it in ``.cluster/env``."""

    def __init__(self, written: Mapping[str, str], env: dict[str, str]) -> None:
        self.kubeconfig = written["KUBECONFIG"]
        self.node_name = written["NODE_NAME"]
        self.gateway = written["GATEWAY"]
        self.registry = written["REGISTRY"]
        """host:port, plain HTTP; pods and the host reach it."""
        self.git_server = written["GIT_SERVER"]
        self.goproxy_url = written["GOPROXY_URL"]
        self.kaniko_image = written["KANIKO_IMAGE"]
        self.golang_image = written["GOLANG_IMAGE"]
        self.python_base_image = written["PYTHON_BASE_IMAGE"]
        self.env = env
        """The environment for subprocesses: ours, with KUBECONFIG and the rest set."""

    def crane(self, *args: str) -> str:
        """crane against the node's registry (plain HTTP); its stdout."""
        result = subprocess.run(
            [str(TOOLS_BIN / "crane"), "--insecure", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"crane {' '.join(args)} exited {result.returncode}: {result.stderr}"
            )
        return result.stdout.strip()

    def crane_ok(self, *args: str) -> bool:
        """crane as above, for cleanups: whether it succeeded."""
        result = subprocess.run(
            [str(TOOLS_BIN / "crane"), "--insecure", *args],
            capture_output=True,
            check=False,
            timeout=120,
        )
        return result.returncode == 0

    def publish(self, source: Path, name: str) -> tuple[str, str]:
        """Commit the files of ``source`` to repository ``name``: its clone URL and the commit."""
        result = subprocess.run(
            [str(GIT_SERVE), "publish", str(source), name],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"git-serve.sh publish exited {result.returncode}: {result.stderr}"
            )
        url, commit = result.stdout.split()
        return url, commit


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


def deploy_operator(cluster: Cluster) -> str:
    """`make image` then `make deploy`: this checkout's operator, built by Kaniko on the
    node and installed with the Helm chart; its image reference (repository@digest)."""
    built = subprocess.run(
        [str(REPO_ROOT / "cluster" / "operator-image.sh")],
        capture_output=True, text=True, check=False, timeout=1800, env=cluster.env,
    )  # fmt: skip
    if built.returncode != 0:
        raise AssertionError(f"make image failed:\n{built.stderr[-6000:]}")
    image = built.stdout.strip().splitlines()[-1]
    deployed = subprocess.run(
        [str(REPO_ROOT / "cluster" / "deploy.sh"), image],
        capture_output=True, text=True, check=False, timeout=600, env=cluster.env,
    )  # fmt: skip
    if deployed.returncode != 0:
        raise AssertionError(f"make deploy failed:\n{deployed.stderr[-6000:]}")
    return image


def example_spec(
    name: str, cluster: Cluster, repo: str, prefix: str = "e2e", **overrides: Any
) -> dict[str, Any]:
    """examples/<name>/goimagebuild.yaml, pointed at this node (what the README shows runs
    here): git repository `repo`, image <registry>/<prefix>/<repo>; `overrides` maps dotted
    spec paths to values."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name / "goimagebuild.yaml").read_text())
    spec = body["spec"]
    spec["source"]["git"]["url"] = f"{cluster.git_server}/{repo}.git"
    spec["output"]["image"] = f"{cluster.registry}/{prefix}/{repo}"
    for var in spec.get("go", {}).get("env", []):
        if var["name"] == "GOPROXY":
            var["value"] = cluster.goproxy_url
    for path, value in overrides.items():
        target = spec
        *parents, last = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    body["metadata"] = {"name": repo}
    return body


def copy_example(example: str, target: Path, edit: str = "") -> Path:
    """examples/<example> copied to `target`, with main.go's `edit` ("old=>new") applied."""
    shutil.copytree(EXAMPLES / example, target)
    if edit:
        main = next(target.rglob("main.go"))
        old, new = edit.split("=>")
        text = main.read_text()
        if old not in text:
            raise AssertionError(f"{main} has no {old!r} to edit")
        main.write_text(text.replace(old, new))
    return target


def publish(cluster: Cluster, tmp: Path, example: str, repo: str, edit: str = "") -> str:
    """Serve examples/<example> (optionally with main.go's `edit` applied) as repo; its commit."""
    source = copy_example(example, tmp / repo, edit)
    _, commit = cluster.publish(source, repo)
    return commit
