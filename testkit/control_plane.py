"""The local control plane: ``cluster/control-plane.sh up|down|status STATE_DIR``.

etcd, kube-apiserver and kube-controller-manager (the real Job controller and
garbage collector; no scheduler, no kubelet) from the binaries ``make tools``
builds, on free loopback ports, everything under STATE_DIR. The integration
tier and ``make bench`` both start theirs here; the script is the one
interface, so what runs behind it may change without this module changing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testkit import commands
from testkit.env_file import read_env_file
from testkit.paths import CLUSTER_SCRIPTS, TOOLS_BIN, missing_tools

SCRIPT = CLUSTER_SCRIPTS / "control-plane.sh"
REQUIRED_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
# Generous: a cold start takes seconds, but CI machines have two busy cores.
TIMEOUT_S = 180


class ToolsMissing(RuntimeError):
    """A binary the control plane runs is not built yet."""


@dataclasses.dataclass(frozen=True)
class ControlPlane:
    """A running control plane, as ``control-plane.sh up`` left it."""

    state_dir: Path
    kubeconfig: Path
    apiserver: str
    """The apiserver's URL, ``https://127.0.0.1:PORT``."""
    env: dict[str, str]
    """The environment for subprocesses: ours, with KUBECONFIG (and APISERVER) set and
    .tools/bin first on PATH."""

    def pid(self, component: str) -> int:
        """The pid of `component` (``kube-controller-manager``, ...), from its pid file."""
        return int(self.pid_file(component).read_text())

    def pid_file(self, component: str) -> Path:
        """Where the script keeps `component`'s pid (``down`` stops what it names)."""
        return self.state_dir / "pids" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        """Where the script appends `component`'s output."""
        return self.state_dir / "logs" / f"{component}.log"


def script(command: str, state_dir: Path, *, check: bool = True) -> int:
    """``control-plane.sh COMMAND STATE_DIR``; its exit code (raises on failure with `check`)."""
    return commands.run(
        [str(SCRIPT), command, str(state_dir)], timeout=TIMEOUT_S, check=check
    ).returncode


def describe(state_dir: Path) -> ControlPlane:
    """The control plane running in `state_dir`, from the env file ``up`` wrote there."""
    written = read_env_file(state_dir / "env")
    env = {**os.environ, **written}
    env["PATH"] = f"{TOOLS_BIN}:{env.get('PATH', '')}"
    return ControlPlane(
        state_dir=state_dir,
        kubeconfig=Path(written["KUBECONFIG"]),
        apiserver=written["APISERVER"],
        env=env,
    )


def up(state_dir: Path) -> ControlPlane:
    """Started in `state_dir` (or found running there)."""
    missing = missing_tools(REQUIRED_TOOLS)
    if missing:
        raise ToolsMissing(
            f"tool binaries missing from {TOOLS_BIN}: {', '.join(missing)}; run `make tools`"
        )
    try:
        script("up", state_dir)
    except commands.CommandFailed as error:
        raise commands.CommandFailed(f"{error}\nlogs in {state_dir / 'logs'}") from None
    return describe(state_dir)


def down(state_dir: Path) -> None:
    """Every process of the control plane in `state_dir` stopped."""
    script("down", state_dir)


def is_up(state_dir: Path) -> bool:
    return script("status", state_dir, check=False) == 0


@contextmanager
def running(state_dir: Path, *, keep: bool = False) -> Iterator[ControlPlane]:
    """A control plane in `state_dir` for the `with` block; stopped after it unless `keep`."""
    plane = up(state_dir)
    try:
        yield plane
    finally:
        if not keep:
            down(state_dir)
