"""Fixtures for the integration tier: a real control plane and kubectl against it.

The control plane is etcd, kube-apiserver and kube-controller-manager (the real
Job controller and garbage collector; no scheduler, no kubelet), started once
per session by ``cluster/control-plane.sh`` from the binaries ``make tools``
builds into ``.tools/bin``. Set ``GOIMAGE_CONTROL_PLANE_DIR`` to a state folder
to reuse a control plane across runs: it is started there if it is not
running, and left running afterwards.

Every test in this folder is marked ``integration``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.env_file import read_env_file
from tests.kubectl import Kubectl, make_kubectl

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CONTROL_PLANE_SCRIPT = REPO_ROOT / "cluster" / "control-plane.sh"
REQUIRED_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
REUSE_ENV = "GOIMAGE_CONTROL_PLANE_DIR"

# Generous: a cold start takes seconds, but CI machines have two busy cores.
CONTROL_PLANE_TIMEOUT_S = 180


@dataclasses.dataclass(frozen=True)
class ControlPlane:
    """A running control plane, as ``cluster/control-plane.sh up`` left it."""

    state_dir: Path
    kubeconfig: Path
    apiserver: str
    """The apiserver's URL, ``https://127.0.0.1:PORT``."""
    env: dict[str, str]
    """The environment for subprocesses: ours, with KUBECONFIG (and APISERVER) set."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``integration`` (the hook sees all items)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _control_plane_script(command: str, state_dir: Path) -> None:
    try:
        result = subprocess.run(
            [str(CONTROL_PLANE_SCRIPT), command, str(state_dir)],
            capture_output=True,
            text=True,
            check=False,
            timeout=CONTROL_PLANE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"cluster/control-plane.sh {command} took over {CONTROL_PLANE_TIMEOUT_S}s;"
            f" logs in {state_dir / 'logs'}\n{error.stderr!r}",
            pytrace=False,
        )
    if result.returncode != 0:
        pytest.fail(
            f"cluster/control-plane.sh {command} {state_dir} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager for the whole session."""
    missing = [name for name in REQUIRED_TOOLS if not os.access(TOOLS_BIN / name, os.X_OK)]
    if missing:
        pytest.fail(
            f"tool binaries missing from {TOOLS_BIN}: {', '.join(missing)}; run `make tools`",
            pytrace=False,
        )
    reuse = os.environ.get(REUSE_ENV)
    state_dir = Path(reuse).resolve() if reuse else tmp_path_factory.mktemp("control-plane")
    _control_plane_script("up", state_dir)
    try:
        written = read_env_file(state_dir / "env")
        yield ControlPlane(
            state_dir=state_dir,
            kubeconfig=Path(written["KUBECONFIG"]),
            apiserver=written["APISERVER"],
            env={**os.environ, **written},
        )
    finally:
        if not reuse:
            _control_plane_script("down", state_dir)


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


CRD_DIR = REPO_ROOT / "manifests" / "crds"
CRD_NAME = "goimagebuilds.goimage.dev"


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> None:
    """manifests/crds applied, and GoImageBuild served, for the rest of the session.

    The API server compiles every CEL rule and checks its estimated cost here:
    a rule over the cost limit makes this apply fail, naming the rule's path.
    """
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
