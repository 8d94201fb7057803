"""Fixtures for the e2e tier: the whole local node, with real pods and real Kaniko builds.

The session starts with ``cluster/cluster.sh up`` (what ``make cluster`` runs): a
real single-node Kubernetes on this machine, with containerd, a local registry,
a git server and a GOPROXY, and every image built locally. It takes seconds when
the node is up already (about 10 s after ``make cluster-down``), and 4 to 9
minutes the first time on a machine (images; the Kaniko executor's compile is
most of it), more if the tool binaries are not built yet. It needs root;
without it every test here is skipped. The node is left running afterwards
when it was up before the session (or with ``GOIMAGE_E2E_KEEP=1``); otherwise
``cluster.sh down`` stops it at the end.

Every test in this folder is marked ``e2e``; ``pytest -m "not e2e"`` leaves them out.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import node
from testkit.commands import CommandFailed
from testkit.kubectl import Kubectl, make_kubectl
from testkit.node import CLUSTER_DIR, Cluster, deploy_operator

HERE = Path(__file__).resolve().parent
KEEP_ENV = "GOIMAGE_E2E_KEEP"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``e2e`` (the hook sees all items)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The node, up and Ready, with what ``.cluster/env`` says about it."""
    if os.geteuid() != 0:
        pytest.skip("the e2e node needs root (it mounts, makes a bridge and iptables rules)")
    was_up = node.is_up()
    try:
        cluster = node.up()
    except CommandFailed as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield cluster
    finally:
        if not was_up and os.environ.get(KEEP_ENV) != "1":
            node.down()


@pytest.fixture(scope="session")
def operator(cluster: Cluster) -> str:
    """`make image` and `make deploy`: this checkout's operator image, built by Kaniko on the
    node and installed with the Helm chart (skipped when its inputs are unchanged)."""
    return deploy_operator(cluster)


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> Kubectl:
    """``kubectl(*args, input=None, check=True)``: the built kubectl against the node."""
    return make_kubectl(cluster.env)


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (pods and all) after it."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug or 'e2e'}-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    try:
        kubectl("wait", "--for=create", "--timeout=60s", "-n", name, "serviceaccount/default")
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def git_repo(cluster: Cluster) -> Iterator[str]:
    """A fresh repository name on the node's git server; the repository is removed after."""
    name = f"e2e-{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        shutil.rmtree(CLUSTER_DIR / "git" / f"{name}.git", ignore_errors=True)
