"""kubectl for every tier and the benchmarks: the binary `make tools` builds, against a given
cluster."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from typing import Protocol

from testkit import commands
from testkit.paths import TOOLS_BIN

TIMEOUT_S = 120


class Kubectl(Protocol):
    """``kubectl(*args, input=None, check=True)``: output captured, text mode."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def make_kubectl(env: Mapping[str, str]) -> Kubectl:
    """kubectl with `env` (KUBECONFIG); with ``check``, a non-zero exit raises
    commands.CommandFailed with the command, its stdout and stderr."""
    binary = str(TOOLS_BIN / "kubectl")
    environment = dict(env)

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return commands.run(
            [binary, *args], env=environment, input=input, check=check, timeout=TIMEOUT_S
        )

    return run
