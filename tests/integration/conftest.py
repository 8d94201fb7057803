"""Fixtures for the integration tier: a real control plane and kubectl against it.

The control plane (testkit.control_plane: etcd, kube-apiserver and
kube-controller-manager, no scheduler, no kubelet) is started once per session.
Set ``GOIMAGE_CONTROL_PLANE_DIR`` to a state folder to reuse a control plane
across runs: it is started there if it is not running, and left running
afterwards.

Every test in this folder is marked ``integration``.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import control_plane as plane
from testkit import crds
from testkit.commands import CommandFailed
from testkit.control_plane import ControlPlane
from testkit.crds import CRD_NAME
from testkit.kubectl import Kubectl, make_kubectl
from testkit.operator_process import OperatorProcess, operator_env

# Names the tests of this folder import from here.
__all__ = ["CRD_NAME", "ControlPlane", "Kubectl"]

HERE = Path(__file__).resolve().parent
REUSE_ENV = "GOIMAGE_CONTROL_PLANE_DIR"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``integration`` (the hook sees all items)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager for the whole session."""
    reuse = os.environ.get(REUSE_ENV)
    state_dir = Path(reuse).resolve() if reuse else tmp_path_factory.mktemp("control-plane")
    try:
        running = plane.up(state_dir)
    except (plane.ToolsMissing, CommandFailed) as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield running
    finally:
        if not reuse:
            plane.down(state_dir)


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """``kubectl(*args, input=None, check=True)``: the built kubectl, output captured."""
    return make_kubectl(control_plane.env)


@pytest.fixture
def namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) after it.

    Yielded once its default ServiceAccount exists, so Pods can be created in
    it straight away.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug or 'test'}-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    try:
        kubectl(
            "wait",
            "--for=create",
            "--timeout=60s",
            "--namespace",
            name,
            "serviceaccount/default",
        )
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    """manifests/crds applied, and GoImageBuild served, for the rest of the session."""
    crds.install(kubectl)


@pytest.fixture(scope="module")
def operator(
    crd: None, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as its own process against the control plane, for one test module."""
    process = OperatorProcess(
        env=operator_env(control_plane.env),
        log_path=tmp_path_factory.mktemp("operator") / "operator.log",
    )
    process.start()
    yield process
    process.stop()
