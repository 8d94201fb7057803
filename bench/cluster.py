"""The control plane the benchmarks run on: ``cluster/control-plane.sh`` in a temp dir.

etcd, kube-apiserver and kube-controller-manager (the real Job controller and
garbage collector), on loopback only. No scheduler and no kubelet: the
benchmark writes the build pods' status as a kubelet would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.env_file import read_env_file

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CONTROL_PLANE = REPO_ROOT / "cluster" / "control-plane.sh"
CRD_DIR = REPO_ROOT / "manifests" / "crds"
CRD_NAME = "goimagebuilds.goimage.dev"
REQUIRED_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


@dataclasses.dataclass(frozen=True)
class ControlPlane:
    state_dir: Path
    kubeconfig: Path
    apiserver: str
    env: dict[str, str]
    """Our environment, with KUBECONFIG (and APISERVER) set and .tools/bin on PATH."""

    def pid(self, component: str) -> int:
        return int((self.state_dir / "pids" / f"{component}.pid").read_text())

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


def _script(command: str, state_dir: Path) -> None:
    result = subprocess.run(
        [str(CONTROL_PLANE), command, str(state_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"cluster/control-plane.sh {command} exited {result.returncode}:\n{result.stderr}"
        )


@contextmanager
def control_plane(state_dir: Path) -> Iterator[ControlPlane]:
    """A control plane started in `state_dir`, stopped on the way out."""
    missing = [name for name in REQUIRED_TOOLS if not os.access(TOOLS_BIN / name, os.X_OK)]
    if missing:
        raise RuntimeError(f"missing from {TOOLS_BIN}: {', '.join(missing)}; run `make tools`")
    started = time.monotonic()
    _script("up", state_dir)
    try:
        written = read_env_file(state_dir / "env")
        env = {**os.environ, **written}
        env["PATH"] = f"{TOOLS_BIN}:{env.get('PATH', '')}"
        plane = ControlPlane(
            state_dir=state_dir,
            kubeconfig=Path(written["KUBECONFIG"]),
            apiserver=written["APISERVER"],
            env=env,
        )
        print(f"control plane up in {time.monotonic() - started:.1f}s: {plane.apiserver}")
        yield plane
    finally:
        _script("down", state_dir)


# kube-controller-manager's client allows 20 requests/s by default; its Job
# controller then makes about 9 pods/s, so 1,000 Jobs wait two minutes for
# their pods and as long again to complete. That is the controller-manager's
# limit, not the operator's, and it would stretch every run and keep the API
# server busy long after it. The benchmark restarts it with these flags added.
CONTROLLER_MANAGER_QPS = ("--kube-api-qps=1000", "--kube-api-burst=1000")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def raise_controller_manager_qps(plane: ControlPlane) -> None:
    """Restart control-plane.sh's kube-controller-manager with CONTROLLER_MANAGER_QPS added.

    Same binary and flags otherwise; detached and logged as control-plane.sh
    does, its pid in the same pid file, so `control-plane.sh down` stops it.
    """
    name = "kube-controller-manager"
    pid = plane.pid(name)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    args = [arg.decode() for arg in argv[1:] if not arg.startswith(b"--kube-api-")]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    with (plane.state_dir / "logs" / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [str(TOOLS_BIN / name), *args, *CONTROLLER_MANAGER_QPS],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (plane.state_dir / "pids" / f"{name}.pid").write_text(f"{process.pid}\n")


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install_crd(plane: ControlPlane) -> None:
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    # Polled: `kubectl wait` fails outright while the new CRD has no conditions yet.
    deadline = time.monotonic() + 60
    while not _established(json.loads(plane.kubectl("get", f"crd/{CRD_NAME}", "-o", "json"))):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{CRD_NAME} not Established after 60s")
        time.sleep(0.2)
