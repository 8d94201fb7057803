"""The product, end to end: the operator (installed with its Helm chart, running
in a pod under its own ServiceAccount) turns GoImageBuilds into images that
Kaniko really clones, builds and pushes, and the status tells the truth about
them: its digest and size are what the registry serves, and the image runs.

Independent builds run side by side: one fixture applies them all, and the
tests read the results.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testkit import commands
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import Cluster
from testkit.paths import EXAMPLES
from tests.e2e.e2e_helpers import (
    assert_status_matches_registry,
    get_json,
    kaniko_log,
    manifest_size,
    publish,
    run_pod,
    settle,
)

MiB = 1024 * 1024


@dataclass
class Build:
    name: str
    namespace: str
    commit: str
    status: dict[str, Any]
    log: str  # the Kaniko container's log


@pytest.fixture(scope="module")
def batch(
    operator: str, cluster: Cluster, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Build]]:
    """Every independent build of this module, applied at once and waited for together."""
    tmp = tmp_path_factory.mktemp("repos")
    namespace = "e2e-builds"
    kubectl("create", "namespace", namespace, check=False)
    stamp = str(int(time.time()))
    repos = {
        key: f"{key}-{stamp}" for key in ("hello", "uuidgen", "broken", "badrev", "big", "slow")
    }
    commits = {
        "hello": publish(cluster, tmp, "hello", repos["hello"]),
        "uuidgen": publish(cluster, tmp, "uuidgen", repos["uuidgen"]),
        "broken": publish(cluster, tmp, "hello", repos["broken"], "fmt.Printf(=>fmt.Printn("),
        "badrev": publish(cluster, tmp, "hello", repos["badrev"]),
        "big": publish(cluster, tmp, "hello", repos["big"]),
        "slow": publish(cluster, tmp, "hello", repos["slow"]),
    }
    specs = {
        "hello": example_spec(
            "hello", cluster, repos["hello"], **{"output.tags": ["latest", "v1"]}
        ),
        "uuidgen": example_spec("uuidgen", cluster, repos["uuidgen"]),
        "broken": example_spec("hello", cluster, repos["broken"]),
        "badrev": example_spec(
            "hello", cluster, repos["badrev"], **{"source.git.revision": "no-such-branch"}
        ),
        "big": example_spec("hello", cluster, repos["big"], **{"output.maxSize": "64Ki"}),
        "slow": example_spec("hello", cluster, repos["slow"], **{"builder.timeout": "15s"}),
    }
    for body in specs.values():
        kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    # A revision git lacks fails before any Job is made: no Job to wait for.
    statuses = settle(kubectl, namespace, list(repos.values()), with_job=False)
    yield {
        key: Build(
            name=repos[key],
            namespace=namespace,
            commit=commits[key],
            status=statuses[repos[key]],
            log=(
                kaniko_log(kubectl, namespace, statuses[repos[key]]["jobName"])
                if statuses[repos[key]].get("jobName")
                else ""
            ),
        )
        for key in repos
    }
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def host_binary_size(example: str, tmp: Path) -> int:
    """The same program built on the host as the template builds it: static and stripped."""
    out = tmp / example
    commands.run(
        ["go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", str(out),
         "./cmd/hello" if example == "hello" else "."],
        cwd=EXAMPLES / example, timeout=300,
        env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
    )  # fmt: skip
    return out.stat().st_size


def test_stdlib_app_on_scratch(
    batch: dict[str, Build], cluster: Cluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    build = batch["hello"]
    assert_status_matches_registry(cluster, build.status)
    assert build.status["tags"] == ["latest", "v1"]
    # scratch: the binary, CA certificates and a passwd file; nothing else.
    binary = host_binary_size("hello", tmp_path)
    assert abs(build.status["size"] - binary) < 2 * MiB, (build.status["size"], binary)
    phase, log = run_pod(kubectl, build.namespace, f"{build.name}-run", build.status["image"])
    assert phase == "Succeeded"
    assert log.startswith("hello, goimage-operator, from linux/amd64"), log


def test_third_party_modules_on_distroless(
    batch: dict[str, Build], cluster: Cluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    build = batch["uuidgen"]
    assert_status_matches_registry(cluster, build.status)
    assert build.status["tags"] == ["latest", "v1"]
    binary = host_binary_size("uuidgen", tmp_path)
    assert abs(build.status["size"] - binary) < 2 * MiB, (build.status["size"], binary)
    assert "go: downloading github.com/google/uuid" in build.log or "go mod download" in build.log
    phase, log = run_pod(kubectl, build.namespace, f"{build.name}-run", build.status["image"])
    assert phase == "Succeeded"
    assert log.strip() == "uuid(goimage-operator) = be683a70-2ec4-5b9c-b266-48c8c6a8045e"


def test_compile_error_is_build_failed_with_the_compilers_message(batch: dict[str, Build]) -> None:
    failure = batch["broken"].status["failure"]
    assert failure["reason"] == "BuildFailed"
    assert "undefined: fmt.Printn" in failure["message"]
    # The hint names the build (kubectl gib logs), never a pod the operator deletes later.
    broken = batch["broken"]
    assert f"kubectl gib logs -n {broken.namespace} {broken.name} --build " in failure["message"]
    assert "is kept for" in failure["message"]


def test_bad_revision_is_source_failed(batch: dict[str, Build]) -> None:
    failure = batch["badrev"].status["failure"]
    assert failure["reason"] == "SourceFailed", failure
    assert "no-such-branch" in failure["message"]
    # Found out by asking git before the build: no Job was made for it.
    assert not batch["badrev"].status.get("jobName")


def test_over_budget_is_image_too_large_and_still_shown(
    batch: dict[str, Build], cluster: Cluster
) -> None:
    status = batch["big"].status
    assert status["phase"] == "Failed"
    assert status["failure"]["reason"] == "ImageTooLarge"
    assert status["size"] > 64 * 1024
    assert cluster.crane("digest", f"{status['image'].split('@')[0]}:latest") == status["digest"]
    assert status["size"] == manifest_size(cluster, status["image"])


def test_too_short_timeout_is_timeout(batch: dict[str, Build]) -> None:
    failure = batch["slow"].status["failure"]
    assert failure["reason"] == "Timeout", failure
    assert "spec.builder.timeout" in failure["message"]


def rebuild(kubectl: Kubectl, build: Build, token: str) -> dict[str, Any]:
    before = build.status["jobName"]
    kubectl("annotate", "--overwrite", "-n", build.namespace, "gib", build.name,
            f"goimage.dev/rebuild={token}")  # fmt: skip
    deadline = time.monotonic() + 60
    while (
        get_json(kubectl, "gib", build.name, "-n", build.namespace)["status"].get("jobName")
        == before
    ):
        assert time.monotonic() < deadline, "the rebuild did not start"
        time.sleep(1)
    return settle(kubectl, build.namespace, [build.name])[build.name]


def test_same_commit_twice_gives_the_same_digest(batch: dict[str, Build], kubectl: Kubectl) -> None:
    build = batch["hello"]
    again = rebuild(kubectl, build, "reproducible")
    assert again["phase"] == "Succeeded"
    assert again["digest"] == build.status["digest"]
    assert again["jobName"] != build.status["jobName"]
    # The clone's .git is left out of the context, so the same sources hit the cache
    # all the way down: nothing is compiled again.
    log = kaniko_log(kubectl, build.namespace, again["jobName"])
    cached = [line for line in log.splitlines() if "Using caching version of cmd" in line]
    assert any("RUN go build" in line for line in cached), log[-3000:]


def test_warm_rebuild_after_a_source_change_reuses_the_module_layer(
    batch: dict[str, Build], cluster: Cluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    build = batch["uuidgen"]
    commit = publish(cluster, tmp_path, "uuidgen", build.name, 'Printf("uuid(=>Printf("UUID(')
    assert commit != build.commit
    again = rebuild(kubectl, build, "source-change")
    assert again["phase"] == "Succeeded"
    assert again["digest"] != build.status["digest"]
    log = kaniko_log(kubectl, build.namespace, again["jobName"])
    cached = [line for line in log.splitlines() if "Using caching version of cmd" in line]
    assert any("go mod download" in line for line in cached), log[-3000:]
    phase, out = run_pod(kubectl, build.namespace, f"{build.name}-run2", again["image"])
    assert phase == "Succeeded"
    assert out.startswith("UUID(goimage-operator)")
