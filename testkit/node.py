"""The e2e tier's node: ``cluster/cluster.sh up|down|status``, what ``.cluster/env`` says
about it, its registry and git server, and this checkout's operator deployed on it.

A real single-node Kubernetes on this machine (kubelet, containerd, a local
registry, a git server and a GOPROXY); it needs root. The e2e tier and
``make bench-builds`` use it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from testkit import commands
from testkit.env_file import read_env_file
from testkit.paths import CLUSTER_SCRIPTS, REPO_ROOT, TOOLS_BIN

CLUSTER_DIR = Path(os.environ.get("GOIMAGE_CLUSTER_DIR", REPO_ROOT / ".cluster"))
SCRIPT = CLUSTER_SCRIPTS / "cluster.sh"
GIT_SERVE = CLUSTER_SCRIPTS / "git-serve.sh"
# A cold start builds images (and, on a new machine, the tool binaries).
UP_TIMEOUT_S = 3600
IMAGE_TIMEOUT_S = 1800
DEPLOY_TIMEOUT_S = 600
CRANE_TIMEOUT_S = 120
GIT_TIMEOUT_S = 60


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
        command = [str(TOOLS_BIN / "crane"), "--insecure", *args]
        return commands.run(command, timeout=CRANE_TIMEOUT_S).stdout.strip()

    def crane_ok(self, *args: str) -> bool:
        """crane as above, for cleanups: whether it succeeded."""
        command = [str(TOOLS_BIN / "crane"), "--insecure", *args]
        return commands.run(command, timeout=CRANE_TIMEOUT_S, check=False).returncode == 0

    def publish(self, source: Path, name: str) -> tuple[str, str]:
        """Commit the files of ``source`` to repository ``name``: its clone URL and the commit."""
        command = [str(GIT_SERVE), "publish", str(source), name]
        url, commit = commands.run(command, timeout=GIT_TIMEOUT_S).stdout.split()
        return url, commit


def daemon_pid(name: str) -> int:
    """The pid of the node's daemon `name` (containerd, registry, git-server, kubelet, etcd,
    kube-apiserver, ...) from the pid file the node keeps, checked against the command line
    it recorded beside it: a recycled pid is never taken for the daemon."""
    for pids in (CLUSTER_DIR / "pids", CLUSTER_DIR / "control-plane" / "pids"):
        pid_file = pids / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        recorded = (pids / f"{name}.cmd").read_bytes()
        try:
            running = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            running = b""
        if running != recorded:
            raise AssertionError(f"{name}: pid {pid} from {pid_file} is not the daemon it started")
        return pid
    raise AssertionError(f"the node keeps no pid file for {name} in {CLUSTER_DIR}")


def kill_daemon(name: str, timeout: float = 30) -> None:
    """SIGKILL the node's daemon `name` (found by its pid file) and wait until it is gone."""
    pid = daemon_pid(name)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
        except (FileNotFoundError, IndexError):
            return
        if state == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} (pid {pid}) still runs {timeout}s after SIGKILL")


def script(command: str, *, check: bool = True) -> int:
    """``cluster/cluster.sh COMMAND``; its exit code (raises on failure with `check`)."""
    return commands.run([str(SCRIPT), command], timeout=UP_TIMEOUT_S, check=check).returncode


def is_up() -> bool:
    return script("status", check=False) == 0


def describe() -> Cluster:
    """The node that is up, from the env file ``cluster.sh up`` wrote."""
    written = read_env_file(CLUSTER_DIR / "env")
    return Cluster(written, env={**os.environ, **written})


def up() -> Cluster:
    """The node, up and Ready (started if it was not)."""
    try:
        script("up")
    except commands.CommandFailed as error:
        raise commands.CommandFailed(f"{error}\nlogs in {CLUSTER_DIR / 'logs'}") from None
    return describe()


def down() -> None:
    """The node stopped; a failure is not raised (a teardown that must not hide the result)."""
    script("down", check=False)


def deploy_operator(cluster: Cluster) -> str:
    """`make image` then `make deploy`: this checkout's operator, built by Kaniko on the
    node and installed with the Helm chart; its image reference (repository@digest)."""
    built = commands.run(
        [str(CLUSTER_SCRIPTS / "operator-image.sh")], timeout=IMAGE_TIMEOUT_S, env=cluster.env
    )
    image = built.stdout.strip().splitlines()[-1]
    commands.run(
        [str(CLUSTER_SCRIPTS / "deploy.sh"), image], timeout=DEPLOY_TIMEOUT_S, env=cluster.env
    )
    return image
