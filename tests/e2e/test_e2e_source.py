"""The source commit of real builds on the node: recorded, labelled, followed, private.

examples/uuidgen is served by the node's git server (cluster/git-serve.sh) and built
through the operator: status.source.commit is the commit the git server holds, and the
image's config carries it (org.opencontainers.image.revision) with the repository
(org.opencontainers.image.source). With spec.source.git.poll a commit pushed later is
built within the interval plus a few seconds, as a build of the same generation. A
repository under private/ (basic auth, cluster/httpd.py) is resolved by a resolve pod
with the build's Secret, and its commit recorded too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from testkit.examples import example_spec
from testkit.kubectl import Kubectl
from testkit.node import CLUSTER_DIR, Cluster
from testkit.paths import REPO_ROOT
from tests.e2e.e2e_helpers import assert_status_matches_registry, get_json, publish, settle

POLL = "30s"
POLL_S = 30
# The operator's poll tick (handlers/builds.POLL_TICK_S) and a margin for a loaded node.
SLACK_S = 5 + 10
REVISION_LABEL = "org.opencontainers.image.revision"
SOURCE_LABEL = "org.opencontainers.image.source"


def labels(cluster: Cluster, image: str) -> dict[str, str]:
    """The image config's labels, as the registry serves them."""
    config = json.loads(cluster.crane("config", image))
    return dict(config["config"].get("Labels") or {})


def private_credentials() -> tuple[str, str]:
    """The user and password the node's git server asks for under private/."""
    path = REPO_ROOT / "cluster" / "httpd.py"
    spec = importlib.util.spec_from_file_location("goimage_cluster_httpd", path)
    assert spec is not None
    assert spec.loader is not None
    httpd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(httpd)
    user, password = httpd.private_credentials(os.environ)
    return str(user), str(password)


def build_jobs(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"goimage.dev/goimagebuild={name},app.kubernetes.io/component=build"
    items: list[dict[str, Any]] = get_json(kubectl, "jobs", "-n", namespace, "-l", selector)[
        "items"
    ]
    return items


def test_uuidgen_records_its_commit_in_the_status_and_the_image(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    commit = publish(cluster, tmp_path_factory.mktemp("repo"), "uuidgen", git_repo)
    body = example_spec("uuidgen", cluster, git_repo)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    status = settle(kubectl, namespace, [git_repo])[git_repo]
    assert_status_matches_registry(cluster, status)
    url = f"{cluster.git_server}/{git_repo}.git"
    assert status["source"] == {
        "url": url,
        "revision": "main",
        "commit": commit,
        "shortCommit": commit[:12],
        "ref": "refs/heads/main",
    }
    found = labels(cluster, status["image"])
    assert found[REVISION_LABEL] == commit
    assert found[SOURCE_LABEL] == url
    wide = kubectl("get", "gib", git_repo, "-n", namespace, "-o", "wide").stdout
    assert commit[:12] in wide

    # The same commit built again gives the same digest, label and all.
    kubectl("annotate", "gib", git_repo, "-n", namespace, "goimage.dev/rebuild=again")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = get_json(kubectl, "gib", git_repo, "-n", namespace).get("status") or {}
        if started.get("buildId") != status["buildId"]:
            break
        time.sleep(1)
    again = settle(kubectl, namespace, [git_repo])[git_repo]
    assert again["buildId"] != status["buildId"]
    assert again["digest"] == status["digest"]


def test_poll_builds_a_pushed_commit_within_the_interval(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    git_repo: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    first = publish(cluster, tmp_path_factory.mktemp("first"), "uuidgen", git_repo)
    body = example_spec("uuidgen", cluster, git_repo, **{"source.git.poll": POLL})
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    status = settle(kubectl, namespace, [git_repo])[git_repo]
    assert status["phase"] == "Succeeded", status
    assert status["source"]["commit"] == first
    generation = status["observedGeneration"]

    second = publish(
        cluster,
        tmp_path_factory.mktemp("second"),
        "uuidgen",
        git_repo,
        edit='"goimage-operator", "the name=>"goimage-operator-2", "the name',
    )
    pushed = time.monotonic()
    wanted = f"{generation}-c{second[:10]}"
    seen = None
    while time.monotonic() - pushed < POLL_S + SLACK_S:
        current = get_json(kubectl, "gib", git_repo, "-n", namespace).get("status") or {}
        if current.get("buildId") == wanted:
            seen = current
            break
        time.sleep(1)
    assert seen is not None, f"no build of {second} within {POLL_S + SLACK_S}s of the push"
    # The same generation, in progress: kstatus Reconciling, observedGeneration unchanged.
    assert seen["observedGeneration"] == generation
    assert seen["source"]["commit"] == second

    done = settle(kubectl, namespace, [git_repo])[git_repo]
    assert_status_matches_registry(cluster, done)
    assert done["buildId"] == wanted
    assert done["source"]["commit"] == second
    assert labels(cluster, done["image"])[REVISION_LABEL] == second
    assert done["digest"] != status["digest"]
    # One build per commit: the first one's, and the pushed one's.
    commits = sorted(
        j["metadata"]["annotations"]["goimage.dev/commit"]
        for j in build_jobs(kubectl, namespace, git_repo)
    )
    assert commits == sorted([first, second])


@pytest.fixture
def private_repo(cluster: Cluster) -> Iterator[str]:
    name = f"e2e-private-{time.monotonic_ns() % 10**8}"
    try:
        yield name
    finally:
        shutil.rmtree(CLUSTER_DIR / "git" / "private" / f"{name}.git", ignore_errors=True)


def test_a_private_repository_records_its_commit(
    operator: str,
    cluster: Cluster,
    kubectl: Kubectl,
    namespace: str,
    private_repo: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = f"private/{private_repo}"
    commit = publish(cluster, tmp_path_factory.mktemp("private"), "uuidgen", path)
    user, password = private_credentials()
    kubectl(
        "create", "secret", "generic", "git-creds", "-n", namespace,
        f"--from-literal=username={user}", f"--from-literal=password={password}",
    )  # fmt: skip
    body = example_spec("uuidgen", cluster, path)
    body["spec"]["source"]["git"]["secretRef"] = {"name": "git-creds"}
    body["metadata"]["name"] = private_repo
    body["spec"]["output"]["image"] = f"{cluster.registry}/e2e/{private_repo}"
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))
    status = settle(kubectl, namespace, [private_repo])[private_repo]
    assert_status_matches_registry(cluster, status)
    assert status["source"]["commit"] == commit
    assert status["source"]["url"] == f"{cluster.git_server}/{path}.git"
    assert labels(cluster, status["image"])[REVISION_LABEL] == commit
    # The resolve Job answered and went.
    resolve = get_json(
        kubectl, "jobs", "-n", namespace, "-l", "app.kubernetes.io/component=resolve"
    )["items"]
    assert resolve == []
