"""kubectl for every tier: the binary `make tools` builds, against a given cluster."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
TIMEOUT_S = 120


class Kubectl(Protocol):
    """``kubectl(*args, input=None, check=True)``: output captured, text mode."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


def make_kubectl(env: Mapping[str, str]) -> Kubectl:
    """kubectl with `env` (KUBECONFIG); with ``check``, a non-zero exit fails the
    test with the command, its stdout and stderr."""
    binary = str(TOOLS_BIN / "kubectl")

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, *args],
            input=input,
            capture_output=True,
            text=True,
            env=dict(env),
            check=False,
            timeout=TIMEOUT_S,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {shlex.join(args)} exited {result.returncode}\n"
                f"--- stdout:\n{result.stdout}--- stderr:\n{result.stderr}"
            )
        return result

    return run
