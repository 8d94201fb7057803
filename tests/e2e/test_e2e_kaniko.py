"""A real Kaniko build, shaped like the operator's: clone from git, build, push, run.

A tiny Go module is published to the node's git server; a Job whose init
container is Kaniko (Dockerfile from a ConfigMap, git context over plain HTTP,
the registry mirror and map that send ``golang:1.26`` and
``gcr.io/distroless/...`` to the local registry) builds and pushes it, and a
second container prints the digest file and the OCI layout's index, as the
operator's report step reads them. The tests then check the registry against
them, run the pushed image, and build the same commit again.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from testkit.kubectl import Kubectl
from testkit.node import CLUSTER_DIR, Cluster
from tests.e2e.e2e_helpers import describe, get_json, run_pod, stuck_container

BUILD_TIMEOUT_S = 600
OUT = "/goimage/out"

DOCKERFILE = """\
FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOPROXY={goproxy}
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
RUN go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/bin/hello .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/hello /usr/local/bin/hello
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/hello"]
"""

MAIN_GO = """\
package main

import "fmt"

func main() {{ fmt.Println({line}) }}
"""


@dataclass(frozen=True)
class Build:
    namespace: str
    repository: str
    """REGISTRY/e2e/NAME, where the image was pushed (tag latest)."""
    context: str
    line: str
    """What the built program prints."""
    digest: str
    """The digest file Kaniko wrote."""
    layout_digest: str
    """The manifest digest in the OCI layout Kaniko wrote."""
    seconds: float


def kaniko_job(cluster: Cluster, name: str, context: str, destination: str) -> dict[str, Any]:
    registry = cluster.registry
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": BUILD_TIMEOUT_S,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "initContainers": [
                        {
                            "name": "build",
                            "image": cluster.kaniko_image,
                            "args": [
                                "--dockerfile=/goimage/dockerfile/Dockerfile",
                                f"--context={context}",
                                f"--destination={destination}",
                                f"--digest-file={OUT}/digest",
                                f"--oci-layout-path={OUT}/oci",
                                "--reproducible",
                                "--log-format=text",
                                f"--registry-mirror={registry}",
                                f"--registry-map=gcr.io={registry}",
                                f"--insecure-registry={registry}",
                            ],
                            "env": [{"name": "GIT_PULL_METHOD", "value": "http"}],
                            "volumeMounts": [
                                {"name": "dockerfile", "mountPath": "/goimage/dockerfile"},
                                {"name": "out", "mountPath": OUT},
                            ],
                            "securityContext": {"allowPrivilegeEscalation": False},
                        }
                    ],
                    "containers": [
                        {
                            "name": "report",
                            "image": cluster.golang_image,
                            "command": [
                                "sh",
                                "-c",
                                f"echo digest=$(cat {OUT}/digest);"
                                f" echo layout=$(cat {OUT}/oci/index.json)",
                            ],
                            "volumeMounts": [{"name": "out", "mountPath": OUT, "readOnly": True}],
                        }
                    ],
                    "volumes": [
                        {"name": "dockerfile", "configMap": {"name": name}},
                        {"name": "out", "emptyDir": {}},
                    ],
                }
            },
        },
    }


def job_pod(kubectl: Kubectl, namespace: str, job: str) -> dict[str, Any] | None:
    pods = get_json(kubectl, "pods", "-n", namespace, "-l", f"batch.kubernetes.io/job-name={job}")
    return pods["items"][0] if pods["items"] else None


def run_build(
    cluster: Cluster, kubectl: Kubectl, namespace: str, name: str, context: str, destination: str
) -> tuple[str, str, float]:
    """Run one Kaniko Job to completion: the digest file, the layout's digest, the seconds."""
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"Dockerfile": DOCKERFILE.format(goproxy=cluster.goproxy_url)},
    }
    job = kaniko_job(cluster, name, context, destination)
    start = time.monotonic()
    for manifest in (configmap, job):
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    deadline = start + BUILD_TIMEOUT_S
    while True:
        status = get_json(kubectl, "job", name, "-n", namespace).get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if conditions.get("Complete") == "True":
            break
        pod = job_pod(kubectl, namespace, name)
        stuck = stuck_container(pod) if pod else None
        if conditions.get("Failed") == "True" or stuck or time.monotonic() > deadline:
            logs = ""
            if pod:
                logs = kubectl(
                    "logs", "-n", namespace, pod["metadata"]["name"], "-c", "build", check=False
                ).stdout[-8000:]
            pytest.fail(
                f"Kaniko job {namespace}/{name} did not complete ({conditions or stuck})\n"
                f"--- build log:\n{logs}\n{describe(kubectl, namespace, 'job', name)}",
                pytrace=False,
            )
        time.sleep(1)
    seconds = time.monotonic() - start
    pod = job_pod(kubectl, namespace, name)
    assert pod is not None
    report = kubectl("logs", "-n", namespace, pod["metadata"]["name"], "-c", "report").stdout
    fields = dict(line.split("=", 1) for line in report.splitlines() if "=" in line)
    layout = json.loads(fields["layout"])
    return fields["digest"], layout["manifests"][0]["digest"], seconds


@pytest.fixture(scope="module")
def hello_build(
    cluster: Cluster, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Build]:
    """The hello module, published and built once for this module's tests; all removed after."""
    token = secrets.token_hex(4)
    name = f"e2e-hello-{token}"
    line = f"hello from goimage e2e {token}"
    source = tmp_path_factory.mktemp("hello")
    (source / "go.mod").write_text("module example.invalid/hello\n\ngo 1.26\n")
    (source / "main.go").write_text(MAIN_GO.format(line=json.dumps(line)))
    repository = f"{cluster.registry}/e2e/{name}"
    namespace = name
    kubectl("create", "namespace", namespace)
    digest = ""
    try:
        kubectl("wait", "--for=create", "--timeout=60s", "-n", namespace, "serviceaccount/default")
        url, commit = cluster.publish(source, name)
        # Kaniko's git context: git://host/path, cloned over HTTP (GIT_PULL_METHOD),
        # at the published commit.
        context = f"git://{url.split('://', 1)[1]}#refs/heads/main#{commit}"
        digest, layout_digest, seconds = run_build(
            cluster, kubectl, namespace, "build", context, f"{repository}:latest"
        )
        print(f"\nKaniko build of {name}: {seconds:.1f}s, {digest}")
        yield Build(namespace, repository, context, line, digest, layout_digest, seconds)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)
        shutil.rmtree(CLUSTER_DIR / "git" / f"{name}.git", ignore_errors=True)
        # The registry's manifests (its blobs stay: it has no garbage collector).
        for reference in (f"{repository}:latest", f"{repository}:again", f"{repository}@{digest}"):
            if digest:
                cluster.crane_ok("delete", reference)


def test_registry_serves_the_digest_kaniko_wrote(cluster: Cluster, hello_build: Build) -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hello_build.digest), hello_build.digest
    assert cluster.crane("digest", f"{hello_build.repository}:latest") == hello_build.digest
    assert hello_build.layout_digest == hello_build.digest
    manifest = json.loads(
        cluster.crane("manifest", f"{hello_build.repository}@{hello_build.digest}")
    )
    # The distroless base's layer and the binary's.
    assert len(manifest["layers"]) == 2, manifest
    config = json.loads(cluster.crane("config", f"{hello_build.repository}@{hello_build.digest}"))
    assert config["config"]["User"] == "65532:65532", config
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"], config


def test_the_pushed_image_runs(cluster: Cluster, kubectl: Kubectl, hello_build: Build) -> None:
    phase, log = run_pod(
        kubectl,
        hello_build.namespace,
        "hello",
        f"{hello_build.repository}@{hello_build.digest}",
    )
    assert phase == "Succeeded", log
    assert log.strip() == hello_build.line


def test_the_same_commit_builds_the_same_digest(
    cluster: Cluster, kubectl: Kubectl, hello_build: Build
) -> None:
    digest, _, _ = run_build(
        cluster,
        kubectl,
        hello_build.namespace,
        "rebuild",
        hello_build.context,
        f"{hello_build.repository}:again",
    )
    assert digest == hello_build.digest
