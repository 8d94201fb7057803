"""The benchmark's change to the test kit's control plane: a faster Job controller.

The control plane itself (etcd, kube-apiserver, kube-controller-manager on
loopback, no scheduler and no kubelet) is testkit.control_plane's; the
benchmark writes the build pods' status as a kubelet would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from testkit.control_plane import ControlPlane
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
    with plane.log_file(name).open("ab") as log:
        process = subprocess.Popen(
            [str(TOOLS_BIN / name), *args, *CONTROLLER_MANAGER_QPS],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    plane.pid_file(name).write_text(f"{process.pid}\n")
