"""The benchmark's change to the test kit's control plane: a faster Job controller.

The control plane itself (etcd, kube-apiserver, kube-controller-manager on
loopback, no scheduler and no kubelet) is testkit.control_plane's; the
benchmark writes the build pods' status as a kubelet would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from testkit.control_plane import ControlPlane
from testkit.operator_process import footprint
from testkit.paths import TOOLS_BIN

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


NAME = "kube-controller-manager"


def _stop(plane: ControlPlane) -> list[str]:
    """Stop the controller-manager; the arguments it ran with, but its client limits."""
    pid = plane.pid(NAME)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    args = [arg.decode() for arg in argv[1:] if not arg.startswith(b"--kube-api-")]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return args


def _start(plane: ControlPlane, args: list[str]) -> int:
    """The controller-manager with `args` and CONTROLLER_MANAGER_QPS: detached and logged
    as control-plane.sh does, its pid in the same pid file (so `down` stops it)."""
    with plane.log_file(NAME).open("ab") as log:
        process = subprocess.Popen(
            [str(TOOLS_BIN / NAME), *args, *CONTROLLER_MANAGER_QPS],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    plane.pid_file(NAME).write_text(f"{process.pid}\n")
    return process.pid


def raise_controller_manager_qps(plane: ControlPlane) -> None:
    """Restart control-plane.sh's kube-controller-manager with CONTROLLER_MANAGER_QPS added
    (same binary and flags otherwise)."""
    _start(plane, _stop(plane))


def _cpu_s(pid: int) -> float:
    return footprint(pid).cpu_s


@contextlib.contextmanager
def controller_manager_stopped(plane: ControlPlane, *, settle_s: float = 600) -> Iterator[None]:
    """No controller-manager while the caller writes what its controllers would (a Job
    controller would make a second pod for a Job it saw before its status); started
    again after, and waited for until its first lists are worked through (its CPU under
    2% of a core over two seconds), so that its catching up is not measured as the
    operator's."""
    args = _stop(plane)
    try:
        yield
    finally:
        pid = _start(plane, args)
        deadline = time.monotonic() + settle_s
        time.sleep(5)  # it lists and starts its informers
        while time.monotonic() < deadline:
            before = _cpu_s(pid)
            time.sleep(2)
            if _cpu_s(pid) - before < 0.04:
                break
